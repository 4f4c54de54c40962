"""``coordination.k8s.io/v1`` Lease fields as the API server decodes and validates them.

Leader election (client-go's, and fleet's own) reads ``spec.renewTime`` back and
compares it; so the simulator must hold the spec to the real server's types: the
MicroTime fields (``acquireTime``, ``renewTime``) are parsed with Go's
``2006-01-02T15:04:05.000000Z07:00`` layout, which wants exactly six fractional digits,
and are stored in UTC; the integer fields must be JSON integers. A body that does not
decode is 400 BadRequest, as on a real server; values out of range are 422 Invalid.
Optimistic concurrency (409 on a stale ``resourceVersion``, 409 AlreadyExists) is the
store's, common to every kind.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fleet.sim import errors
from fleet.sim.errors import Cause

MICRO_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"
_MICRO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})")
_TIMES = ("acquireTime", "renewTime")
_INT32 = ("leaseDurationSeconds", "leaseTransitions")
_STRINGS = ("holderIdentity", "strategy", "preferredHolder")


def _undecodable(detail: str) -> errors.ApiError:
    return errors.bad_request(f'Lease in version "v1" cannot be handled as a Lease: {detail}')


def micro_time(value: Any, field: str) -> str:
    """``value`` in the canonical MicroTime form (UTC, six digits), or 400."""
    if not isinstance(value, str):
        raise _undecodable(
            f"json: cannot unmarshal {type(value).__name__} into Go struct "
            f"field LeaseSpec.spec.{field} of type string"
        )
    if not _MICRO.fullmatch(value):
        raise _undecodable(f'parsing time "{value}" as "{MICRO_LAYOUT}": cannot parse')
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _undecodable(f'parsing time "{value}": out of range') from None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalize(obj: dict[str, Any]) -> None:
    """Decode ``spec`` as the server would: canonical times, typed fields (400 if not)."""
    spec = obj.get("spec")
    if spec is None:
        return
    if not isinstance(spec, dict):
        raise _undecodable(
            "json: cannot unmarshal into Go struct field Lease.spec of type LeaseSpec"
        )
    for field in _TIMES:
        if spec.get(field) is not None:
            spec[field] = micro_time(spec[field], field)
    for field in _INT32:
        value = spec.get(field)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31
        ):
            raise _undecodable(
                f"json: cannot unmarshal {value!r} into Go struct field "
                f"LeaseSpec.spec.{field} of type int32"
            )
    for field in _STRINGS:
        value = spec.get(field)
        if value is not None and not isinstance(value, str):
            raise _undecodable(
                f"json: cannot unmarshal {value!r} into Go struct field "
                f"LeaseSpec.spec.{field} of type string"
            )


def problems(obj: dict[str, Any]) -> list[Cause]:
    """422 causes: the checks of the API server's Lease validation."""
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        causes.append(
            Cause("spec.leaseDurationSeconds", f"Invalid value: {duration}: must be greater than 0")
        )
    transitions = spec.get("leaseTransitions")
    if transitions is not None and transitions < 0:
        causes.append(
            Cause(
                "spec.leaseTransitions",
                f"Invalid value: {transitions}: must be greater than or equal to 0",
            )
        )
    if spec.get("preferredHolder") and not spec.get("strategy"):
        causes.append(
            Cause(
                "spec.strategy",
                "Required value: must be specified when preferredHolder is set",
                "FieldValueRequired",
            )
        )
    return causes
