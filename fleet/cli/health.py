"""``fleet health``: judge objects as the daemon would, and run Argo CD health tests.

``fleet health OBJECT.yaml [--config F] [--app NAME]`` prints, for each object in the
file, its status, message and the check that decided (an app's rule set, a Lua script
and where it came from, a built-in rule, or the generic one). ``fleet health test DIR``
runs every ``health_test.yaml`` under DIR (Argo CD's ``<group>/<kind>/`` layout, the
``health.lua`` beside each test file first, then the checks of ``--config``), prints one
line per case and exits 1 if any failed. Lua directories in a Git source are fetched
into ``--state-dir`` (default: the cache directory, as for ``fleet validate``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from fleet.adapters.health.checks import LuaCheck
    from fleet.config import FleetConfig


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "health",
        help="judge objects' health as fleet would; run Argo CD health_test.yaml files",
        description="fleet health OBJECT.yaml: print each object's status, message and "
        "the check that decided. fleet health test DIR: run the health_test.yaml files "
        "under DIR (Argo CD's layout) and exit 1 if a case fails.",
    )
    parser.add_argument(
        "target",
        nargs="+",
        metavar="OBJECT.yaml | test DIR",
        help="a YAML file of objects, or 'test' and a directory (or test file)",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="the fleet config")
    parser.add_argument(
        "--app", metavar="NAME", help="also apply this app's declarative health rules"
    )
    parser.add_argument("--state-dir", type=Path, metavar="DIR", help="where Git mirrors are kept")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    words: list[str] = args.target
    testing = words[0] == "test"
    if (testing and len(words) != 2) or (not testing and len(words) != 1):
        print("usage: fleet health OBJECT.yaml | fleet health test DIR", file=out)
        return 2
    config = None
    if args.config is not None:
        from fleet.config import ConfigError, load_fleet_config

        try:
            config = load_fleet_config(args.config, files=False)  # no cluster files needed
        except ConfigError as error:
            for issue in error.errors:
                print(str(issue), file=out)
            return 1
    tiers, problems = _configured(config, args)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if testing:
        return _test(Path(words[1]), tiers, args.json, out)
    return _judge(Path(words[0]), config, tiers, args, out)


def _configured(
    config: FleetConfig | None, args: argparse.Namespace
) -> tuple[list[list[LuaCheck]], list[str]]:
    """The config's Lua check tiers (Git directories fetched), and the problems met."""
    if config is None:
        return [], []
    import anyio

    from fleet.cli.validate import state_dir
    from fleet.config import load_settings
    from fleet.runtime.desired import DesiredStateBuilder
    from fleet.runtime.health_checks import HealthCheckBoard, read_source_checks

    board = HealthCheckBoard()
    problems = board.configure(config)

    async def fetch_sources() -> None:
        settings = load_settings(None)
        async with DesiredStateBuilder(config, state_dir(args, settings)) as builder:
            problems.extend(await read_source_checks(board, builder))

    if board.pending():
        anyio.run(fetch_sources)
    return [list(tier) for tier in board.checks.tiers], problems


def _judge(
    path: Path,
    config: FleetConfig | None,
    tiers: list[list[LuaCheck]],
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    from fleet.adapters.health.checks import LuaHealthChecks
    from fleet.adapters.health.testfiles import load_objects
    from fleet.engine.health import explain
    from fleet.model.refs import ObjectRef

    rule_sets: tuple[Any, ...] = ()
    if args.app is not None:
        if config is None:
            print("fleet health: --app needs --config", file=out)
            return 2
        try:
            rule_sets = tuple(config.app(args.app).health)
        except KeyError:
            print(f"fleet health: no app named {args.app!r} in {args.config}", file=out)
            return 2
    try:
        objects = load_objects(path)
    except (OSError, ValueError) as error:
        print(f"fleet health: {error}", file=out)
        return 1
    checks = LuaHealthChecks(tiers)
    rows = []
    for obj in objects:
        verdict = explain(obj, rule_sets, checks)
        rows.append(
            {
                "object": str(ObjectRef.of(obj)),
                "status": str(verdict.health.status),
                "message": verdict.health.message,
                "decidedBy": verdict.decided_by,
            }
        )
    if args.json:
        json.dump(rows, out, indent=2)
        out.write("\n")
        return 0
    for row in rows:
        print(f"{row['object']}: {row['status']}", file=out)
        print(f"  message:    {row['message']}", file=out)
        print(f"  decided by: {row['decidedBy']}", file=out)
    return 0


def _test(root: Path, tiers: list[list[LuaCheck]], as_json: bool, out: TextIO) -> int:
    from fleet.adapters.health.testfiles import find_test_files, run_test_file

    if not root.exists():
        print(f"fleet health test: no such file or directory: {root}", file=out)
        return 2
    files = find_test_files(root)
    if not files:
        print(f"fleet health test: no health_test.yaml under {root}", file=out)
        return 1
    roots = [root] if root.is_dir() else []
    results = [result for file in files for result in run_test_file(file, tiers, roots)]
    passed = sum(result.passed for result in results)
    failed = len(results) - passed
    if as_json:
        json.dump(
            [
                {
                    "testFile": str(r.test_file),
                    "inputPath": r.input_path,
                    "passed": r.passed,
                    "expected": _health_json(r.expected),
                    "got": _health_json(r.got),
                    "decidedBy": r.decided_by,
                    "error": r.error,
                }
                for r in results
            ],
            out,
            indent=2,
        )
        out.write("\n")
    else:
        for r in results:
            where = f"{r.test_file.parent / r.input_path}"
            if r.passed:
                print(f"PASS {where}: {r.got}", file=out)
            elif r.error:
                print(f"FAIL {where}: {r.error}", file=out)
            else:
                print(f"FAIL {where}: expected {_shown(r.expected)}", file=out)
                print(f"     got      {_shown(r.got)} (decided by {r.decided_by})", file=out)
        print(f"{passed} passed, {failed} failed", file=out)
    return 0 if failed == 0 else 1


def _health_json(health: Any) -> dict[str, str] | None:
    if health is None:
        return None
    return {"status": str(health.status), "message": health.message}


def _shown(health: Any) -> str:
    if health is None:
        return "nothing"
    return f"{health.status} {health.message!r}"
