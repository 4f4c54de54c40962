"""``fleet cluster suspend|resume C``: a whole cluster, for maintenance.

While a cluster is suspended no app syncs there automatically and nothing is healed;
drift is still shown, and a manual ``fleet sync`` there needs ``--force``. Kept in the
daemon's database across restarts.
"""

from __future__ import annotations

import argparse

from fleet.cli.suspension import add_cluster_command


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cluster",
        help="suspend or resume a whole cluster (maintenance)",
        description="Suspend or resume every app on one cluster.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_cluster_command(
        actions,
        "suspend",
        help="no automated syncs or self-heal on the cluster until resumed",
        description="Suspend CLUSTER: no app syncs there automatically and nothing is "
        "healed (drift is still shown); manual syncs need --force. Survives restarts.",
        reason=True,
    )
    add_cluster_command(
        actions,
        "resume",
        help="let the cluster's apps sync automatically again",
        description="Resume CLUSTER: its apps sync automatically again (apps suspended "
        "on their own stay suspended).",
        reason=False,
    )
