"""Small helpers on object metadata shared by the write path and the collectors."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

Obj = dict[str, Any]

#: Characters the API server uses for generateName suffixes (no vowels, no confusables).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    """RFC 3339 in seconds, UTC, as the API server writes timestamps."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_uid() -> str:
    return str(uuid.uuid4())


def generated_name(prefix: str) -> str:
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))
    return prefix[: 63 - 5] + suffix


def metadata(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
        obj["metadata"] = meta
    return meta


def spec_part(obj: Obj, status_apart: bool = True) -> Obj:
    """Everything whose change bumps ``generation``: all but metadata, and but status when
    the kind has a status subresource (without one, a custom resource's status is data
    like any other)."""
    skipped = (
        ("metadata", "apiVersion", "kind", "status")
        if status_apart
        else ("metadata", "apiVersion", "kind")
    )
    return {k: v for k, v in obj.items() if k not in skipped}


def without_volatile(obj: Obj) -> Obj:
    """The object minus what changes on every write: its resourceVersion and the times in
    managedFields. A write equal to the stored object apart from these is a no-op and
    changes nothing, as on a real API server; a change of field ownership is a change."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    if "managedFields" in meta:
        meta["managedFields"] = [
            {k: v for k, v in entry.items() if k != "time"} if isinstance(entry, dict) else entry
            for entry in meta["managedFields"]
        ]
    result = dict(obj)
    result["metadata"] = meta
    return result


def finalizers(obj: Obj) -> list[str]:
    return list(metadata(obj).get("finalizers") or [])
