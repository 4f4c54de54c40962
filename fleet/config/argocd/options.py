"""Field-by-field mappings of an Application's options: sync options, retry, Helm
parameters and ignoreDifferences. Each returns fleet's shape and notes what it drops."""

from __future__ import annotations

import re
from typing import Any

from fleet.config.apps import deep_merge
from fleet.config.argocd.entries import Entry, mapping, text

#: App-level sync options fleet has: option -> (syncPolicy key, value -> fleet value).
_PROPAGATION = {"foreground": "Foreground", "background": "Background", "orphan": "Orphan"}
_BOOLEAN_OPTIONS = {
    "CreateNamespace": "createNamespace",
    "PruneLast": "pruneLast",
    "RespectIgnoreDifferences": "respectIgnoreDifferences",
    "ApplyOutOfSyncOnly": "applyOutOfSyncOnly",
}
#: Options whose value is what fleet always does: nothing to write.
_ALWAYS = {
    ("ServerSideApply", "true"),
    ("Validate", "true"),
    ("FailOnSharedResource", "true"),
}
#: Options fleet has per object only (or not at all), and what to do instead.
_NOT_CARRIED = {
    "Replace": "fleet reads Replace=true per object: annotate the objects with "
    "argocd.argoproj.io/sync-options: Replace=true",
    "ServerSideApply": "fleet always applies server side",
    "Validate": "fleet always validates on the server",
    "SkipDryRunOnMissingResource": "per object in fleet: annotate the custom resources",
    "Prune": "per object in fleet: annotate the objects (Prune=false)",
    "Delete": "per object in fleet: annotate the objects (Delete=false)",
    "FailOnSharedResource": "fleet never writes an object another app tracks",
    "ClientSideApplyMigration": "fleet applies server side as field manager fleet",
}
_DURATION = re.compile(r"^\d+(\.\d+)?(ms|s|m|h)(\d+(\.\d+)?(ms|s|m|h))*$")
_INDEX = re.compile(r"\[\d+\]")
_INT = re.compile(r"^[-+]?(0|[1-9]\d*)$")


def apply_sync_options(options: Any, out: dict[str, Any], entry: Entry) -> None:
    """Write the app-level ``syncOptions`` fleet has into ``out`` (a syncPolicy)."""
    for item in options or ():
        option = text(item)
        key, _, value = option.partition("=")
        key, value = key.strip(), value.strip()
        lowered = value.lower()
        if key in _BOOLEAN_OPTIONS and lowered in ("true", "false"):
            out[_BOOLEAN_OPTIONS[key]] = lowered == "true"
        elif key == "PrunePropagationPolicy" and lowered in _PROPAGATION:
            out["prunePropagation"] = _PROPAGATION[lowered]
        elif (key, lowered) in _ALWAYS:
            continue
        else:
            why = _NOT_CARRIED.get(key, "fleet has no such option")
            entry.note(f"syncOptions {option}: not carried ({why})", "syncPolicy")


def apply_retry(retry: Any, entry: Entry) -> dict[str, Any]:
    """fleet's ``syncPolicy.retry`` for Argo CD's (the same shape)."""
    retry = mapping(retry)
    out: dict[str, Any] = {}
    limit = retry.get("limit")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        out["limit"] = limit
    elif limit is not None:
        entry.note(
            f"retry.limit {limit}: not carried (fleet retries a bounded number of times; "
            "its default is 5)",
            "syncPolicy",
        )
    backoff: dict[str, Any] = {}
    for key in ("duration", "maxDuration"):
        value = mapping(retry.get("backoff")).get(key)
        if value is None:
            continue
        duration = _duration(value)
        if duration is None:
            entry.note(f"retry.backoff.{key} {value!r}: not a duration fleet reads", "syncPolicy")
        else:
            backoff[key] = duration
    factor = mapping(retry.get("backoff")).get("factor")
    if isinstance(factor, int | float) and not isinstance(factor, bool) and factor >= 1:
        backoff["factor"] = factor
    elif factor is not None:
        entry.note(f"retry.backoff.factor {factor!r}: fleet needs a number >= 1", "syncPolicy")
    if backoff:
        out["backoff"] = backoff
    return out


def _duration(value: Any) -> str | None:
    """Argo CD writes ``5s``, ``3m0s`` or a number of seconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return f"{value}s"
    shown = text(value)
    if shown.isdigit() and int(shown) > 0:
        return f"{shown}s"
    return shown if _DURATION.match(shown) else None


def helm_parameters(parameters: Any, entry: Entry) -> dict[str, Any]:
    """``--set``-style parameters as nested values (Helm's typing unless forceString)."""
    values: dict[str, Any] = {}
    for item in parameters or ():
        parameter = mapping(item)
        name = text(parameter.get("name"))
        if not name or _INDEX.search(name):
            entry.note(f"helm parameter {name!r}: not carried (list indexes: use values)", "helm")
            continue
        raw = parameter.get("value")
        value: Any = text(raw) if parameter.get("forceString") else _typed(raw)
        path = [part.replace("\\.", ".") for part in re.split(r"(?<!\\)\.", name)]
        nested: Any = value
        for part in reversed(path):
            nested = {part: nested}
        values = deep_merge(values, nested)
    return values


def _typed(raw: Any) -> Any:
    """The type ``helm --set`` gives a value: booleans, integers, null, else text."""
    if not isinstance(raw, str):
        return raw
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    if _INT.match(raw):
        return int(raw)
    return raw


def ignore_differences(items: Any, entry: Entry) -> list[dict[str, Any]]:
    """``ignoreDifferences`` without jq expressions (fleet never evaluates programs)."""
    out: list[dict[str, Any]] = []
    for index, item in enumerate(items or ()):
        rule = mapping(item)
        kept: dict[str, Any] = {"group": text(rule.get("group")), "kind": text(rule.get("kind"))}
        if not kept["kind"]:
            kept["kind"] = "*"
        for key in ("name", "namespace"):
            if text(rule.get(key)):
                kept[key] = text(rule.get(key))
        for key in ("jsonPointers", "managedFieldsManagers"):
            values = [text(v) for v in rule.get(key) or () if text(v)]
            if values:
                kept[key] = values
        if rule.get("jqPathExpressions"):
            entry.note(
                f"ignoreDifferences[{index}].jqPathExpressions: not carried (fleet runs no "
                "jq: write JSON pointers)",
                "ignoreDifferences",
            )
        if "jsonPointers" in kept or "managedFieldsManagers" in kept:
            out.append(kept)
    return out
