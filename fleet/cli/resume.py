"""``fleet resume APP [--cluster C]``: automated syncs and self-heal again.

Without ``--cluster`` it lifts every suspension of the app (everywhere and per cluster).
A cluster suspended as a whole stays suspended (``fleet cluster resume C``); the output
says which app x cluster pairs are still suspended, and by what.
"""

from __future__ import annotations

import argparse

from fleet.cli.suspension import add_app_command


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_app_command(
        subparsers,
        "resume",
        help="let a suspended app sync automatically again",
        description="Resume APP (every suspension of it, or only the one on --cluster); "
        "the next automated sync or self-heal runs at once.",
        reason=False,
    )
