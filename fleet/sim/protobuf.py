"""Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``) to JSON.

kubectl sends built-in objects it builds itself (``kubectl create deployment``,
``kubectl run``, ...) as protobuf and does not fall back to JSON on 415, so a server
that only reads JSON cannot be driven by those commands. The body is the envelope
``k8s\\x00`` + ``runtime.Unknown{typeMeta{apiVersion, kind}, raw, contentEncoding,
contentType}``; ``raw`` is the object's Go-protobuf encoding, decoded here with the
field tables of :mod:`fleet.sim.protobuf_schema` into the JSON the same object would
have been sent as.

Go's generated marshaller writes every non-pointer field, zero or not, and pointer
fields only when set; JSON's ``omitempty`` leaves the zero ones out. So a zero scalar is
dropped unless the table marks the field as a pointer. A field number the table does
not know is refused with 415 naming it: silently losing part of an object would be
worse than asking the client to send JSON.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from fleet.sim import errors
from fleet.sim.protobuf_schema import KINDS, MESSAGES

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class _Field:
    __slots__ = ("inline", "kind", "map_value", "name", "pointer", "repeated")

    def __init__(self, spec: str) -> None:
        name, _, kind = spec.partition(":")
        self.name = name
        self.pointer = kind.endswith("?")
        self.inline = kind.endswith("^")
        kind = kind.rstrip("?^")
        self.repeated = kind.endswith("[]")
        self.map_value = kind.endswith("{}")
        self.kind = kind.removesuffix("[]").removesuffix("{}")


_FIELDS: dict[str, dict[int, _Field]] = {
    message: {number: _Field(spec) for number, spec in fields.items()}
    for message, fields in MESSAGES.items()
}


def _unsupported(detail: str) -> errors.ApiError:
    error = errors.unsupported_media_type(PROTOBUF)
    error.message = (
        f"the simulator cannot decode this protobuf body ({detail}); send it as application/json"
    )
    return error


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise _unsupported("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _unsupported("varint too long")


def _fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """The ``(number, wire type, value)`` of each field of one message, in order."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _BYTES:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise _unsupported("truncated field")
            value, pos = data[pos : pos + size], pos + size
        elif wire == _FIXED64:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == _FIXED32:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise _unsupported(f"wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(data: bytes, micro: bool) -> str | None:
    seconds = nanos = 0
    for number, _, value in _fields(data):
        if number == 1 and isinstance(value, int):
            seconds = _signed(value)
        elif number == 2 and isinstance(value, int):
            nanos = _signed(value)
    if seconds == 0 and nanos == 0:
        return None  # Go's zero time: null in JSON, so left out
    moment = datetime.fromtimestamp(seconds, UTC)
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(data: bytes) -> int | str:
    kind, number_value, text = 0, 0, ""
    for number, _, value in _fields(data):
        if number == 1 and isinstance(value, int):
            kind = value
        elif number == 2 and isinstance(value, int):
            number_value = _signed(value)
        elif number == 3 and isinstance(value, bytes):
            text = value.decode()
    return text if kind == 1 else number_value


def _scalar(kind: str, value: int | bytes, where: str) -> Any:
    if kind in ("s", "B", "t", "T", "q", "x") and not isinstance(value, bytes):
        raise _unsupported(f"{where}: expected a length-delimited value")
    if kind in ("i", "b") and not isinstance(value, int):
        raise _unsupported(f"{where}: expected a varint")
    if kind == "s":
        assert isinstance(value, bytes)
        return value.decode()
    if kind == "B":
        assert isinstance(value, bytes)
        return base64.b64encode(value).decode()
    if kind == "i":
        assert isinstance(value, int)
        return _signed(value)
    if kind == "b":
        return bool(value)
    assert isinstance(value, bytes)
    if kind in ("t", "T"):
        return _time(value, micro=kind == "T")
    if kind == "q":
        return next(
            (v.decode() for n, _, v in _fields(value) if n == 1 and isinstance(v, bytes)), ""
        )
    if kind == "x":
        return _int_or_string(value)
    return _message(kind, value, where)


def _is_zero(value: Any) -> bool:
    return value is None or value == "" or value == 0 or value is False


def _message(name: str, data: bytes, where: str) -> dict[str, Any]:
    table = _FIELDS[name]
    out: dict[str, Any] = {}
    for number, _, value in _fields(data):
        field = table.get(number)
        if field is None:
            raise _unsupported(f"field {number} of {name} at {where or 'the object'}")
        path = f"{where}.{field.name}" if where else field.name
        if field.map_value:
            if not isinstance(value, bytes):
                raise _unsupported(f"{path}: expected a map entry")
            key, item = "", None
            for n, _, v in _fields(value):
                if n == 1 and isinstance(v, bytes):
                    key = v.decode()
                elif n == 2:
                    item = _scalar(field.kind, v, f"{path}[{key}]")
            if item is None:
                item = "" if field.kind != "i" else 0
            out.setdefault(field.name, {})[key] = item
            continue
        decoded = _scalar(field.kind, value, path)
        if field.inline:
            out.update(decoded)
        elif field.repeated:
            out.setdefault(field.name, []).append(decoded)
        elif _is_zero(decoded) and not (field.pointer and decoded is not None):
            out.pop(field.name, None)
        else:
            out[field.name] = decoded
    return out


def is_protobuf(content_type: str) -> bool:
    return content_type == PROTOBUF


def decode_envelope(body: bytes) -> dict[str, Any]:
    """The JSON object of a protobuf request body, or 415 naming what cannot be read."""
    if not body.startswith(MAGIC):
        raise _unsupported("no k8s protobuf envelope")
    api_version = kind = ""
    raw = b""
    encoding = ""
    for number, _, value in _fields(body[len(MAGIC) :]):
        if not isinstance(value, bytes):
            continue
        if number == 1:
            for n, _, v in _fields(value):
                if n == 1 and isinstance(v, bytes):
                    api_version = v.decode()
                elif n == 2 and isinstance(v, bytes):
                    kind = v.decode()
        elif number == 2:
            raw = value
        elif number == 3:
            encoding = value.decode()
    if encoding:
        raise _unsupported(f"content encoding {encoding!r}")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise _unsupported(f"kind {kind!r} of {api_version!r}")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    obj.update(_message(message, raw, ""))
    return obj
