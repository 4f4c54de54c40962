"""``fleet validate``: check a fleet config, and with ``--render`` everything it deploys.

Without ``--render`` nothing touches the network: the config's schema, its cross
references and the files it names. With ``--render`` every source is fetched (into a
cache directory, not the daemon's state, unless one is given) and every app rendered for
every cluster it targets, and every failure is printed with its app, cluster and file.
The exit code is 0 only when nothing is wrong (warnings do not count).

Helpers shared with ``fleet render`` (settings, state directory) live here too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from fleet.cli.expand import Expansion
    from fleet.config import ConfigIssue, FleetConfig, Settings
    from fleet.config.issues import Severity
    from fleet.runtime.desired import DesiredStates


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a fleet config (and, with --render, render every app)",
        description="Check a fleet config: schema, references and the files it names. "
        "With --render, also fetch every source and render every app for every cluster "
        "it targets. Exit code 0 only when everything is valid.",
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--render",
        action="store_true",
        help="also fetch every source and render every app for every targeted cluster",
    )
    parser.add_argument(
        "--expand",
        action="store_true",
        help="also fetch the sources of app generators and show the apps they make "
        "(--render expands them too)",
    )
    parser.add_argument(
        "--allow-missing-files",
        action="store_true",
        help="report referenced files that do not exist as warnings, not errors "
        "(for a machine that holds none of the credentials)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=run)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--settings`` and ``--state-dir``, as validate and render take them."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the fleet config (default: the settings' config)",
    )
    parser.add_argument(
        "--settings",
        type=Path,
        metavar="FILE",
        help="daemon settings file (default: $FLEET_SETTINGS; FLEET_* variables apply)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where Git mirrors are kept (default: the settings' state_dir if set, "
        "else $XDG_CACHE_HOME/fleet)",
    )


def cli_settings(args: argparse.Namespace, out: TextIO) -> Settings | None:
    """The settings, or None after printing why they are invalid."""
    from fleet.config import ConfigError, load_settings

    try:
        return load_settings(args.settings)
    except ConfigError as exc:
        for issue in exc.errors:
            print(str(issue), file=out)
        return None


def config_path(args: argparse.Namespace, settings: Settings) -> Path | None:
    path: Path | None = args.config or settings.config
    return path


def state_dir(args: argparse.Namespace, settings: Settings) -> Path:
    """A command's mirrors go to a cache directory unless a state directory was chosen.

    Sharing the daemon's state directory by accident would have two processes fetch into
    one mirror; an explicit ``--state-dir``, ``FLEET_STATE_DIR`` or ``state_dir`` opts in.
    """
    if args.state_dir is not None:
        chosen: Path = args.state_dir
        return chosen
    if "state_dir" in settings.model_fields_set:
        return settings.state_dir
    cache = os.environ.get("XDG_CACHE_HOME")
    return (Path(cache) if cache else Path.home() / ".cache") / "fleet"


def run(args: argparse.Namespace) -> int:
    from fleet.config import check_fleet_config

    out = sys.stdout
    settings = cli_settings(args, out)
    if settings is None:
        return 1
    path = config_path(args, settings)
    if path is None:
        print("fleet validate: give --config FILE (or set config in the settings)", file=out)
        return 2
    missing: Severity = "warning" if args.allow_missing_files else "error"
    config, issues = check_fleet_config(path, missing_files=missing, warn_unbounded=True)
    if config is not None:
        issues = _with_lua_issues(path, config, issues)
    valid = config is not None and not any(i.severity == "error" for i in issues)
    rendered: DesiredStates | None = None
    expansion: Expansion | None = None
    if valid and config is not None and config.generators and (args.expand or args.render):
        from fleet.cli.expand import expand_config

        expansion = expand_config(config, args, settings)
        config, valid = expansion.config, not expansion.failed
    if valid and args.render:
        assert config is not None
        rendered = _render_everything(config, args, settings)
        valid = not rendered.failures and not rendered.source_errors
        lua_issues = _git_lua_issues(path, config, args, settings)
        issues, valid = [*issues, *lua_issues], valid and not lua_issues
    if args.json:
        result = _as_json(path, valid, issues, rendered)
        if expansion is not None:
            from fleet.cli.expand import expansion_json

            result.update(expansion_json(expansion))
        json.dump(result, out, indent=2)
        out.write("\n")
    else:
        if expansion is not None:
            from fleet.cli.expand import print_expansion

            print_expansion(expansion, out)
        if expansion is not None and expansion.failed:
            for issue in issues:
                print(str(issue), file=out)
            problems = _count(len(expansion.problems), "generator problem")
            print(f"{path}: invalid: {problems}", file=out)
        else:
            _print_human(path, config, issues, rendered, out)
    return 0 if valid else 1


def _with_lua_issues(
    path: Path, config: FleetConfig, issues: list[ConfigIssue]
) -> list[ConfigIssue]:
    """``issues`` and the Lua health checks that do not compile (file and field named)."""
    from fleet.adapters.health.validation import check_lua
    from fleet.config.issues import sort_issues
    from fleet.config.loader import document_of

    findings = check_lua(config.health, str(path))
    if not findings:
        return issues
    document = document_of(path)
    found = [document.issue(f.path, f.message, severity=f.severity) for f in findings]
    return sort_issues([*issues, *found])


def _git_lua_issues(
    path: Path, config: FleetConfig, args: argparse.Namespace, settings: Settings
) -> list[ConfigIssue]:
    """With ``--render``: the Lua checks in Git sources that cannot be read or compiled."""
    if not any(d.source for d in config.health.lua_directories):
        return []
    import anyio

    from fleet.config.loader import document_of
    from fleet.runtime.desired import DesiredStateBuilder, git_timeouts
    from fleet.runtime.health_checks import HealthCheckBoard, read_source_checks

    board = HealthCheckBoard()
    board.configure(config)

    async def read() -> list[str]:
        timeouts = git_timeouts(settings)
        async with DesiredStateBuilder(
            config, state_dir(args, settings), timeouts=timeouts
        ) as builder:
            return await read_source_checks(board, builder)

    problems = anyio.run(read)
    document = document_of(path)
    return [document.issue(("health", "luaDirectories"), problem) for problem in problems]


def _render_everything(
    config: FleetConfig, args: argparse.Namespace, settings: Settings
) -> DesiredStates:
    import anyio

    from fleet.runtime.desired import DesiredStateBuilder, git_timeouts
    from fleet.runtime.rendering import renderer_for

    async def render() -> DesiredStates:
        async with DesiredStateBuilder(
            config,
            state_dir(args, settings),
            renderer=renderer_for(settings),
            timeouts=git_timeouts(settings),
        ) as builder:
            return await builder.render_all()

    return anyio.run(render)


def _print_human(
    path: Path,
    config: FleetConfig | None,
    issues: list[ConfigIssue],
    rendered: DesiredStates | None,
    out: TextIO,
) -> None:
    for issue in issues:
        print(str(issue), file=out)
    errors = sum(i.severity == "error" for i in issues)
    warnings = len(issues) - errors
    if errors or config is None:
        print(
            f"{path}: invalid: {_count(errors, 'error')}, {_count(warnings, 'warning')}", file=out
        )
        return
    pairs = sum(len(config.targets(app)) for app in config.apps)
    summary = (
        f"{_count(len(config.clusters), 'cluster')}, {_count(len(config.sources), 'source')}, "
        f"{_count(len(config.apps), 'app')} ({_count(pairs, 'app x cluster pair')})"
    )
    if rendered is None:
        print(f"{path}: valid: {summary}", file=out)
        return
    for name, error in sorted(rendered.source_errors.items()):
        print(f"source {name}: {error.detail}", file=out)
    for failure in rendered.failures:
        print(f"render: {failure}", file=out)
    revisions = ", ".join(
        f"{name}@{revision.short_sha}" for name, revision in sorted(rendered.revisions.items())
    )
    objects = sum(len(state.manifests) for state in rendered.states)
    print(
        f"rendered {len(rendered.states)} of {_count(pairs, 'app x cluster pair')} "
        f"({_count(objects, 'object')}) at {revisions or 'no revision'}",
        file=out,
    )
    failed = len(rendered.failures) + len(rendered.source_errors)
    verdict = "valid" if not failed else f"invalid: {_count(failed, 'failure')}"
    print(f"{path}: {verdict}: {summary}", file=out)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _as_json(
    path: Path, valid: bool, issues: list[ConfigIssue], rendered: DesiredStates | None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "config": str(path),
        "valid": valid,
        "issues": [issue.as_dict() for issue in issues],
    }
    if rendered is not None:
        result["sources"] = {
            **{
                name: {"revision": revision.sha, "ref": revision.ref}
                for name, revision in rendered.revisions.items()
            },
            **{name: {"error": error.detail} for name, error in rendered.source_errors.items()},
        }
        result["renders"] = [
            {
                "app": state.app,
                "cluster": state.cluster,
                "source": state.source,
                "revision": state.revision.sha,
                "path": state.path,
                "renderer": state.renderer,
                "objects": len(state.manifests),
            }
            for state in rendered.states
        ]
        result["failures"] = [failure.as_dict() for failure in rendered.failures]
    return result
