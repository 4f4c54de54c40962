"""``fleet run``: the daemon."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the daemon: keep every cluster matching Git",
        description="Run the fleet daemon in the foreground (systemd runs it as a service).",
    )
    parser.add_argument("--config", type=Path, help="the fleet config (default: settings' config)")
    parser.add_argument("--settings", type=Path, help="daemon settings file (YAML)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import anyio

    from fleet.adapters.eventloop import daemon_loop_options
    from fleet.adapters.heap import (
        collect_young_less_often,
        freeze_startup_objects,
        map_large_blocks_apart,
    )
    from fleet.adapters.telemetry.logs import configure_logging
    from fleet.adapters.tlsbuffers import lean_tls_buffers
    from fleet.config import ConfigError, load_settings
    from fleet.runtime.daemon import Daemon
    from fleet.runtime.leadership import DEPOSED_EXIT_CODE, Deposed, HaError

    try:
        settings = load_settings(args.settings)
    except ConfigError as error:
        for issue in error.errors:
            print(issue, file=sys.stderr)
        return 1
    config = args.config or settings.config
    if config is not None and settings.config_source is not None:
        print(
            "fleet run: --config names a local file but the settings name config_source: "
            "give one of them",
            file=sys.stderr,
        )
        return 2
    if config is None and settings.config_source is None:
        print(
            "fleet run: no fleet config: give --config FILE, or set config or config_source "
            "in the settings",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level, settings.log_format)
    # aiohttp honours proxy variables; the API servers fleet talks to are never proxied
    # through them unless the user says so for that host.
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost,::1")
    # One watch and a small connection pool per cluster: keep each TLS buffer small.
    lean_tls_buffers()
    map_large_blocks_apart()  # uvloop's: only the pages a connection reads into stay
    daemon = Daemon(settings, config)
    freeze_startup_objects()  # imports live as long as the process: no GC walks them
    collect_young_less_often()  # a sync's decoded answers: fewer collections for them
    try:
        anyio.run(daemon.run, backend="asyncio", backend_options=daemon_loop_options())
    except ConfigError as error:
        for issue in error.errors:
            print(issue, file=sys.stderr)
        return 1
    except Deposed as error:  # another instance leads now: start again, as a standby
        print(f"fleet run: {error}", file=sys.stderr)
        return DEPOSED_EXIT_CODE
    except HaError as error:
        print(f"fleet run: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
