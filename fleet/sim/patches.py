"""The four patch types and field ownership, mapped onto :mod:`fleet.sim.patching`.

The algorithms (JSON patch, JSON merge patch, strategic merge patch, server-side apply
and the ``managedFields`` bookkeeping of other writes) are pure functions in
:mod:`fleet.sim.patching`; this adapter picks the schema of a kind (built-in table, or
the CRD's own schema), calls them, and turns their failures into API errors.
"""

from __future__ import annotations

from typing import Any

from fleet.sim import errors, meta, patching, wire
from fleet.sim.options import WriteOptions
from fleet.sim.registry import ResourceType

Obj = dict[str, Any]

PATCH_TYPES = (wire.JSON_PATCH, wire.MERGE_PATCH, wire.STRATEGIC_PATCH, wire.APPLY_YAML)


def schema_for(rt: ResourceType, version: str, crd: Obj | None) -> patching.Schema:
    """How patches and apply see ``rt`` at ``version``."""
    if rt.custom and crd is not None:
        try:
            return patching.schema_for_crd(crd, version)
        except patching.UnknownKind:
            pass
    try:
        return patching.kind_schema(rt.group, version, rt.kind)
    except patching.UnknownKind:
        return patching.generic_schema(
            rt.group,
            version,
            rt.kind,
            status_subresource=rt.status,
            scale_subresource=rt.scale,
            strategic_merge=not rt.custom,
        )


def scale_schema() -> patching.Schema:
    try:
        return patching.kind_schema("autoscaling", "v1", "Scale")
    except patching.UnknownKind:
        return patching.generic_schema("autoscaling", "v1", "Scale")


def _api_error(error: patching.PatchError, rt: ResourceType | None, name: str) -> errors.ApiError:
    causes = tuple(
        errors.Cause(str(c.get("field", "")), str(c.get("message", "")), str(c.get("reason", "")))
        for c in error.causes
    )
    if error.code == 422 and rt is not None and not error.message.startswith(f"{rt.kind}"):
        message = (
            f'{rt.kind}.{rt.group} "{name}" is invalid: {error.message}'
            if rt.group
            else f'{rt.kind} "{name}" is invalid: {error.message}'
        )
    else:
        message = error.message
    return errors.ApiError(
        error.code,
        error.reason,
        message,
        name=name,
        group=rt.group if rt else "",
        kind=rt.plural if rt else "",
        causes=causes,
    )


def patch_type(content_type: str, rt: ResourceType) -> str:
    accepted = [t for t in PATCH_TYPES if not (t == wire.STRATEGIC_PATCH and rt.custom)]
    if content_type == "application/apply-patch+json":
        content_type = wire.APPLY_YAML
    if content_type not in accepted:
        raise errors.ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted "
            f"media types include: {', '.join(accepted)}",
        )
    return content_type


def patch(
    kind: str,
    current: Obj,
    body: Any,
    schema: patching.Schema,
    opts: WriteOptions,
    rt: ResourceType | None,
    subresource: str = "",
) -> Obj:
    """``current`` changed by the patch ``body`` of content type ``kind``."""
    name = str((current.get("metadata") or {}).get("name", ""))
    try:
        if kind == wire.JSON_PATCH:
            result = patching.json_patch(current, body)
        elif kind == wire.MERGE_PATCH:
            if not isinstance(body, dict):
                raise errors.bad_request("the body of a merge patch must be a JSON object")
            result = patching.json_merge_patch(current, body)
        elif kind == wire.STRATEGIC_PATCH:
            result = patching.strategic_merge_patch(current, body, schema)
        else:
            return apply(current, body, schema, opts, rt, subresource)
    except patching.PatchError as error:
        raise _api_error(error, rt, name) from None
    if not isinstance(result, dict):
        raise errors.bad_request("the patched object is not a JSON object")
    return result


def apply(
    live: Obj | None,
    body: Any,
    schema: patching.Schema,
    opts: WriteOptions,
    rt: ResourceType | None,
    subresource: str = "",
) -> Obj:
    """Server-side apply of ``body`` onto ``live`` (None: create); managedFields included."""
    name = str(((body if isinstance(body, dict) else {}).get("metadata") or {}).get("name", ""))
    try:
        result = patching.server_side_apply(
            live,
            body,
            opts.field_manager,
            force=opts.force,
            schema=schema,
            now=meta.now(),
            subresource=subresource,
        )
    except patching.PatchError as error:
        raise _api_error(error, rt, name) from None
    return dict(result.object)


def track(
    old: Obj | None,
    new: Obj,
    opts: WriteOptions,
    operation: str,
    subresource: str,
    schema: patching.Schema,
) -> None:
    """Set ``new``'s managedFields after a non-apply write (in place)."""
    if operation == "Apply" or not opts.field_manager:
        return
    entries = patching.track_update(
        old, new, opts.field_manager, now=meta.now(), schema=schema, subresource=subresource
    )
    md = meta.metadata(new)
    if entries:
        md["managedFields"] = entries
    else:
        md.pop("managedFields", None)
