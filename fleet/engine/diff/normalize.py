"""Make a live object and its server-side apply dry-run comparable.

Both come from the API server, so defaults are filled on both sides; what remains to
remove is bookkeeping that changes on every write (managedFields, resourceVersion, uid,
generation, creationTimestamp, kubectl's last-applied annotation) and the status, which
fleet does not own. Secrets are compared and shown by keyed digest only: ``stringData``
folds into ``data`` first (as the API server does), then every value becomes
``sha256:<16 hex>`` so that no diff, log or history line can carry a secret value.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from fleet.model.annotations import LAST_APPLIED

_METADATA_NOISE = (
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
)
SECRET_FIELDS = ("data", "stringData")


def is_secret(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1"


def secret_digest(value: bytes, key: bytes = b"") -> str:
    """A keyed digest of a secret value: equal values give equal digests, nothing more."""
    return "sha256:" + hmac.new(key, value, hashlib.sha256).hexdigest()[:16]


def _decoded(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError:
        return str(value).encode()


def mask_secret(obj: dict[str, Any], key: bytes = b"") -> None:
    """Fold stringData into data and replace every value by its digest (in place)."""
    data = {k: _decoded(v) for k, v in (obj.get("data") or {}).items()}
    for name, text in (obj.pop("stringData", None) or {}).items():
        data[name] = str(text).encode()
    if data or "data" in obj:
        obj["data"] = {name: secret_digest(value, key) for name, value in sorted(data.items())}


def normalize(
    obj: Mapping[str, Any], secret_key: bytes = b"", *, deep: bool = True
) -> dict[str, Any]:
    """A copy without status and write bookkeeping; Secret values as digests.

    The status and managedFields, most of a live workload, are left out before copying
    rather than copied and dropped. ``deep=False`` shares everything below the top level
    and the metadata with ``obj``: for callers that only read the result.
    """
    clone = copy.deepcopy if deep else _same
    out = {k: clone(v) for k, v in obj.items() if k not in ("status", "metadata")}
    meta = obj.get("metadata")
    if isinstance(meta, Mapping):
        out["metadata"] = slim = {k: clone(v) for k, v in meta.items() if k not in _METADATA_NOISE}
        annotations = slim.get("annotations")
        if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
            slim["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        for key in ("annotations", "labels"):
            if not slim.get(key):
                slim.pop(key, None)
    elif "metadata" in obj:
        out["metadata"] = clone(meta)
    if is_secret(out):
        mask_secret(out, secret_key)
    return out


def _same(value: Any) -> Any:
    return value
