"""Daemon settings for rendering: render processes and the limits of one render.

A commit is untrusted input. These settings bound what rendering one app for one
cluster may cost (docs/render.md, "Limits"); a render past any of them fails that app
with an error naming the file or app path and the setting, and nothing else waits.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from fleet.config.types import PositiveDuration

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(|B|KiB|MiB|GiB|Ki|Mi|Gi)\s*$")
_UNITS = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
_UNITS.update({"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30})
#: What a render process holds before it renders anything (Python, Helm, Kustomize).
MIN_MEMORY = 512 << 20


def parse_size(value: object) -> int:
    """``16MiB``, ``2GiB``, ``512Ki``, ``1048576`` -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        number, unit = float(value), ""
    else:
        match = _SIZE.match(value) if isinstance(value, str) else None
        if match is None:
            raise PydanticCustomError(
                "size",
                "invalid size {shown}: write bytes or a number with KiB, MiB or GiB, like 16MiB",
                {"shown": repr(value)},
            )
        number, unit = float(match.group(1)), match.group(2)
    size = int(number * _UNITS[unit])
    if size < 1:
        raise PydanticCustomError("size", "a size must be at least 1 byte", {})
    return size


#: A size in bytes, written with a binary unit or as a whole number.
ByteSize = Annotated[int, BeforeValidator(parse_size)]


class RenderSettings(BaseModel):
    """``render:`` in the settings file, ``FLEET_RENDER__*`` in the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Render processes running at once (each holds Helm and Kustomize, ~100 MB).
    workers: int = Field(default=2, ge=1, le=64)
    #: Longest wall-clock time of one render; past it its process is killed.
    timeout: PositiveDuration = timedelta(minutes=2)
    #: CPU time one render may use.
    cpu_time: PositiveDuration = timedelta(minutes=1)
    #: Memory one render process may allocate (RLIMIT_DATA).
    memory: ByteSize = 2 << 30
    #: Largest file a render reads (manifests, kustomizations, values, chart files).
    max_file_size: ByteSize = 16 << 20
    #: Largest output of one render (plain files together, Kustomize or Helm output).
    max_rendered_size: ByteSize = 64 << 20
    #: Most objects one render may yield.
    max_objects: int = Field(default=10_000, ge=1)

    @field_validator("memory")
    @classmethod
    def _room_to_start(cls, value: int) -> int:
        if value < MIN_MEMORY:
            raise PydanticCustomError(
                "size",
                "render.memory must be at least 512MiB: a render process holds about 200MiB "
                "(Python, Helm, Kustomize) before it renders anything",
                {},
            )
        return value
