"""How values are written to SQLite columns and read back.

Times are stored as ISO 8601 text in UTC with a fixed width (microseconds, ``+00:00``),
so that text order is time order (indexes and ``<`` work) and a human reading the file
with ``sqlite3`` sees real dates. Naive datetimes are refused: a time without a zone is a
bug waiting for a daylight-saving change.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

from fleet.adapters.store.records import InvalidRecordError

#: orjson writes datetimes, dataclasses and subclasses of str/int/dict by itself; the
#: store refuses what ``json`` refuses, so those go to ``_refuse`` like any other type.
_STRICT = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def encode_time(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidRecordError(f"naive datetime {moment!r}: the store needs a time zone")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def decode_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def decode_optional_time(text: str | None) -> datetime | None:
    return None if text is None else decode_time(text)


class JSONText(str):
    """A value already encoded as JSON by a serializer the caller trusts (pydantic's
    ``dump_json``), stored as it is: decoding it only to encode it again was 2 % of the
    daemon's CPU in a 100-cluster update (a sync's progress, after every batch)."""

    __slots__ = ()


def encode_json(value: Any, what: str) -> str:
    """Compact JSON with sorted keys; a value JSON cannot hold is an InvalidRecordError.

    orjson first: a sync saves its progress after every batch, and ``json.dumps`` of it
    was 1.4 % of the daemon's CPU in a 100-cluster update. It writes NaN and infinities
    as ``null`` and refuses keys that are not strings, so a text holding ``null`` and any
    value orjson refused go through ``json``, which decides as before.
    """
    if type(value) is JSONText:
        return str(value)
    try:
        text = orjson.dumps(value, default=_refuse, option=_STRICT)
        if b"null" not in text:
            return text.decode()
    except TypeError:
        pass
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidRecordError(f"{what} is not JSON-serialisable: {error}") from error


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def decode_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)
