"""``fleet suspend APP [--cluster C]``: no automated sync and no self-heal until resumed.

Drift is still detected and shown; a manual ``fleet sync`` is refused unless ``--force``.
The suspension is kept in the daemon's database, so it survives a restart. A whole
cluster (maintenance) is ``fleet cluster suspend C``.
"""

from __future__ import annotations

import argparse

from fleet.cli.suspension import add_app_command


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_app_command(
        subparsers,
        "suspend",
        help="stop automated syncs and self-heal of an app (everywhere or on one cluster)",
        description="Suspend APP: no automated sync and no self-heal (drift is still "
        "shown) until `fleet resume APP`; a manual sync needs --force. Survives restarts.",
        reason=True,
    )
