"""Unknown fields of custom resources: pruned, or refused under fieldValidation=Strict.

A CRD's structural schema says which fields exist; the API server drops every other
field before it stores a custom resource (unless the schema says
``x-kubernetes-preserve-unknown-fields``), and with ``fieldValidation=Strict`` (what
kubectl sends) it refuses the request instead, naming each unknown field. Doing the
same here keeps the simulator honest for drift detection: a field the server would have
dropped must not come back in reads. An object schema with neither ``properties`` nor
``additionalProperties`` keeps nothing, as on a real server.
"""

from __future__ import annotations

from typing import Any

_OPEN: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


def prune(obj: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Remove the fields ``schema`` does not declare from ``obj``, in place.

    Returns the paths removed (``spec.color``, ``spec.items[0].size``).
    """
    properties = {**(schema.get("properties") or {}), **dict.fromkeys(_ROOT_FIELDS, _OPEN)}
    dropped: list[str] = []
    _walk(obj, {**schema, "type": "object", "properties": properties}, "", dropped)
    return dropped


def _walk(value: Any, schema: Any, path: str, dropped: list[str]) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, schema.get("items"), f"{path}[{index}]", dropped)
        return
    if not isinstance(value, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    properties = dict(schema.get("properties") or {})
    if schema.get("x-kubernetes-embedded-resource"):
        properties.update(dict.fromkeys(_ROOT_FIELDS, _OPEN))
    additional = schema.get("additionalProperties")
    structural = "properties" in schema or schema.get("type") == "object"
    for key in list(value):
        where = f"{path}.{key}" if path else str(key)
        if key in properties:
            _walk(value[key], properties[key], where, dropped)
        elif isinstance(additional, dict):
            _walk(value[key], additional, where, dropped)
        elif additional is True or not structural:
            continue
        else:
            dropped.append(where)
            del value[key]
