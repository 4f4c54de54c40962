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

from fleet.adapters.store.records import InvalidRecordError


def encode_time(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidRecordError(f"naive datetime {moment!r}: the store needs a time zone")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def decode_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def decode_optional_time(text: str | None) -> datetime | None:
    return None if text is None else decode_time(text)


def encode_json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidRecordError(f"{what} is not JSON-serialisable: {error}") from error


def decode_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)
