"""Value types shared by the fleet config and the daemon settings.

Each type parses what people write in YAML (``30s``, ``25%``, ``prod-eu-1``) into a
plain Python value, and rejects anything else with a message that says what is
expected, since that message is all a user sees next to the line number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainValidator, ValidationInfo
from pydantic_core import PydanticCustomError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> timedelta:
    """``30s``, ``5m``, ``1h30m``, ``500ms``, ``2d`` (or ``0``) -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return timedelta(0)
    text = value.strip() if isinstance(value, str) else None
    if text == "0":
        return timedelta(0)
    if text and _DURATION_PART.sub("", text) == "":
        seconds = sum(
            float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text)
        )
        return timedelta(seconds=seconds)
    raise PydanticCustomError(
        "duration",
        "invalid duration {shown}: write a number with a unit (ms, s, m, h, d), like 30s or 1h30m",
        {"shown": repr(value)},
    )


def format_duration(value: timedelta) -> str:
    """The shortest spelling that parse_duration reads back (``90s`` -> ``1m30s``)."""
    millis = round(value.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    if millis:
        parts.append(f"{millis}ms")
    return "".join(parts)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise PydanticCustomError("duration", "must be longer than 0s")
    return value


#: A duration of zero or more, written like ``30s``.
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
#: A duration of more than zero.
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]


_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def _check_name(value: str) -> str:
    if len(value) > 63 or not _NAME.match(value):
        raise PydanticCustomError(
            "name",
            "invalid name {shown}: use at most 63 lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit",
            {"shown": repr(value)},
        )
    return value


#: Names of clusters, sources, apps and waves (they appear in labels and file names).
Name = Annotated[str, AfterValidator(_check_name)]

_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _check_label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if (
        not name
        or len(name) > 63
        or not _LABEL_NAME.match(name)
        or ("/" in value and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)))
    ):
        raise PydanticCustomError(
            "label_key",
            "invalid label key {shown}: an optional DNS prefix and '/', then at most 63 "
            "letters, digits, '-', '_' or '.' starting and ending with a letter or digit",
            {"shown": repr(value)},
        )
    return value


def _check_label_value(value: str) -> str:
    if len(value) > 63 or (value and not _LABEL_NAME.match(value)):
        raise PydanticCustomError(
            "label_value",
            "invalid label value {shown}: at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit (quote numbers: '1')",
            {"shown": repr(value)},
        )
    return value


LabelKey = Annotated[str, AfterValidator(_check_label_key)]
LabelValue = Annotated[str, AfterValidator(_check_label_value)]


@dataclass(frozen=True, slots=True)
class Amount:
    """A count (``2``) or a share of a total (``25%``), as rollout limits are written."""

    value: float
    percent: bool = False

    def of(self, total: int) -> int:
        """The count this amount means for ``total`` items (a share rounds down)."""
        if not self.percent:
            return int(self.value)
        return int(total * self.value / 100)

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.percent else str(int(self.value))


def parse_amount(value: object) -> Amount:
    if isinstance(value, Amount):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Amount(float(value))
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)
        if match and float(match.group(1)) <= 100:
            return Amount(float(match.group(1)), percent=True)
    raise PydanticCustomError(
        "amount",
        "invalid amount {shown}: write a count (like 2) or a share (like 25%)",
        {"shown": repr(value)},
    )


#: A count or a percentage of a total.
AmountValue = Annotated[Amount, PlainValidator(parse_amount)]


def parse_share(value: object) -> float:
    """A fraction in 0..1, written ``0.5`` or ``50%``."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)
        if match and float(match.group(1)) <= 100:
            return float(match.group(1)) / 100
    elif isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    raise PydanticCustomError(
        "share",
        "invalid share {shown}: write a fraction from 0 to 1 (like 0.5) or a percentage (50%)",
        {"shown": repr(value)},
    )


Share = Annotated[float, BeforeValidator(parse_share)]


def _resolve_path(value: Any, info: ValidationInfo) -> Any:
    """Relative paths are relative to the file they were written in (``base_dir``)."""
    if not isinstance(value, str | Path):
        return value  # the Path validator reports the type error
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("path", "a file path must not be empty")
    path = Path(value).expanduser()
    base = (info.context or {}).get("base_dir")
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path


#: A local file path; relative paths are taken from the directory of the config file.
FilePath = Annotated[Path, BeforeValidator(_resolve_path)]
