"""Argo CD's Lua health checks from ``argocd-cm``, as fleet's ``health.lua`` entries.

``argocd-cm`` keeps them under ``resource.customizations.health.<group_kind>`` (one key
per kind; ``*`` wildcards allowed) or, in the older form, in ``resource.customizations``:
a YAML text of ``group/Kind: {health.lua: ...}`` entries. Both carry over as scripts,
unchanged; fleet runs them in a sandbox like Argo CD's. What the ConfigMap holds besides
(actions, ignoreDifferences, ``useOpenLibs``, every other setting) is noted, not carried.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.config.argocd.applications import YamlParser
from fleet.config.argocd.entries import Origin, mapping, text
from fleet.config.health_checks import check_key

HEALTH_PREFIX = "resource.customizations.health."
OLD_STYLE = "resource.customizations"
OPEN_LIBS_PREFIX = "resource.customizations.useOpenLibs."


@dataclass(slots=True)
class HealthImport:
    """Scripts by fleet key, and notes on what was left (one line each)."""

    lua: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def is_argocd_cm(body: Mapping[str, Any]) -> bool:
    metadata = mapping(body.get("metadata"))
    return (
        body.get("kind") == "ConfigMap"
        and text(body.get("apiVersion")) == "v1"
        and metadata.get("name") == "argocd-cm"
    )


def _fleet_key(group_kind: str) -> str | None:
    """``group_Kind`` (Argo CD's key suffix) as fleet's ``group/Kind``; None if odd."""
    if group_kind.startswith("_"):  # the core group: "_Kind" -> "Kind"
        group_kind = group_kind[1:]
    try:
        return check_key(group_kind)
    except ValueError:
        return None


def _add(found: HealthImport, key: str | None, raw: str, script: Any, origin: Origin) -> None:
    if key is None:
        found.notes.append(f"{origin}: {raw}: not a group/Kind key; not imported")
    elif not isinstance(script, str) or not script.strip():
        found.notes.append(f"{origin}: {raw}: no script; not imported")
    elif key in found.lua:
        found.notes.append(f"{origin}: {raw}: {key} is given twice; the first is kept")
    else:
        found.lua[key] = script


def health_checks(body: Mapping[str, Any], origin: Origin, parse_yaml: YamlParser) -> HealthImport:
    """The health scripts of an ``argocd-cm`` ConfigMap, and notes on the rest."""
    found = HealthImport()
    data = mapping(body.get("data"))
    left: list[str] = []
    for raw, value in data.items():
        if raw.startswith(HEALTH_PREFIX):
            _add(found, _fleet_key(raw.removeprefix(HEALTH_PREFIX)), raw, value, origin)
        elif raw == OLD_STYLE:
            _old_style(found, value, origin, parse_yaml)
        elif raw.startswith(OPEN_LIBS_PREFIX):
            found.notes.append(
                f"{origin}: {raw}: fleet's sandbox never opens more libraries (io, os.execute); "
                "a script that needs them stays Unknown with the error"
            )
        else:
            left.append(raw)
    if left:
        found.notes.append(
            f"{origin}: not carried over (not health checks): {', '.join(sorted(left))}"
        )
    return found


def _old_style(found: HealthImport, value: Any, origin: Origin, parse_yaml: YamlParser) -> None:
    where = f"{origin}: data.{OLD_STYLE}"
    parsed = parse_yaml(value, where) if isinstance(value, str) else None
    if not isinstance(parsed, Mapping):
        found.notes.append(f"{origin}: {OLD_STYLE}: not a map of group/Kind; not imported")
        return
    for group_kind, settings in parsed.items():
        entry = mapping(settings)
        raw = f"{OLD_STYLE} {group_kind}"
        if "health.lua" in entry:
            _add(found, _fleet_key(str(group_kind)), raw, entry["health.lua"], origin)
        others = sorted(k for k in entry if k != "health.lua")
        if others:
            found.notes.append(f"{origin}: {raw}: not carried over: {', '.join(others)}")
