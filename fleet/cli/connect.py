"""How the daemon-facing commands find the daemon, and the exit codes they share.

They read the same settings as ``fleet run`` (``--settings FILE``, ``$FLEET_SETTINGS``,
``FLEET_API_ADDRESS``, ``FLEET_API_TOKEN_FILE``), so a command run on the daemon's host
needs no flags at all; ``--address`` points elsewhere. Every failure becomes one line
on stderr that says what to do, and an exit code scripts can branch on:

==  =========================================================================
0   done: the answer is good (no differences, every sync succeeded)
1   done, and the answer is bad (differences found, a sync failed)
2   could not do it: bad usage or input, or the daemon refused the request
3   the daemon could not be reached at its address
4   gave up waiting (``fleet sync --timeout``): the syncs are still running
==  =========================================================================
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleet.adapters.http.address import ApiAddress
    from fleet.adapters.http.client import DaemonClient, DaemonError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2
EXIT_UNREACHABLE = 3
EXIT_TIMEOUT = 4

#: The largest page the daemon's history and event queries accept.
MAX_LIMIT = 10_000


class CommandError(Exception):
    """A failure to report on stderr as ``fleet COMMAND: message``, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def add_daemon_arguments(parser: argparse.ArgumentParser) -> None:
    """``--settings`` and ``--address``: where the daemon is, as ``fleet run`` sees it."""
    parser.add_argument(
        "--settings",
        type=Path,
        metavar="FILE",
        help="daemon settings file (default: $FLEET_SETTINGS; FLEET_* variables apply)",
    )
    parser.add_argument(
        "--address",
        metavar="ADDR",
        help="the daemon's API address, HOST:PORT or unix:PATH (default: the settings' "
        "api_address, or FLEET_API_ADDRESS)",
    )


def limit_argument(text: str) -> int:
    """An argparse type: a page size the daemon accepts."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_LIMIT}, got {value}")
    return value


def positive_id(text: str) -> int:
    """An argparse type: a history or event id."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id (a whole number)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"ids are not negative, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class DaemonTarget:
    address: ApiAddress
    token_file: Path | None


def daemon_target(args: argparse.Namespace) -> DaemonTarget:
    """The daemon's address and token file, from the flags and the settings."""
    from fleet.adapters.http.address import ApiAddress
    from fleet.cli.daemonsettings import QuickSettings, read_quickly

    settings: QuickSettings | None = read_quickly(getattr(args, "settings", None))
    if settings is None:
        # Something is off: the full loader says exactly what (file, line, setting).
        from fleet.config import ConfigError, load_settings

        try:
            full = load_settings(getattr(args, "settings", None))
        except ConfigError as error:
            issues = "\n  ".join(str(issue) for issue in error.errors)
            raise CommandError(f"cannot load the settings:\n  {issues}") from None
        settings = QuickSettings(full.api_address, full.api_token_file)
    text = getattr(args, "address", None) or settings.api_address
    try:
        address = ApiAddress.parse(text)
    except ValueError as error:
        raise CommandError(str(error)) from None
    return DaemonTarget(address, settings.api_token_file)


Command = Callable[["DaemonClient", argparse.Namespace], Awaitable[int]]


def run_against_daemon(
    args: argparse.Namespace, command: Command, *, timeout: float = 30.0, loop: bool = True
) -> int:
    """Run ``command`` with a client connected to the daemon; map failures to exit codes.

    ``loop=False`` is the fast path for a command that only makes requests (no sleeping,
    no task groups): its coroutine is run to its end without an event loop, so neither
    asyncio nor anyio is imported (about 0.1 s of a 0.15 s ``fleet status``). A command
    that waits or polls keeps the default, an asyncio loop.
    """
    from fleet.adapters.http.client import DaemonClient, DaemonError, DaemonUnavailable

    name = f"fleet {args.command}"
    target: DaemonTarget | None = None
    try:
        target = daemon_target(args)
        resolved = target

        async def session() -> int:
            async with DaemonClient(resolved.address, resolved.token_file, timeout) as client:
                return await command(client, args)

        if not loop:
            return run_without_loop(session())
        import asyncio

        # Not asyncio.run: its SIGINT handler cancels the task at the loop's next turn,
        # which a request blocked on its socket never gives; Ctrl-C must interrupt it.
        event_loop = asyncio.new_event_loop()
        try:
            return event_loop.run_until_complete(session())
        finally:
            event_loop.close()
    except CommandError as error:
        return report(args, error)
    except DaemonUnavailable as error:
        _say(
            name,
            f"{error}\n  is the daemon running there? (`fleet run`; point elsewhere with "
            "--address, FLEET_API_ADDRESS or the settings' api_address)",
        )
        return EXIT_UNREACHABLE
    except DaemonError as error:
        _say(name, explain(error, target.token_file if target else None))
        return EXIT_ERROR


def run_without_loop(coroutine: Coroutine[Any, Any, int]) -> int:
    """Run a coroutine that never suspends (its awaits all finish at once) to its end."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: int = done.value
        return result
    coroutine.close()
    raise RuntimeError(
        "a command run with loop=False waited on something: run it with an event loop"
    )


def explain(error: DaemonError, token_file: Path | None) -> str:
    """The daemon's refusal, with a hint when the fix is on this side."""
    if error.status == 0:
        return error.message
    message = f"the daemon refused the request ({error.status}): {error.message}"
    if error.status == 401:
        if token_file is None:
            message += (
                "\n  no API token file is set here: set api_token_file in the settings "
                "or FLEET_API_TOKEN_FILE to the daemon's token file"
            )
        else:
            message += f"\n  the token in {token_file} is not the daemon's"
    elif error.status == 403 and token_file is not None and "token " in error.message:
        message += (
            f"\n  the token in {token_file} may not do this: point FLEET_API_TOKEN_FILE at "
            "a token with the scope and apps it needs (docs/security.md)"
        )
    return message


def report(args: argparse.Namespace, error: CommandError) -> int:
    """Print ``error`` as ``fleet COMMAND: message`` on stderr; return its exit code."""
    _say(f"fleet {args.command}", error.message)
    return error.code


def _say(name: str, message: str) -> None:
    print(f"{name}: {message}", file=sys.stderr)
