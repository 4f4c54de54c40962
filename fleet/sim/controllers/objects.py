"""Small pure helpers over Kubernetes objects held as plain JSON dicts.

The controllers keep objects exactly as the API server sent them (dicts, not generated
models) so that what they write back is the server's own object with one part changed,
and so that fields this code does not know survive a round trip.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

# The alphabet Kubernetes uses for generated suffixes: no vowels, no look-alike digits.
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
POD_TEMPLATE_HASH = "pod-template-hash"
REVISION_HASH = "controller-revision-hash"


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name", ""))


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("namespace") or "")


def uid_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("uid", ""))


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return meta(obj).get("labels") or {}


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return meta(obj).get("annotations") or {}


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def generation_of(obj: Mapping[str, Any]) -> int:
    return int(meta(obj).get("generation") or 0)


def controller_ref(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference marked ``controller: true``, the one object that manages this."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owned_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == uid_of(owner)


def owner_reference(owner: Mapping[str, Any]) -> Obj:
    """The reference a controller puts on what it creates, so the GC can collect it."""
    return {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def rfc3339(moment: datetime) -> str:
    """Kubernetes' metav1.Time wire form: UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def condition(
    conditions: Iterable[Mapping[str, Any]] | None, kind: str
) -> Mapping[str, Any] | None:
    for cond in conditions or []:
        if cond.get("type") == kind:
            return cond
    return None


def condition_true(conditions: Iterable[Mapping[str, Any]] | None, kind: str) -> bool:
    cond = condition(conditions, kind)
    return cond is not None and cond.get("status") == "True"


def set_condition(
    conditions: list[Obj],
    kind: str,
    status: str,
    reason: str,
    message: str,
    now: datetime,
    *,
    update_time: bool = False,
) -> None:
    """Set a condition the way Kubernetes controllers do.

    Same status and reason: nothing changes (so repeated syncs do not churn).
    Same status, new reason: lastTransitionTime is kept. Otherwise both times move.
    ``update_time`` adds Deployment's lastUpdateTime.
    """
    stamp = rfc3339(now)
    existing = condition(conditions, kind)
    if existing and existing.get("status") == status and existing.get("reason") == reason:
        return
    new: Obj = {"type": kind, "status": status}
    if update_time:
        new["lastUpdateTime"] = stamp
    if existing and existing.get("status") == status:
        new["lastTransitionTime"] = existing.get("lastTransitionTime", stamp)
    else:
        new["lastTransitionTime"] = stamp
    new["reason"] = reason
    new["message"] = message
    remove_condition(conditions, kind)
    conditions.append(new)


def remove_condition(conditions: list[Obj], kind: str) -> None:
    conditions[:] = [c for c in conditions if c.get("type") != kind]


def scaled_value(value: object, total: int, *, round_up: bool, default: str) -> int:
    """Resolve an IntOrString (``3`` or ``"25%"``) against ``total``."""
    if value is None:
        value = default
    if isinstance(value, int):
        return max(value, 0)
    text = str(value).strip()
    if text.endswith("%"):
        fraction = float(text[:-1]) * total / 100.0
        return max(math.ceil(fraction) if round_up else math.floor(fraction), 0)
    return max(int(text), 0)


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions); an empty one matches everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, operator = expr.get("key", ""), expr.get("operator", "")
        values = set(expr.get("values") or [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def template_hash(template: Mapping[str, Any], collision_count: int = 0) -> str:
    """A short stable name suffix for a pod template, like ``pod-template-hash``.

    FNV-1a over canonical JSON of the template without the hash label itself, spelled
    with Kubernetes' safe alphabet so names look like real ones (``web-5d4f8b9c7``).
    """
    body = without_labels(template, (POD_TEMPLATE_HASH, REVISION_HASH))
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in str(value))


def stable_number(text: str) -> int:
    """A number derived from ``text``, for fake but stable IPs and IDs."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def without_zeros(status: Obj, keep: Iterable[str] = ()) -> Obj:
    """Drop zero counters, as Go's ``omitempty`` does on the wire, except ``keep``."""
    kept = set(keep)
    return {k: v for k, v in status.items() if k in kept or v not in (0, None, [], "")}


def json_copy(value: Any) -> Any:
    """A deep copy of JSON data: a few times faster than ``copy.deepcopy``, which the
    controllers would otherwise spend much of their time in."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    return value


def copy_object(obj: Mapping[str, Any], *, status: bool = True) -> Obj:
    """A deep copy of ``obj`` to change and write back (without ``status`` if not
    ``status``). ``metadata.managedFields`` is shared, not copied: often most of an
    object, it is never changed here (and not sent back, see ``KubeAccess``)."""
    out: Obj = {}
    for key, value in obj.items():
        if key == "metadata" and isinstance(value, dict):
            out[key] = {k: v if k == "managedFields" else json_copy(v) for k, v in value.items()}
        elif status or key != "status":
            out[key] = json_copy(value)
    return out


def without_labels(template: Mapping[str, Any], names: Iterable[str]) -> Obj:
    """``template`` (an object or pod template) without the labels ``names``, for
    comparing and hashing; shares everything else with ``template``."""
    body = dict(template)
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("labels"), dict):
        labels = {k: v for k, v in metadata["labels"].items() if k not in names}
        body["metadata"] = {**metadata, "labels": labels}
    return body


def with_status(obj: Mapping[str, Any], status: Mapping[str, Any]) -> Obj:
    updated = copy_object(obj, status=False)
    updated["status"] = json_copy(dict(status))
    return updated
