"""Reading Lua health checks: inline from the config, and from Argo CD's directory layout.

Argo CD's tree is ``<group>/<kind>/health.lua`` (``<kind>/health.lua`` for the core
group), with ``_`` in a directory name standing for ``*`` (``_.crossplane.io/_``) and
``health_test.yaml`` plus ``testdata/`` beside each script; everything else in the tree
(actions, tests) is left alone. A script that does not compile is kept with its
error, so the objects it covers are Unknown with the file named rather than silently
judged by another check; ``problems`` lists such errors for ``fleet validate``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fleet.adapters.health.checks import LuaCheck
from fleet.adapters.health.sandbox import syntax_error
from fleet.config.health_checks import HealthChecks

SCRIPT = "health.lua"
#: A script larger than this is refused (Argo CD's largest is a few KiB).
MAX_SCRIPT_BYTES = 256 * 1024
#: A tree with more scripts than this is refused (Argo CD's has about 240).
MAX_SCRIPTS = 5000


@dataclass
class LoadedChecks:
    """Checks read from one place, and what was wrong with them (one line each)."""

    checks: list[LuaCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def compiled(key: str, script: str, origin: str) -> LuaCheck:
    """A check, with its syntax error (if any) recorded rather than raised."""
    return LuaCheck(key, script, origin, syntax_error(script, origin))


def inline_checks(health: HealthChecks, config_file: str = "the fleet config") -> LoadedChecks:
    """The ``health.lua`` entries of a config, in the order written."""
    loaded = LoadedChecks()
    for key, script in health.lua.items():
        check = compiled(key, script, f"{config_file} health.lua[{key}]")
        loaded.checks.append(check)
        if check.syntax_error is not None:
            loaded.problems.append(check.syntax_error)
    return loaded


def key_of(directory: Path, root: Path) -> str | None:
    """The key a ``health.lua`` in ``directory`` covers, or None outside the layout."""
    parts = directory.relative_to(root).parts
    if len(parts) not in (1, 2):
        return None
    return "/".join(part.replace("_", "*") for part in parts)


def _scripts(root: Path) -> Iterator[Path]:
    for depth in ("*", "*/*"):
        yield from sorted(root.glob(f"{depth}/{SCRIPT}"))


def read_tree(root: Path, label: str | None = None) -> LoadedChecks:
    """Every ``health.lua`` of a tree in Argo CD's layout; ``label`` replaces ``root``
    in the names people see (``source checks@1a2b3c4:path``)."""
    loaded = LoadedChecks()
    if not root.is_dir():
        loaded.problems.append(f"{label or root}: no such directory")
        return loaded
    for count, script in enumerate(_scripts(root)):
        shown = f"{label or root}/{script.relative_to(root)}"
        if count >= MAX_SCRIPTS:
            loaded.problems.append(f"{label or root}: more than {MAX_SCRIPTS} scripts; rest left")
            break
        key = key_of(script.parent, root)
        if key is None or not script.is_file():
            continue
        if not script.resolve().is_relative_to(root.resolve()):
            loaded.problems.append(f"{shown}: points outside the tree; not loaded")
            continue
        if script.stat().st_size > MAX_SCRIPT_BYTES:
            loaded.problems.append(f"{shown}: larger than {MAX_SCRIPT_BYTES} bytes; not loaded")
            continue
        try:
            text = script.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            loaded.problems.append(f"{shown}: cannot be read: {error}")
            continue
        check = compiled(key, text, shown)
        loaded.checks.append(check)
        if check.syntax_error is not None:
            loaded.problems.append(check.syntax_error)
    return loaded
