"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

Both are schema-free: a merge patch replaces every list it names, whatever its merge
key. JSON patch uses the ``jsonpatch`` library; its errors are reported with the index
and text of the operation that failed, as a 422 (the API server's answer), and a patch
that is not a list of operations as a 400.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import jsonpointer

from fleet.sim.patching.errors import BadPatch, PatchError
from fleet.sim.patching.values import copy_json

MAX_JSON_PATCH_OPERATIONS = 10000
"""A kube-apiserver refuses longer JSON patches (413)."""


def json_merge_patch(obj: Any, patch: Any) -> Any:
    """``obj`` patched by ``patch`` as RFC 7386 defines it (a new value).

    An object patch merges member by member, ``null`` removing a member; any other patch
    replaces the target whole. (The API server refuses a non-object merge patch before
    getting here; this function keeps the RFC's full semantics.)
    """
    if not isinstance(patch, dict):
        return copy_json(patch)
    target = dict(obj) if isinstance(obj, dict) else {}
    for name, value in patch.items():
        if value is None:
            target.pop(name, None)
        else:
            target[name] = json_merge_patch(target.get(name), value)
    return {k: copy_json(v) for k, v in target.items()}


def json_patch(obj: Any, operations: Any) -> Any:
    """``obj`` with the RFC 6902 ``operations`` applied in order (a new value).

    Raises :class:`BadPatch` when ``operations`` is not a list of operation objects and
    :class:`PatchError` (422) naming the failing operation otherwise.
    """
    if not isinstance(operations, list):
        raise BadPatch("a JSON patch must be a list of operations")
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(
            "The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(operations)}",
            code=413,
            reason="RequestEntityTooLarge",
        )
    document = copy_json(obj)
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict) or not isinstance(operation.get("op"), str):
            raise BadPatch(f"JSON patch operation {index} must be an object with an 'op'")
        try:
            document = jsonpatch.JsonPatch([operation]).apply(document, in_place=True)
        except jsonpatch.InvalidJsonPatch as err:
            raise BadPatch(f"JSON patch operation {index} is invalid: {err}") from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as err:
            raise PatchError(
                f"JSON patch operation {index} ({_describe(operation)}) failed: {err}"
            ) from None
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise PatchError(
                f"JSON patch operation {index} ({_describe(operation)}) failed: {err!r}"
            ) from None
    return document


def _describe(operation: dict[str, Any]) -> str:
    return f"{operation.get('op')} {operation.get('path', '')}".rstrip()
