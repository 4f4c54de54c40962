"""``fleet cluster suspend|resume C``: a whole cluster, for maintenance.

While a cluster is suspended no app syncs there automatically and nothing is healed;
drift is still shown, and a manual ``fleet sync`` there needs ``--force``. Kept in the
daemon's database across restarts.
"""

from __future__ import annotations

import argparse

from fleet.cli.suspension import add_common_arguments, cluster_path, request


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cluster",
        help="suspend or resume a whole cluster (maintenance)",
        description="Suspend or resume every app on one cluster.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    suspend = actions.add_parser(
        "suspend",
        help="no automated syncs or self-heal on the cluster until resumed",
        description="Suspend CLUSTER: no app syncs there automatically and nothing is "
        "healed (drift is still shown); manual syncs need --force. Survives restarts.",
    )
    suspend.add_argument("cluster", metavar="CLUSTER", help="the cluster to suspend")
    add_common_arguments(suspend, reason=True)
    suspend.set_defaults(handler=run_suspend)
    resume = actions.add_parser(
        "resume",
        help="let the cluster's apps sync automatically again",
        description="Resume CLUSTER: its apps sync automatically again (apps suspended "
        "on their own stay suspended).",
    )
    resume.add_argument("cluster", metavar="CLUSTER", help="the cluster to resume")
    add_common_arguments(resume, reason=False)
    resume.set_defaults(handler=run_resume)


def run_suspend(args: argparse.Namespace) -> int:
    body = {"reason": args.reason} if args.reason else {}
    return request(args, cluster_path(args.cluster, "suspend"), body)


def run_resume(args: argparse.Namespace) -> int:
    return request(args, cluster_path(args.cluster, "resume"), {})
