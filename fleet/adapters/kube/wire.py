"""JSON on the wire to a cluster: orjson, with the standard library for what it refuses.

Decoding watch events and answers, and encoding request bodies, were about a tenth of
the daemon's CPU with ``json`` and kubernetes_asyncio's ``sanitize_for_serialization``
walk of every body. orjson does both several times faster, and agrees with them on
everything a Kubernetes object holds. Where it does not (a lone surrogate escape,
``NaN``, an integer past 64 bits to encode, a type it cannot encode), the old way is
taken, so the bytes sent and the objects read are those the library would have produced.
Two exceptions, neither of which a Kubernetes object can hold: see ``decode`` for
integers past 64 bits, and a float NaN or infinity in a body is sent as ``null`` (the
standard library writes ``NaN``, which the API server refuses as invalid JSON).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

import orjson

_ENCODE_OPTIONS = orjson.OPT_NON_STR_KEYS


def _as_plain(value: Any) -> Any:
    """Only called by orjson for a value it cannot encode: mappings, then give up."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(body: Any) -> bytes:
    """The request body as kubernetes_asyncio's ``json.dumps(sanitize(body))`` encodes it."""
    try:
        return orjson.dumps(body, default=_as_plain, option=_ENCODE_OPTIONS)
    except TypeError:
        return json.dumps(_sanitize(body)).encode()


def decode(raw: bytes | str) -> Any:
    """A JSON document, as ``json.loads`` reads it.

    But for one thing no API server sends: an integer literal past 64 bits, which orjson
    reads as the nearest float (Kubernetes decodes numbers into int64 or float64, so it
    writes such a number back as a float literal, which both read alike).
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def _sanitize(value: Any) -> Any:
    """What kubernetes_asyncio's ApiClient makes of a body before ``json.dumps``."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_sanitize(item) for item in value]
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _sanitize(item) for key, item in value.items()}
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
