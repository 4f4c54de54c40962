"""``fleet render APP --cluster NAME``: the objects a sync would apply, in its order.

Fetches the app's source (into a cache directory unless a state directory is chosen),
renders the app for the cluster at the source's ref or at ``--revision``, and prints
the objects as YAML documents (each preceded by a comment naming the file it came
from), sorted as a sync applies them. ``--json`` prints a JSON list instead. Secret
values (SOPS ones decrypted with the app's keys too) are shown as digests, as ``fleet
diff`` shows them, unless ``--show-secrets``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from fleet.config import App, Cluster, FleetConfig
    from fleet.runtime.desired import DesiredState


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from fleet.cli.validate import add_config_arguments

    parser = subparsers.add_parser(
        "render",
        help="print the objects an app renders to for one cluster, in sync order",
        description="Fetch the app's source, render the app for one cluster and print "
        "the objects in the order a sync applies them.",
    )
    parser.add_argument("app", metavar="APP", help="the app to render")
    parser.add_argument("--cluster", required=True, metavar="NAME", help="the cluster")
    parser.add_argument(
        "--revision",
        metavar="REV",
        help="a branch, tag or commit of the source (default: the source's ref)",
    )
    add_config_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON list of objects")
    parser.add_argument(
        "--show-secrets",
        action="store_true",
        help="print Secret values in plain text (by default each value is shown as a digest)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from fleet.cli.validate import cli_settings, config_path
    from fleet.config import ConfigError, load_fleet_config

    err = sys.stderr
    settings = cli_settings(args, err)
    if settings is None:
        return 1
    path = config_path(args, settings)
    if path is None:
        print("fleet render: give --config FILE (or set config in the settings)", file=err)
        return 2
    try:
        # Credentials for clusters do not matter to a render; Git reports its own.
        config = load_fleet_config(path, files=False)
    except ConfigError as exc:
        for issue in exc.errors:
            print(str(issue), file=err)
        return 1
    if config.generators and args.app not in {a.name for a in config.apps}:
        # A generated app is named like a written one: expand as the daemon would.
        from fleet.cli.expand import expand_config

        expansion = expand_config(config, args, settings)
        for line in expansion.problems:
            print(line, file=err)
        config = expansion.config
    chosen = _choose(config, args.app, args.cluster, err)
    if chosen is None:
        return 1
    app, cluster = chosen
    state = _render(config, app, cluster, args, settings, err)
    if state is None:
        return 1
    from fleet.engine.annotations import AnnotationError
    from fleet.engine.ordering import apply_order

    try:
        ordered = apply_order(state.manifests)
    except AnnotationError as exc:
        print(f"fleet render: {exc}", file=err)
        return 1
    print(
        f"# app {app.name}, cluster {cluster.name}: {len(ordered)} objects from {state.path} "
        f"at {state.revision.short_sha} ({state.source}, {state.renderer})",
        file=err,
    )
    if not args.show_secrets:
        ordered = [_masked(m) for m in ordered]
    if args.json:
        json.dump([_plain(m.body) for m in ordered], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_yaml(ordered, sys.stdout)
    return 0


def _choose(
    config: FleetConfig, app_name: str, cluster_name: str, err: TextIO
) -> tuple[App, Cluster] | None:
    from fleet.config.suggest import did_you_mean

    try:
        app = config.app(app_name)
    except KeyError:
        names = [a.name for a in config.apps]
        print(f"fleet render: no app named '{app_name}'{did_you_mean(app_name, names)}", file=err)
        return None
    try:
        cluster = config.cluster(cluster_name)
    except KeyError:
        names = [c.name for c in config.clusters]
        hint = did_you_mean(cluster_name, names)
        print(f"fleet render: no cluster named '{cluster_name}'{hint}", file=err)
        return None
    targets = config.targets(app)
    if cluster not in targets:
        listed = ", ".join(c.name for c in targets) or "none"
        print(
            f"fleet render: app {app.name} does not target cluster {cluster.name} "
            f"(it targets: {listed})",
            file=err,
        )
        return None
    return app, cluster


def _render(
    config: FleetConfig,
    app: App,
    cluster: Cluster,
    args: argparse.Namespace,
    settings: Any,
    err: TextIO,
) -> DesiredState | None:
    import anyio

    from fleet.adapters.git import GitError
    from fleet.cli.validate import state_dir
    from fleet.runtime.desired import DesiredStateBuilder, DesiredStateError, git_timeouts
    from fleet.runtime.rendering import renderer_for

    async def render() -> DesiredState:
        async with DesiredStateBuilder(
            config,
            state_dir(args, settings),
            renderer=renderer_for(settings),
            timeouts=git_timeouts(settings),
        ) as builder:
            source = config.source_of(app)
            revision = await builder.fetch(source)
            if args.revision:
                revision = await builder.resolve(source, args.revision)
            return await builder.render(app, cluster, revision)

    try:
        return anyio.run(render)
    except GitError as exc:
        print(f"fleet render: {exc}", file=err)
    except DesiredStateError as exc:
        print(f"fleet render: {exc}", file=err)
    return None


def _masked(manifest: Any) -> Any:
    """The manifest with each Secret value replaced by its digest (as ``fleet diff`` shows)."""
    import dataclasses

    from fleet.engine.diff.normalize import is_secret, mask_secret

    if not is_secret(manifest.body):
        return manifest
    body = _plain(manifest.body)
    mask_secret(body)
    return dataclasses.replace(manifest, body=body)


def _plain(value: Any) -> Any:
    """Mappings and sequences as dicts and lists, for YAML and JSON dumpers."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    return value


def _print_yaml(manifests: Sequence[Any], out: TextIO) -> None:
    import yaml

    for manifest in manifests:
        out.write("---\n")
        out.write(f"# Source: {manifest.origin}\n")
        out.write(yaml.safe_dump(_plain(manifest.body), sort_keys=False, default_flow_style=False))
