"""Faults a simulated cluster can be told to show, switchable while it runs.

A :class:`Faults` object belongs to one cluster; its fields are read on every request
by the middleware built by :func:`middleware`: added ``latency`` (seconds), an
``error_rate`` (0..1) answered with ``error_code`` (500, 503, or 429 with
``Retry-After``), ``drop_rate`` (0..1: the connection is cut with no answer), and
``down()`` / ``up()`` (the listening socket is closed, so connections are refused, and
open connections are cut; ``up()`` listens again on the same port). ``paths`` narrows
latency, errors and drops to requests whose path starts with one of its prefixes (say
``/openapi/v3``, to fail one step of a client the way a busy server sometimes does).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from fleet.sim import errors, wire

SUPPORTED_CODES = (429, 500, 503)


@dataclass(slots=True)
class Faults:
    latency: float = 0.0
    error_rate: float = 0.0
    error_code: int = 500
    retry_after: int = 1
    drop_rate: float = 0.0
    #: Path prefixes the request faults apply to; empty: every path.
    paths: tuple[str, ...] = ()
    _switch: Callable[[bool], None] | None = field(default=None, repr=False)
    _down: bool = field(default=False, repr=False)
    _random: random.Random = field(default_factory=random.Random, repr=False)

    # -------------------------------------------------------------- settings

    @property
    def drop_connections(self) -> bool:
        """True when every request's connection is cut (``drop_rate`` 1)."""
        return self.drop_rate >= 1.0

    @drop_connections.setter
    def drop_connections(self, value: bool) -> None:
        self.drop_rate = 1.0 if value else 0.0

    @property
    def is_down(self) -> bool:
        return self._down

    def down(self) -> None:
        """Stop listening: new connections are refused, open ones are cut."""
        if not self._down and self._switch is not None:
            self._switch(False)
        self._down = True

    def up(self) -> None:
        """Listen again on the same port."""
        if self._down and self._switch is not None:
            self._switch(True)
        self._down = False

    def clear(self) -> None:
        """No faults at all, and up."""
        self.latency = 0.0
        self.error_rate = 0.0
        self.error_code = 500
        self.retry_after = 1
        self.drop_rate = 0.0
        self.paths = ()
        self.up()

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency": self.latency,
            "error_rate": self.error_rate,
            "error_code": self.error_code,
            "retry_after": self.retry_after,
            "drop_rate": self.drop_rate,
            "paths": list(self.paths),
            "down": self._down,
        }

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial settings dict (as the admin endpoint receives it); checks first."""
        allowed = {
            "latency",
            "error_rate",
            "error_code",
            "retry_after",
            "drop_rate",
            "drop_connections",
            "paths",
            "down",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        for key in ("latency", "error_rate", "drop_rate"):
            if key in changes and (not isinstance(changes[key], int | float) or changes[key] < 0):
                raise ValueError(f"{key} must be a non-negative number")
        for key in ("error_rate", "drop_rate"):
            if key in changes and changes[key] > 1:
                raise ValueError(f"{key} must be between 0 and 1")
        if "error_code" in changes and changes["error_code"] not in SUPPORTED_CODES:
            raise ValueError(f"error_code must be one of {SUPPORTED_CODES}")
        if "retry_after" in changes and (
            not isinstance(changes["retry_after"], int) or changes["retry_after"] < 0
        ):
            raise ValueError("retry_after must be a non-negative integer")
        if "paths" in changes:
            paths = changes["paths"]
            if not isinstance(paths, list) or not all(
                isinstance(p, str) and p.startswith("/") for p in paths
            ):
                raise ValueError("paths must be a list of path prefixes starting with /")
        for key in ("latency", "error_rate", "error_code", "retry_after", "drop_rate"):
            if key in changes:
                setattr(self, key, changes[key])
        if "paths" in changes:
            self.paths = tuple(changes["paths"])
        if "drop_connections" in changes:
            self.drop_connections = bool(changes["drop_connections"])
        if "down" in changes:
            if changes["down"]:
                self.down()
            else:
                self.up()

    # ---------------------------------------------------------------- effect

    def applies_to(self, path: str) -> bool:
        return not self.paths or path.startswith(self.paths)

    def roll(self, rate: float) -> bool:
        return rate > 0 and (rate >= 1 or self._random.random() < rate)

    def error(self) -> errors.ApiError:
        if self.error_code == 429:
            return errors.too_many_requests(self.retry_after)
        if self.error_code == 503:
            return errors.unavailable(
                "the server is currently unable to handle the request (simulated)"
            )
        return errors.internal("simulated server error")


def middleware(faults: Faults) -> Middleware:
    @web.middleware
    async def apply_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not faults.applies_to(request.path):
            return await handler(request)
        if faults.latency > 0:
            await asyncio.sleep(faults.latency)
        if faults.roll(faults.drop_rate):
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing is sent: the client sees a dropped connection
        if faults.roll(faults.error_rate):
            return wire.error_response(faults.error())
        return await handler(request)

    return apply_faults
