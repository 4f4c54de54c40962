"""Strategic merge patch, as a kube-apiserver applies it to a built-in kind.

Objects merge key by key and ``null`` deletes a key. Lists follow the field's
``patchStrategy``: with ``merge`` a list of objects merges item by item on its
``patchMergeKey`` (containers by ``name``, ports by ``containerPort``) and a list of
scalars becomes the union; without it a list is replaced. Directives:

- ``{"$patch": "replace"}`` in an object replaces the object with the rest of the patch;
  as an item of a merged list, it replaces the list with the other items of the patch;
- ``{"$patch": "delete"}`` in an object empties it; as an item (with the merge key), it
  deletes the matching items;
- ``$retainKeys: [..]`` keeps only the named keys of the object (and the patch may set no
  others);
- ``$deleteFromPrimitiveList/<field>: [..]`` removes those values from a scalar list;
- ``$setElementOrder/<field>: [..]`` orders the merged list: items it names first, in its
  order, the others where the live list had them.

The merged list keeps the patch's order for the items it names and the live order for
the rest. Errors are those of the API server: malformed directives answer 400, lists of
lists 422, anything else (a missing merge key, an unknown ``$patch`` value) 500, as a
kube-apiserver reports them. Custom resources do not take strategic merge patches (415).
Newly added values lose their ``null`` members and stray directives, as decoding into the
typed object does.
"""

from __future__ import annotations

from typing import Any

from fleet.sim.patching.errors import BadPatch, PatchError, StrategicMergeUnsupported
from fleet.sim.patching.schema import Schema
from fleet.sim.patching.types import ListOf, Type, child_type, item_type
from fleet.sim.patching.values import MISSING, canonical_json, copy_json, json_equal

PATCH = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_LIST = "$deleteFromPrimitiveList"
SET_ORDER = "$setElementOrder"


class _Unexpected(PatchError):
    """An error the API server does not classify: it answers 500."""

    code = 500
    reason = ""


def strategic_merge_patch(obj: Any, patch: Any, schema: Schema) -> Any:
    """``obj`` with the strategic merge ``patch`` applied (a new value)."""
    if not schema.strategic_merge:
        raise StrategicMergeUnsupported()
    if not isinstance(patch, dict):
        raise BadPatch("a strategic merge patch must be a JSON object")
    original = copy_json(obj) if isinstance(obj, dict) else {}
    return _merge_map(original, copy_json(patch), schema.root)


def _go(value: Any) -> str:
    """Roughly how Go's ``%v`` prints a decoded JSON value (for error messages)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _no_merge_key(item: Any, key: str) -> PatchError:
    return _Unexpected(f"map: {_go(item)} does not contain declared merge key: {key}")


def _strategy(node: Any) -> str:
    """The strategy that matters when applying (``retainKeys`` only matters when a
    client computes a patch)."""
    parts = [p for p in str(getattr(node, "patch_strategy", "")).split(",") if p]
    rest = [p for p in parts if p != "retainKeys"]
    if len(parts) > 2 or len(rest) > 1:
        raise _Unexpected(f"unexpected patch strategy: {parts}")
    return rest[0] if rest else ""


def _slice_meta(node: Type, name: str) -> tuple[Type, str, str]:
    list_node, _named = child_type(node, name)
    merge_key = list_node.patch_merge_key if isinstance(list_node, ListOf) else ""
    return item_type(list_node), _strategy(list_node), merge_key


# -- objects ---------------------------------------------------------------------------


def _merge_map(original: Any, patch: dict[str, Any], node: Type) -> dict[str, Any]:
    if PATCH in patch:
        return _map_directive(patch)
    target: dict[str, Any] = original if isinstance(original, dict) else {}
    _retain_keys(target, patch)
    _set_element_orders(target, patch, node)
    for raw_key, value in patch.items():
        key, delete_list = raw_key, False
        if raw_key.startswith(DELETE_FROM_LIST):
            key, delete_list = _suffix(raw_key, DELETE_FROM_LIST), True
        if value is None:
            target.pop(key, None)
            continue
        current = target.get(key, MISSING)
        if current is MISSING or type(current) is not type(value):
            if not delete_list:
                _set_cleaned(target, key, value)
            continue
        if not isinstance(value, dict | list):
            _set_cleaned(target, key, value)
            continue
        if isinstance(value, dict):
            sub, _named = child_type(node, key)
            if _strategy(sub) == "replace":
                target[key] = _clean_new(value)[0]
            else:
                target[key] = _merge_map(current, value, sub)
        else:
            items, strategy, merge_key = _slice_meta(node, key)
            target[key] = _merge_slice_handler(
                current, value, items, strategy, merge_key, delete_list
            )
    return target


def _set_cleaned(target: dict[str, Any], key: str, value: Any) -> None:
    cleaned, keep = _clean_new(value)
    if keep:
        target[key] = cleaned
    else:
        target.pop(key, None)


def _map_directive(patch: dict[str, Any]) -> dict[str, Any]:
    directive = patch[PATCH]
    if directive == "replace":
        del patch[PATCH]
        return dict(_clean_new(patch)[0])
    if directive == "delete":
        return {}
    raise _Unexpected(f"unknown patch type: {_go(directive)} in map: {_go(patch)}")


def _suffix(key: str, prefix: str) -> str:
    head, sep, tail = key.partition("/")
    if head != prefix or not sep:
        if prefix == SET_ORDER:
            raise BadPatch("invalid patch format of setElementOrder list")
        raise BadPatch("invalid patch format of primitive list")
    return tail


def _retain_keys(target: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    retained = patch.pop(RETAIN_KEYS)
    if not isinstance(retained, list):
        raise BadPatch("invalid patch format of retainKeys")
    keep = {canonical_json(k) for k in retained}
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_LIST, SET_ORDER)):
            continue
        if canonical_json(key) not in keep:
            raise BadPatch("invalid patch format of retainKeys")
    for key in [k for k in target if canonical_json(k) not in keep]:
        del target[key]


def _discard_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _discard_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_discard_nulls(v) for v in value]
    return value


def _remove_directives(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        if PATCH in value:
            return None, False
        out: dict[str, Any] = {}
        for key, child in value.items():
            if key == RETAIN_KEYS or key.startswith((SET_ORDER + "/", DELETE_FROM_LIST + "/")):
                continue
            cleaned, keep = _remove_directives(child)
            if keep:
                out[key] = cleaned
        return out, True
    if isinstance(value, list):
        kept = [_remove_directives(v) for v in value]
        return [v for v, keep in kept if keep], True
    return value, True


def _clean_new(value: Any) -> tuple[Any, bool]:
    return _remove_directives(_discard_nulls(value))


# -- $setElementOrder ------------------------------------------------------------------


def _set_element_orders(target: dict[str, Any], patch: dict[str, Any], node: Type) -> None:
    for directive in [k for k in patch if k.startswith(SET_ORDER)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _Unexpected(f"expected a list, but received {_go(order)}")
        name = _suffix(directive, SET_ORDER)
        current, patched = target.get(name, MISSING), patch.get(name, MISSING)
        for value in (current, patched):
            if value is not MISSING and not isinstance(value, list):
                raise _Unexpected(f"expected a list, but received {_go(value)}")
        items, strategy, merge_key = _slice_meta(node, name)
        _check_order(patched if patched is not MISSING else [], order, merge_key)
        if current is MISSING and patched is MISSING:
            continue
        if patched is MISSING:
            merged = current
        elif current is MISSING:
            merged = _clean_new(patched)[0]
        else:
            merged = _merge_slice_handler(current, patched, items, strategy, merge_key, False)
        kind = _element_kind(current or [], patched or [])
        in_order, server_only = _partition(merged, order, merge_key)
        target[name] = _normalize(in_order, server_only, order, current or [], merge_key, kind)
        patch.pop(name, None)


def _check_order(patched: list[Any], order: list[Any], merge_key: str) -> None:
    if not patched or not order:
        return
    pending = [v for v in patched if not _is_delete(v)] if merge_key else patched
    at = seen = 0
    while at < len(pending) and seen < len(order):
        item = pending[at]
        if isinstance(item, dict) and PATCH in item:
            at += 1
            continue
        if _same_key(item, order[seen], merge_key):
            at += 1
        seen += 1
    if at < len(pending):
        raise _Unexpected(
            f"the order in patch list:\n{_go(patched)}\n doesn't match "
            f"{SET_ORDER} list:\n{_go(order)}"
        )


def _same_key(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return json_equal(left, right)
    for item in (left, right):
        if not isinstance(item, dict) or merge_key not in item:
            raise _no_merge_key(item, merge_key)
    return json_equal(left[merge_key], right[merge_key])


def _is_delete(item: Any) -> bool:
    return isinstance(item, dict) and item.get(PATCH) == "delete"


# -- lists -----------------------------------------------------------------------------


def _merge_slice_handler(
    current: list[Any],
    patched: list[Any],
    items: Type,
    strategy: str,
    merge_key: str,
    delete_list: bool,
) -> list[Any]:
    if strategy == "merge" or delete_list:
        return _merge_slice(current, patched, items, merge_key, delete_list)
    return list(_clean_new(patched)[0])


def _element_kind(*lists: list[Any]) -> str:
    kinds = {_kind(v) for values in lists for v in values}
    if "list" in kinds:
        raise PatchError("lists of lists are not supported")
    if len(kinds) > 1:
        raise _Unexpected(f"list element types are not identical: {_go(list(lists))}")
    return kinds.pop() if kinds else "scalar"


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    return "scalar:" + type(value).__name__


def _merge_slice(
    current: list[Any], patched: list[Any], items: Type, merge_key: str, delete_list: bool
) -> list[Any]:
    if not current and not patched:
        return current
    kind = _element_kind(current, patched)
    if kind != "map":
        if delete_list:
            gone = {canonical_json(v) for v in patched}
            return [v for v in current if canonical_json(v) not in gone]
        merged: list[Any] = []
        seen: set[str] = set()
        for value in current + patched:
            if canonical_json(value) not in seen:
                seen.add(canonical_json(value))
                merged.append(value)
    else:
        if not merge_key:
            raise _Unexpected("cannot merge lists without merge key")
        current, patched = _special_items(current, patched, merge_key)
        merged = list(current)
        for item in patched:
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            at = _find(merged, merge_key, item[merge_key])
            if at is None:
                cleaned, keep = _clean_new(item)
                if keep:
                    merged.append(cleaned)
            else:
                merged[at] = _merge_map(merged[at], item, items)
    in_patch, server_only = _partition(merged, patched, merge_key)
    return _normalize(in_patch, server_only, patched, current, merge_key, kind)


def _special_items(
    current: list[Any], patched: list[Any], merge_key: str
) -> tuple[list[Any], list[Any]]:
    plain: list[Any] = []
    replace = False
    for item in patched:
        if PATCH not in item:
            plain.append(item)
            continue
        directive = item[PATCH]
        if directive == "delete":
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            current = [
                v
                for v in current
                if not (_is_map(v) and merge_key in v and json_equal(v[merge_key], item[merge_key]))
            ]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _Unexpected("merging lists cannot yet be specified in the patch")
        else:
            raise _Unexpected(f"unknown patch type: {_go(directive)} in map: {_go(item)}")
    if replace:
        return [_clean_new(v)[0] for v in plain], []
    return current, plain


def _is_map(value: Any) -> bool:
    if not isinstance(value, dict):
        raise _Unexpected(f"value {_go(value)} is not a map")
    return True


def _find(items: list[Any], merge_key: str, value: Any) -> int | None:
    for at, item in enumerate(items):
        if _is_map(item) and merge_key in item and json_equal(item[merge_key], value):
            return at
    return None


def _identity(item: Any, merge_key: str) -> str:
    if merge_key:
        if not isinstance(item, dict) or merge_key not in item:
            raise _no_merge_key(item, merge_key)
        return canonical_json(item[merge_key])
    return canonical_json(item)


def _partition(merged: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    named = {
        _identity(v, merge_key)
        for v in by
        if not (merge_key and isinstance(v, dict) and PATCH in v)
    }
    inside = [v for v in merged if _identity(v, merge_key) in named]
    outside = [v for v in merged if _identity(v, merge_key) not in named]
    return inside, outside


def _position(order: list[Any], item: Any, merge_key: str, kind: str) -> int:
    for at, candidate in enumerate(order):
        if kind == "map":
            if (
                isinstance(candidate, dict)
                and isinstance(item, dict)
                and json_equal(candidate.get(merge_key), item.get(merge_key))
            ):
                return at
        elif json_equal(candidate, item):
            return at
    return -1


def _sort_by(items: list[Any], order: list[Any], merge_key: str, kind: str) -> list[Any]:
    deletes: list[Any] = []
    if kind == "map":
        for item in [*items, *order]:
            if not isinstance(item, dict) or merge_key not in item:
                raise _no_merge_key(item, merge_key)
        deletes = [v for v in items if _is_delete(v)]
        items = [v for v in items if not _is_delete(v)]
    return sorted(items, key=lambda v: _position(order, v, merge_key, kind)) + deletes


def _normalize(
    in_patch: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str,
    kind: str,
) -> list[Any]:
    """Patch items in patch order, live-only items in live order, interleaved by where
    the live list had them."""
    right = _sort_by(in_patch, patch_order, merge_key, kind)
    left = _sort_by(server_only, server_order, merge_key, kind)
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _position(server_order, left[i], merge_key, kind)
            ri = _position(server_order, right[j], merge_key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out
