"""Argo CD's ``health_test.yaml`` files, run against fleet's checks.

Argo CD keeps, beside each ``health.lua``, a test file listing input objects and the
verdict expected for each::

    tests:
      - healthStatus:
          status: Progressing
          message: "Waiting for rollout to finish: 1 old replicas are pending termination"
        inputPath: testdata/progressing.yaml

A case passes when both status and message are what is written (a message left out
means an empty one), as Argo CD's own test compares them. Each case is judged on its
own: no verdict is kept from one input file to the next. The script in the test file's
directory is tried first; objects it does not cover (or every object, in a directory
without one) get the checks fleet is configured with, then the built-in rules. A script
that covers the object is run even on an object being deleted (the engine answers those
itself otherwise), because Argo CD's test runs the script on every case and its scripts
now report deletion themselves ("Pending deletion; blocked by finalizers: ...").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fleet.adapters.health.checks import LuaCheck, LuaHealthChecks
from fleet.adapters.health.loading import SCRIPT, compiled, key_of
from fleet.engine.health import explain
from fleet.model.health import Health

TEST_FILE = "health_test.yaml"


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case of a test file: what was expected, what fleet said, and by which check."""

    test_file: Path
    input_path: str
    expected: Health | None
    got: Health | None
    decided_by: str = ""
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.error and self.expected == self.got


def find_test_files(root: Path) -> list[Path]:
    """Every ``health_test.yaml`` under ``root`` (or ``root`` itself), sorted."""
    if root.is_file():
        return [root]
    return sorted(root.rglob(TEST_FILE))


class _ArgoLoader(yaml.SafeLoader):
    """YAML as Argo CD's test reads it: an unquoted timestamp stays the text written
    (sigs.k8s.io/yaml goes through JSON), where PyYAML would make it a datetime."""


_ArgoLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_objects(path: Path) -> list[dict[str, Any]]:
    """The mappings in a YAML file (several documents allowed; empty ones skipped)."""
    with path.open(encoding="utf-8") as handle:
        found = [doc for doc in yaml.load_all(handle, Loader=_ArgoLoader) if doc is not None]
    for doc in found:
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: expected a Kubernetes object, got {type(doc).__name__}")
    return found


def _local_check(directory: Path, roots: Sequence[Path]) -> LuaCheck | None:
    script = directory / SCRIPT
    if not script.is_file():
        return None
    key = None
    for root in roots:
        if directory.is_relative_to(root) and directory != root:
            key = key_of(directory, root)
            if key is not None:
                break
    if key is None:
        # Outside Argo CD's layout: the script covers whatever the tests feed it.
        key = "*"
    return compiled(key, script.read_text(encoding="utf-8"), str(script))


def _field(mapping: dict[Any, Any], name: str) -> Any:
    """``mapping[name]``, matched as Go's JSON decoder matches a struct field (which
    Argo CD's test reads the file into): the exact key, else one differing only in
    case, so ``inputpath`` is read as ``inputPath``."""
    if name in mapping:
        return mapping[name]
    folded = name.casefold()
    for key, value in mapping.items():
        if isinstance(key, str) and key.casefold() == folded:
            return value
    return None


def _cases(test_file: Path) -> Iterator[tuple[str, Health | None, str]]:
    """(inputPath, expected health, error) for each case of a test file."""
    try:
        data = yaml.load(test_file.read_text(encoding="utf-8"), Loader=_ArgoLoader)
    except (OSError, yaml.YAMLError) as error:
        yield "", None, f"cannot read {test_file}: {error}"
        return
    tests = _field(data, "tests") if isinstance(data, dict) else None
    if not isinstance(tests, list):
        yield "", None, f"{test_file}: expected a 'tests' list"
        return
    for index, case in enumerate(tests):
        input_path = _field(case, "inputPath") if isinstance(case, dict) else None
        if not isinstance(input_path, str):
            yield f"tests[{index}]", None, f"{test_file}: tests[{index}] needs an inputPath"
            continue
        status = _field(case, "healthStatus")
        if not isinstance(status, dict) or _field(status, "status") is None:
            yield input_path, None, f"tests[{index}] needs healthStatus.status"
            continue
        state = _field(status, "status")
        try:
            expected = Health(state, str(_field(status, "message") or ""))
        except ValueError:
            yield input_path, None, f"tests[{index}]: unknown status {state!r}"
            continue
        yield input_path, expected, ""


def run_test_file(
    test_file: Path, configured: Sequence[Sequence[LuaCheck]], roots: Sequence[Path] = ()
) -> list[CaseResult]:
    """Every case of one test file; ``configured`` are fleet's check tiers, ``roots``
    the directories to read Argo CD's ``<group>/<kind>`` layout from."""
    local = _local_check(test_file.parent, [*roots, test_file.parent.parent.parent])
    tiers = [[local], *configured] if local is not None else list(configured)
    results: list[CaseResult] = []
    for input_path, expected, error in _cases(test_file):
        if error:
            results.append(CaseResult(test_file, input_path, expected, None, error=error))
            continue
        try:
            objects = load_objects(test_file.parent / input_path)
        except (OSError, ValueError, yaml.YAMLError) as problem:
            results.append(CaseResult(test_file, input_path, expected, None, error=str(problem)))
            continue
        if len(objects) != 1:
            message = f"{input_path}: expected one object, found {len(objects)}"
            results.append(CaseResult(test_file, input_path, expected, None, error=message))
            continue
        # Fresh checks for every case: fixtures often share a uid and resourceVersion
        # (copied from one object), so a verdict kept for one would answer the next.
        checks = LuaHealthChecks(tiers)
        # A script covering the object judges it whatever its state, as Argo CD's test
        # runs the script: its checks carry their own block for objects being deleted.
        verdict = checks(objects[0]) or explain(objects[0], (), checks)
        results.append(
            CaseResult(test_file, input_path, expected, verdict.health, verdict.decided_by)
        )
    return results
