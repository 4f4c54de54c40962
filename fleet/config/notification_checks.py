"""Cross-checks of the ``notifications`` section against itself and the fleet.

What a single rule or destination cannot tell about itself: a rule naming a destination
that does not exist, or an app or cluster that does not exist (each with the near miss),
duplicate names, a glob or label selector that matches nothing (a warning: the rule
would never fire), a destination no rule uses, and the credential files destinations
read. Like the other checks, entries are validated one by one so a broken rule does not
hide the mistakes of the others, and names written in entries that failed the schema
still count as known.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fleet.config.checks import Finding, FleetView
from fleet.config.files import _check_file
from fleet.config.issues import DocPath, Severity
from fleet.config.notifications import Destination, Rule, is_glob, matches_any
from fleet.config.suggest import did_you_mean

_AT: DocPath = ("notifications",)

M = TypeVar("M", bound=BaseModel)


def check_notifications(
    section: Any,
    context: dict[str, Any],
    view: FleetView,
    *,
    files: bool = True,
    missing: Severity = "error",
) -> list[Finding]:
    """Findings for the raw ``notifications`` mapping (schema errors are reported elsewhere)."""
    if not isinstance(section, dict):
        return []
    # Destinations are checked whole (a half-valid one would get misleading file and
    # "unused" findings); rules are rescued, since their references are worth checking.
    destinations = _valid(section.get("destinations"), Destination, context, rescue=False)
    rules = _valid(section.get("rules"), Rule, context)
    destination_names = _names(section.get("destinations"))
    findings = _duplicates("destinations", [(i, d.name) for i, d in destinations])
    findings += _duplicates("rules", [(i, r.name) for i, r in rules])
    used: set[str] = set()
    for index, rule in rules:
        used.update(rule.destinations)
        findings += _rule_references(index, rule, destination_names, view)
    for index, destination in destinations:
        if destination.name not in used:
            findings.append(
                Finding(
                    (*_AT, "destinations", index, "name"),
                    f"no rule sends to destination '{destination.name}'",
                    "warning",
                )
            )
        if files:
            for key, path in destination.credential_files():
                findings += _check_file((*_AT, "destinations", index, *key), path, missing)
    return findings


def _rule_references(
    index: int, rule: Rule, destinations: set[str], view: FleetView
) -> list[Finding]:
    at: DocPath = (*_AT, "rules", index)
    found = [
        Finding(
            (*at, "destinations", i),
            f"no destination named '{name}'{did_you_mean(name, destinations)}",
        )
        for i, name in enumerate(rule.destinations)
        if name not in destinations
    ]
    found += _patterns((*at, "apps"), "app", rule.apps, view.names.get("apps", set()), True)
    found += _patterns(
        (*at, "clusters"),
        "cluster",
        rule.clusters,
        view.names.get("clusters", set()),
        view.clusters_complete,
    )
    selector = rule.cluster_selector
    if selector is not None and view.clusters_complete and view.clusters:
        clusters = [cluster for _, cluster in view.clusters]
        if not selector.select(clusters):
            found.append(
                Finding(
                    (*at, "clusterSelector"),
                    f"selects no cluster ({selector.describe()}), so the rule never fires",
                    "warning",
                )
            )
    return found


def _patterns(
    at: DocPath, noun: str, patterns: Sequence[str] | None, known: set[str], complete: bool
) -> list[Finding]:
    found: list[Finding] = []
    for i, pattern in enumerate(patterns or []):
        if not is_glob(pattern):
            if pattern not in known:
                found.append(
                    Finding((*at, i), f"no {noun} named '{pattern}'{did_you_mean(pattern, known)}")
                )
        elif complete and known and not any(matches_any(name, [pattern]) for name in known):
            found.append(
                Finding(
                    (*at, i), f"'{pattern}' matches no {noun}, so it selects nothing", "warning"
                )
            )
    return found


def _duplicates(section: str, names: Iterable[tuple[int, str]]) -> list[Finding]:
    first: dict[str, int] = {}
    found: list[Finding] = []
    for index, name in names:
        if name in first:
            found.append(
                Finding(
                    (*_AT, section, index, "name"),
                    f"duplicate name '{name}' (also notifications.{section}[{first[name]}])",
                )
            )
        else:
            first.setdefault(name, index)
    return found


def _valid(
    entries: Any, model: type[M], context: dict[str, Any], *, rescue: bool = True
) -> list[tuple[int, M]]:
    """The entries that pass the schema, some after leaving out what is broken.

    A rule with one misspelt event kind still names destinations worth checking, so a
    broken item of a list is left out, and so is a broken optional key; an entry whose
    required key is broken is not checked further.
    """
    if not isinstance(entries, list):
        return []
    required = {f.alias or n for n, f in model.model_fields.items() if f.is_required()}
    valid: list[tuple[int, M]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        attempt: dict[str, Any] | None = dict(entry)
        for _ in range(3 if rescue else 1):
            assert attempt is not None
            try:
                valid.append((index, model.model_validate(attempt, context=context)))
                break
            except ValidationError as exc:
                attempt = _without_broken(attempt, exc, required)
                if attempt is None:
                    break
    return valid


def _without_broken(
    entry: dict[str, Any], error: ValidationError, required: set[str]
) -> dict[str, Any] | None:
    """``entry`` minus its broken list items and optional keys; None if nothing can go."""
    bad_items: dict[str, set[int]] = {}
    bad_keys: set[str] = set()
    for detail in error.errors():
        loc = detail["loc"]
        at = (detail.get("ctx") or {}).get("at")
        key = loc[0] if loc else at
        if not isinstance(key, str) or key not in entry:
            return None
        if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(entry[key], list):
            bad_items.setdefault(key, set()).add(loc[1])
        else:
            bad_keys.add(key)
    changed = dict(entry)
    for key, indexes in bad_items.items():
        kept = [item for i, item in enumerate(entry[key]) if i not in indexes]
        if kept:
            changed[key] = kept
        else:
            bad_keys.add(key)
    if bad_keys & required:
        return None
    return {k: v for k, v in changed.items() if k not in bad_keys}


def _names(entries: Any) -> set[str]:
    if not isinstance(entries, list):
        return set()
    return {e["name"] for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str)}
