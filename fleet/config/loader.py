"""Loading a fleet config: every problem at once, each with its file, line and column.

Passes, all reporting into one list: YAML syntax (which stops the rest, since there is
nothing to check without a document), duplicate keys, the schema (pydantic), the
cross-reference checks, and the files the config references. When the schema fails, the
entries that did pass are still cross-checked, so one run shows every mistake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from fleet.config.apps import App
from fleet.config.checks import FleetView, check_fleet
from fleet.config.clusters import Cluster
from fleet.config.dependency_checks import check_dependency_targets
from fleet.config.documents import YamlDocument, load_yaml_file
from fleet.config.files import check_files
from fleet.config.fleet import FleetConfig
from fleet.config.generator_checks import check_generators
from fleet.config.health_checks import check_health_checks
from fleet.config.includes import merge_includes
from fleet.config.issues import ConfigError, ConfigIssue, Severity, sort_issues
from fleet.config.notification_checks import check_notifications
from fleet.config.project_checks import check_projects
from fleet.config.projects import Project
from fleet.config.rollouts import Rollout
from fleet.config.schema_errors import issues_from_error
from fleet.config.sources import Source
from fleet.config.windows import check_windows

_SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("clusters", Cluster),
    ("sources", Source),
    ("apps", App),
    ("projects", Project),
)


def load_fleet_config(
    path: Path,
    *,
    files: bool = True,
    missing_files: Severity = "error",
    root: Path | None = None,
    name: str | None = None,
) -> FleetConfig:
    """The config at ``path``; raises ConfigError listing every problem if any is an error.

    Warnings do not stop loading; they are kept on ``config.warnings``. ``root`` and
    ``name`` are as for :func:`check_fleet_config`.
    """
    config, issues = check_fleet_config(
        path, files=files, missing_files=missing_files, root=root, name=name
    )
    if config is None or any(issue.severity == "error" for issue in issues):
        raise ConfigError(issues)
    config._warnings = issues
    return config


def check_fleet_config(
    path: Path,
    *,
    files: bool = True,
    missing_files: Severity = "error",
    warn_unbounded: bool = False,
    root: Path | None = None,
    name: str | None = None,
) -> tuple[FleetConfig | None, list[ConfigIssue]]:
    """The config (None if the schema refused it) and every issue found, in file order.

    ``files`` turns the checks of referenced files on or off; ``missing_files`` is the
    severity of a referenced file that does not exist; ``warn_unbounded`` adds a warning
    for each app that belongs to no project (``fleet validate``). ``root`` is the
    directory no ``include:`` may leave (default: the file's own); ``name`` is how
    issues name the file (default: ``path`` as given).
    """
    try:
        document = load_yaml_file(path, name or str(path))
    except ConfigError as exc:
        return None, exc.errors
    issues = list(document.issues)
    data = document.data
    if not isinstance(data, dict):
        shown = "empty" if data is None else f"a {type(data).__name__}"
        issues.append(
            document.issue((), f"expected a mapping with clusters, sources and apps, got {shown}")
        )
        return None, sort_issues(issues)
    document, included_issues = merge_includes(document, path, root or path.absolute().parent)
    issues += included_issues
    data = document.data
    context = {"base_dir": path.absolute().parent}
    config: FleetConfig | None
    try:
        config = FleetConfig.model_validate(data, context=context)
    except ValidationError as exc:
        config = None
        issues += issues_from_error(exc, document, FleetConfig)
        view = _partial_view(data, context)
    else:
        view = FleetView(
            clusters=list(enumerate(config.clusters)),
            sources=list(enumerate(config.sources)),
            apps=list(enumerate(config.apps)),
            projects=list(enumerate(config.projects)),
            rollout=config.rollout,
        )
    view.names = {section: _names(data.get(section)) for section, _ in _SECTIONS}
    findings = check_fleet(view)
    findings += check_projects(view, warn_unbounded=warn_unbounded)
    findings += check_notifications(
        data.get("notifications"), context, view, files=files, missing=missing_files
    )
    findings += check_windows(data.get("syncWindows"), view.names)
    if view.clusters_complete:
        whole = [(i, app) for i, app in view.apps if i not in view.partial_apps]
        findings += check_dependency_targets(whole, [c for _, c in view.clusters])
    if files:
        findings += check_files(view, missing_files)
    if config is not None and config.generators:
        findings += check_generators(config, context)
    if config is not None:
        sources = view.names.get("sources", set())
        findings += check_health_checks(config.health, sources, files, missing_files)
    issues += [document.issue(f.path, f.message, severity=f.severity) for f in findings]
    if config is not None:
        config._file = path
        config._root, config._name = root, name
    return config, sort_issues(issues)


def _partial_view(data: dict[str, Any], context: dict[str, Any]) -> FleetView:
    """The entries of each section that pass the schema on their own."""
    view = FleetView()
    for section, model in _SECTIONS:
        entries = data.get(section)
        if entries is None:
            continue
        valid, partial = _valid_entries(entries, model, context)
        if section == "clusters":
            view.clusters_complete = (
                isinstance(entries, list) and not partial and (len(valid) == len(entries))
            )
        if section == "apps":
            view.partial_apps = partial
        setattr(view, section, valid)
    try:
        if data.get("rollout") is not None:
            view.rollout = Rollout.model_validate(data["rollout"], context=context)
    except ValidationError:
        view.rollout = None
    return view


def _valid_entries(
    entries: Any, model: type[BaseModel], context: dict[str, Any]
) -> tuple[list[tuple[int, Any]], set[int]]:
    """Entries that validate, some after dropping optional keys that have errors.

    An entry whose optional keys are broken still has names worth cross-checking
    (``source: platfrom`` next to a misspelt ``renderer``). Entries rescued that way are
    marked partial: only name references are checked on them, since a dropped key
    (``clusters``) falls back to a default that would mislead the other checks.
    """
    if not isinstance(entries, list):
        return [], set()
    required = {f.alias or n for n, f in model.model_fields.items() if f.is_required()}
    valid: list[tuple[int, Any]] = []
    partial: set[int] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        attempt = dict(entry)
        for _ in range(3):
            try:
                valid.append((index, model.model_validate(attempt, context=context)))
                if len(attempt) < len(entry):
                    partial.add(index)
                break
            except ValidationError as exc:
                broken = {e["loc"][0] if e["loc"] else None for e in exc.errors()}
                if None in broken or broken & required or not broken <= attempt.keys():
                    break
                attempt = {k: v for k, v in attempt.items() if k not in broken}
    return valid, partial


def _names(entries: Any) -> set[str]:
    if not isinstance(entries, list):
        return set()
    return {e["name"] for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)}


def config_document(config: FleetConfig) -> YamlDocument | None:
    """The document a loaded config came from, includes merged: issues found later (a
    generator's, at run time) point at the file, line and column they were written at."""
    path = config.file
    if path is None:
        return None
    document = load_yaml_file(path, config._name or str(path))
    merged, _ = merge_includes(document, path, config._root or path.absolute().parent)
    return merged


def document_of(path: Path) -> YamlDocument:
    """The parsed document with positions (for tools that point into the config)."""
    return load_yaml_file(path, str(path))
