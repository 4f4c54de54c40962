"""``/openapi/v2`` in protobuf, and which form of an OpenAPI document a client asked for.

kubectl downloads the v2 document only as protobuf (gnostic's ``openapi.v2.Document``,
``Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf``) and has no
JSON fallback: it does so for ``kubectl explain --output=plaintext-openapiv2`` and,
more often, when its ``/openapi/v3`` request fails (a timeout on a busy server), to
learn from v2 whether the server validates fields itself. A JSON body there reads as
"proto: cannot parse invalid wire-format data" and fails the whole ``kubectl apply``.

The encoder below writes the messages of gnostic's ``OpenAPIv2.proto`` that the
simulator's v2 document uses (field numbers from that file). A key it does not know is
a ``ValueError``, not a silent omission: a document that grows a field must grow it here.
Vendor extensions carry their value as YAML text (JSON is YAML), as gnostic does.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from typing import Any

JSON = "application/json"
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
#: What client-go asks for; the answer is labelled with the spelling above, as the API
#: server does (Go's mime parser refuses the "@" in a response's Content-Type).
V2_PROTOBUF_ASKED = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
V3_PROTOBUF = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"

# ------------------------------------------------------------- negotiation


def negotiate(accept: str, offers: tuple[str, ...]) -> str | None:
    """The offer the ``Accept`` header prefers (highest q, then the header's order, then
    ``offers``' order for wildcards); None when it accepts none of them. No header, or
    an empty one, accepts anything."""
    if not accept.strip():
        return offers[0]
    ranges: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            ranges.append((-quality, index, media.lower()))
    for _, _, media in sorted(ranges):
        for offer in offers:
            kind, _, _ = offer.partition("/")
            if media in (offer, "*/*", f"{kind}/*"):
                return offer
    return None


def v2_media(accept: str) -> str | None:
    """The Content-Type to answer with: JSON, protobuf (asked in either spelling), or
    None (406)."""
    chosen = negotiate(accept, (JSON, V2_PROTOBUF_ASKED, V2_PROTOBUF))
    return V2_PROTOBUF if chosen == V2_PROTOBUF_ASKED else chosen


def v3_media(accept: str) -> str | None:
    """JSON, or None: v3 in protobuf is not served, so asking only for it is a 406."""
    return negotiate(accept, (JSON,))


# ---------------------------------------------------------------- wire format


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _nested(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _text(number: int, value: str) -> bytes:
    return _nested(number, value.encode()) if value else b""


def _flag(number: int, value: bool) -> bytes:
    return _varint(number << 3) + b"\x01" if value else b""


def _integer(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value & (2**64 - 1)) if value else b""


def _double(number: int, value: float) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", value) if value else b""


def _any(number: int, value: Any) -> bytes:
    """``openapi.v2.Any`` with its ``yaml`` (field 2)."""
    return _nested(number, _text(2, json.dumps(value, separators=(",", ":"))))


def _extensions(number: int, node: Mapping[str, Any]) -> bytes:
    """``repeated NamedAny vendor_extension`` from the node's ``x-...`` keys."""
    return b"".join(
        _nested(number, _text(1, key) + _any(2, value))
        for key, value in node.items()
        if key.startswith("x-")
    )


def _check(node: Mapping[str, Any], known: frozenset[str], what: str) -> None:
    unknown = [k for k in node if k not in known and not k.startswith("x-")]
    if unknown:
        raise ValueError(f"OpenAPI v2 {what}: no protobuf field for {', '.join(unknown)}")


# ------------------------------------------------------------------- messages

_SCHEMA_FIELDS: dict[str, tuple[int, Callable[[int, Any], bytes]]] = {
    "format": (2, _text),
    "title": (3, _text),
    "description": (4, _text),
    "default": (5, _any),
    "maximum": (7, _double),
    "minimum": (9, _double),
    "maxLength": (11, _integer),
    "minLength": (12, _integer),
    "pattern": (13, _text),
    "maxItems": (14, _integer),
    "minItems": (15, _integer),
    "uniqueItems": (16, _flag),
    "readOnly": (27, _flag),
}
_SCHEMA_KEYS = frozenset(
    {
        "$ref",
        "required",
        "enum",
        "additionalProperties",
        "type",
        "items",
        "allOf",
        "properties",
        *_SCHEMA_FIELDS,
    }
)


def _schema(node: Mapping[str, Any]) -> bytes:
    _check(node, _SCHEMA_KEYS, "schema")
    out = [_text(1, node.get("$ref", ""))]
    for key, (number, encode) in sorted(_SCHEMA_FIELDS.items(), key=lambda kv: kv[1][0]):
        if key in node:
            out.append(encode(number, node[key]))
    out += [_text(19, name) for name in node.get("required", ())]
    out += [_any(20, value) for value in node.get("enum", ())]
    extra = node.get("additionalProperties")
    if isinstance(extra, bool):
        out.append(_nested(21, _flag(2, extra) if extra else _varint(2 << 3) + b"\x00"))
    elif extra is not None:
        out.append(_nested(21, _nested(1, _schema(extra))))
    kinds = node.get("type")
    if kinds is not None:
        names = [kinds] if isinstance(kinds, str) else list(kinds)
        out.append(_nested(22, b"".join(_text(1, name) for name in names)))
    items = node.get("items")
    if items is not None:
        listed = items if isinstance(items, list) else [items]
        out.append(_nested(23, b"".join(_nested(1, _schema(item)) for item in listed)))
    out += [_nested(24, _schema(part)) for part in node.get("allOf", ())]
    properties = node.get("properties")
    if properties is not None:
        out.append(_nested(25, _named(properties, _schema)))
    out.append(_extensions(31, node))
    return b"".join(out)


def _named(mapping: Mapping[str, Any], encode: Callable[[Any], bytes]) -> bytes:
    """``repeated Named...`` entries (name 1, value 2), each as field 1 of the holder."""
    return b"".join(
        _nested(1, _text(1, name) + _nested(2, encode(value))) for name, value in mapping.items()
    )


_PARAMETER_KEYS = frozenset(
    {"name", "in", "description", "required", "type", "format", "uniqueItems", "schema"}
)
#: Where each non-body location puts its sub-schema in ``NonBodyParameter``, and the
#: numbers of type/format/uniqueItems in it (the query one has ``allowEmptyValue`` at 5).
_NON_BODY = {"header": (1, 5, 6, 19), "query": (3, 6, 7, 20), "path": (4, 5, 6, 19)}


def _parameter(node: Mapping[str, Any]) -> bytes:
    """A ``ParametersItem``: a reference, a body parameter or a non-body one."""
    if "$ref" in node:
        return _nested(2, _text(1, node["$ref"]) + _text(2, node.get("description", "")))
    _check(node, _PARAMETER_KEYS, f"parameter {node.get('name', '?')}")
    where = node.get("in", "")
    common = _flag(1, bool(node.get("required"))) + _text(2, where)
    common += _text(3, node.get("description", "")) + _text(4, node.get("name", ""))
    if where == "body":
        body = _text(1, node.get("description", "")) + _text(2, node.get("name", ""))
        body += _text(3, where) + _flag(4, bool(node.get("required")))
        body += _nested(5, _schema(node.get("schema", {}))) + _extensions(6, node)
        return _nested(1, _nested(1, body))
    if where not in _NON_BODY:
        raise ValueError(f"OpenAPI v2 parameter {node.get('name', '?')}: in {where!r}")
    slot, type_at, format_at, unique_at = _NON_BODY[where]
    sub = common + _text(type_at, node.get("type", "")) + _text(format_at, node.get("format", ""))
    sub += _flag(unique_at, bool(node.get("uniqueItems")))
    sub += _extensions(unique_at + 3, node)
    return _nested(1, _nested(2, _nested(slot, sub)))


def _responses(node: Mapping[str, Any]) -> bytes:
    out = []
    for code, response in node.items():
        if code.startswith("x-"):
            continue
        _check(response, frozenset({"description", "schema"}), f"response {code}")
        body = _text(1, response.get("description", ""))
        if "schema" in response:
            body += _nested(2, _nested(1, _schema(response["schema"])))
        body += _extensions(5, response)
        out.append(_nested(1, _text(1, code) + _nested(2, _nested(1, body))))
    return b"".join(out) + _extensions(2, node)


_OPERATION_KEYS = frozenset(
    {
        "tags",
        "summary",
        "description",
        "operationId",
        "produces",
        "consumes",
        "parameters",
        "responses",
        "schemes",
        "deprecated",
    }
)


def _operation(node: Mapping[str, Any]) -> bytes:
    _check(node, _OPERATION_KEYS, f"operation {node.get('operationId', '?')}")
    out = [_text(1, tag) for tag in node.get("tags", ())]
    out += [_text(2, node.get("summary", "")), _text(3, node.get("description", ""))]
    out.append(_text(5, node.get("operationId", "")))
    out += [_text(6, media) for media in node.get("produces", ())]
    out += [_text(7, media) for media in node.get("consumes", ())]
    out += [_nested(8, _parameter(p)) for p in node.get("parameters", ())]
    if "responses" in node:
        out.append(_nested(9, _responses(node["responses"])))
    out += [_text(10, scheme) for scheme in node.get("schemes", ())]
    out += [_flag(11, bool(node.get("deprecated"))), _extensions(13, node)]
    return b"".join(out)


_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(node: Mapping[str, Any]) -> bytes:
    _check(node, frozenset({"$ref", "parameters", *_METHODS}), "path")
    out = [_text(1, node.get("$ref", ""))]
    out += [_nested(number, _operation(node[m])) for m, number in _METHODS.items() if m in node]
    out += [_nested(9, _parameter(p)) for p in node.get("parameters", ())]
    out.append(_extensions(10, node))
    return b"".join(out)


def v2_document(doc: Mapping[str, Any]) -> bytes:
    """The ``openapi.v2.Document`` encoding of a Swagger 2.0 document (a dict)."""
    _check(doc, frozenset({"swagger", "info", "paths", "definitions"}), "document")
    info = doc.get("info", {})
    _check(info, frozenset({"title", "version", "description"}), "info")
    out = [_text(1, doc.get("swagger", ""))]
    out.append(
        _nested(
            2,
            _text(1, info.get("title", ""))
            + _text(2, info.get("version", ""))
            + _text(3, info.get("description", ""))
            + _extensions(7, info),
        )
    )
    paths = doc.get("paths", {})
    named_paths = b"".join(
        _nested(2, _text(1, path) + _nested(2, _path_item(item)))
        for path, item in paths.items()
        if not path.startswith("x-")
    )
    out.append(_nested(8, _extensions(1, paths) + named_paths))
    out.append(_nested(9, _named(doc.get("definitions", {}), _schema)))
    out.append(_extensions(16, doc))
    return b"".join(out)
