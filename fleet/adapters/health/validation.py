"""What ``fleet validate`` says about the ``health`` section beyond its schema.

The schema and the loader check keys, sources and that host directories exist; only Lua
can tell whether a script compiles, so that check lives here, beside the runtime. Each
finding points at the config field (the inline key, or the directory entry) and names
the script file with the compiler's line. Directories in Git sources are read with
``--render`` only, when sources are fetched anyway (fleet.cli.validate).
"""

from __future__ import annotations

import re
from pathlib import Path

from fleet.adapters.health.loading import read_tree
from fleet.adapters.health.sandbox import syntax_error
from fleet.config import ConfigError, ConfigIssue, FleetConfig
from fleet.config.checks import Finding
from fleet.config.health_checks import HealthChecks
from fleet.config.issues import DocPath
from fleet.config.loader import config_document


def check_lua(health: HealthChecks, config_file: str) -> list[Finding]:
    """A finding per inline script or host-directory script that does not compile, and
    per unreadable script file."""
    found: list[Finding] = []
    for key, script in health.lua.items():
        error = syntax_error(script, f"{config_file} health.lua[{key}]")
        if error is not None:
            found.append(Finding(("health", "lua", key), f"Lua syntax error: {error}"))
    for index, directory in enumerate(health.lua_directories):
        if directory.source is not None or not Path(directory.path).is_dir():
            continue
        for problem in read_tree(Path(directory.path)).problems:
            found.append(Finding(("health", "luaDirectories", index, "path"), problem))
    return found


_LUA_LINE = re.compile(r":(\d+): (.*)$", re.DOTALL)


def _script_line(file: str, line: int) -> str | None:
    """Line ``line`` (1-based) of ``file``, if it can be read."""
    try:
        lines = Path(file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return lines[line - 1] if 0 < line <= len(lines) else None


def inline_lua_issues(config: FleetConfig) -> list[ConfigIssue]:
    """An issue per inline script that does not compile, at the script's own line in the
    config file when it is written as a block (``key: |``), else at its key."""
    if not config.health.lua:
        return []
    document = config_document(config)
    issues: list[ConfigIssue] = []
    for key, script in config.health.lua.items():
        error = syntax_error(script, f"health.lua[{key}]")
        if error is None:
            continue
        at: DocPath = ("health", "lua", key)
        if document is None:
            file = str(config.file) if config.file is not None else "the fleet config"
            issues.append(ConfigIssue(file, 0, 0, at, f"Lua syntax error: {error}"))
            continue
        issue = document.issue(at, f"Lua syntax error: {error}")
        found = _LUA_LINE.search(error)
        header = _script_line(str(config.file), issue.line) if config.file else None
        if found and header is not None and header.rstrip().endswith(("|", "|-", "|+")):
            line = issue.line + int(found.group(1))
            text = _script_line(str(config.file), line) or ""
            column = len(text) - len(text.lstrip()) + 1
            issue = ConfigIssue(issue.file, line, column, at, issue.message)
        issues.append(issue)
    return issues


def refuse_uncompilable_lua(config: FleetConfig) -> FleetConfig:
    """``config`` if its inline scripts compile; else ConfigError, as for any config error
    (the daemon refuses it at start and on reload). Scripts in directories are not
    checked here: those in Git are repository content, Unknown with the error at run time."""
    issues = inline_lua_issues(config)
    if issues:
        raise ConfigError(issues)
    return config
