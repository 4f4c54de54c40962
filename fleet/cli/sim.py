"""``fleet sim up``: simulated clusters in the foreground, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    sim = subparsers.add_parser(
        "sim", help="simulated Kubernetes clusters (API servers on 127.0.0.1)"
    )
    actions = sim.add_subparsers(dest="sim_command", metavar="ACTION")
    up = actions.add_parser(
        "up",
        help="start simulated clusters and serve them until interrupted",
        description="Start N simulated API servers over HTTPS on 127.0.0.1 and write "
        "DIR/kubeconfig (one context per cluster) and DIR/<name>.kubeconfig. "
        "Runs until SIGINT or SIGTERM.",
    )
    up.add_argument(
        "--clusters",
        type=int,
        default=None,
        metavar="N",
        help="number of clusters (default 3, or the number of --names)",
    )
    up.add_argument(
        "--dir",
        type=Path,
        required=True,
        metavar="DIR",
        help="where to write kubeconfigs and certs",
    )
    up.add_argument(
        "--names", default="", help="comma-separated cluster names (default sim-1..sim-N)"
    )
    up.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE",
        help="label a cluster (repeatable), e.g. --label sim-1:region=eu",
    )
    up.add_argument(
        "--latency", type=float, default=0.0, metavar="S", help="added latency per request"
    )
    up.add_argument(
        "--ready-delay",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds before simulated pods become Ready (default 1)",
    )
    up.add_argument(
        "--no-controllers", action="store_true", help="do not run the status controllers"
    )
    up.set_defaults(handler=run_up)
    sim.set_defaults(handler=lambda args: _help(sim))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def parse_labels(values: list[str], names: list[str]) -> dict[str, dict[str, str]]:
    """``["sim-1:region=eu"]`` -> ``{"sim-1": {"region": "eu"}}``; bad input is ValueError."""
    labels: dict[str, dict[str, str]] = {}
    for value in values:
        cluster, colon, pair = value.partition(":")
        key, equals, label_value = pair.partition("=")
        if not colon or not equals or not cluster or not key:
            raise ValueError(f"--label {value!r}: expected NAME:KEY=VALUE")
        if cluster not in names:
            raise ValueError(
                f"--label {value!r}: no cluster named {cluster!r} (clusters: {', '.join(names)})"
            )
        labels.setdefault(cluster, {})[key] = label_value
    return labels


def run_up(args: argparse.Namespace) -> int:
    from fleet.sim.fleet import default_names

    given = [n.strip() for n in args.names.split(",") if n.strip()]
    try:
        count = args.clusters if args.clusters is not None else (len(given) or 3)
        if count < 1:
            raise ValueError("--clusters must be at least 1")
        if given and len(given) != count:
            raise ValueError(f"--names gives {len(given)} names but --clusters is {count}")
        names = given or default_names(count)
        labels = parse_labels(args.label, names)
    except ValueError as error:
        print(f"fleet sim up: {error}", file=sys.stderr)
        return 2
    import asyncio

    from fleet.adapters.tlsbuffers import lean_tls_buffers
    from fleet.sim.runner import serve_until_signalled

    # Hundreds of watch connections: keep each TLS read buffer small.
    lean_tls_buffers()

    return asyncio.run(
        serve_until_signalled(
            directory=args.dir,
            names=names,
            labels=labels,
            latency=args.latency,
            ready_delay=args.ready_delay,
            controllers=not args.no_controllers,
        )
    )
