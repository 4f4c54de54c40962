"""How much one render may read, produce and consume, and the error for going past it.

A repository is untrusted input: a 420-byte YAML alias bomb, a 100 MB file or a chart
printing 200 MB must fail its own app with an error naming the file and the limit, not
stop the daemon. The limits are per render (one app for one cluster at one commit):

- ``max_file_bytes``: any one file a render reads (manifests, kustomizations, values
  files, chart files);
- ``max_rendered_bytes``: the YAML a render yields (plain files together, a Kustomize
  build's output, a chart's rendered templates);
- ``max_objects``: objects in that YAML (``*List`` items counted one by one);
- ``cpu_seconds``, ``memory_bytes``, ``timeout_seconds``: enforced on the render process
  (see ``isolation.py``); a render that exceeds them is killed.

The checks in this module run where the render runs; :func:`current` is set per render
by the render process, so deep helpers (``sandbox.read_text``) need no extra argument.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fleet.adapters.render.errors import RenderError

MiB = 1 << 20


class LimitExceededError(RenderError):
    """A render read, produced or consumed more than its limits allow."""


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """The bounds of one render; ``setting`` names say where users change them."""

    max_file_bytes: int = 16 * MiB
    max_rendered_bytes: int = 64 * MiB
    max_objects: int = 10_000
    cpu_seconds: float = 60.0
    memory_bytes: int = 2048 * MiB
    timeout_seconds: float = 120.0


DEFAULT_LIMITS = RenderLimits()
_current: contextvars.ContextVar[RenderLimits | None] = contextvars.ContextVar(
    "fleet_render_limits", default=None
)


def current() -> RenderLimits:
    """The limits of the render running in this context (the defaults outside one)."""
    return _current.get() or DEFAULT_LIMITS


@contextmanager
def applied(limits: RenderLimits) -> Iterator[None]:
    """Make ``limits`` the current ones for the duration of a render."""
    token = _current.set(limits)
    try:
        yield
    finally:
        _current.reset(token)


def size_text(count: float) -> str:
    """Bytes as people read them: ``16 MiB``, ``1.5 GiB``, ``420 bytes``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1 << 10)):
        if count >= size:
            value = count / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{int(count)} bytes"


def check_file(root: Path, rel: str) -> None:
    """Refuse a file larger than ``render.max_file_size`` before anything reads it."""
    limit = current().max_file_bytes
    try:
        size = os.stat(root / rel).st_size
    except OSError:
        return  # the reader reports a missing or unreadable file in its own words
    if size > limit:
        raise LimitExceededError(
            f"file is {size_text(size)}, over the limit of {size_text(limit)} per file "
            "(setting render.max_file_size)",
            path=rel,
        )


def check_rendered(size: int, where: str, what: str = "rendered output") -> None:
    """Refuse output larger than ``render.max_rendered_size``; ``where`` names the source."""
    limit = current().max_rendered_bytes
    if size > limit:
        raise LimitExceededError(
            f"{what} is {size_text(size)}, over the limit of {size_text(limit)} per app "
            "(setting render.max_rendered_size)",
            path=where,
        )


def check_objects(count: int, where: str) -> None:
    """Refuse a render of more than ``render.max_objects`` objects."""
    limit = current().max_objects
    if count > limit:
        raise LimitExceededError(
            f"renders more than {limit} objects, the limit per app (setting render.max_objects)",
            path=where,
        )


def remaining_objects(count: int) -> int:
    """How many more documents a render may parse once it holds ``count`` objects."""
    return max(current().max_objects - count, 0)
