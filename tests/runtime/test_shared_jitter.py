"""Watches, self-heal and sync retries draw their jitter from shared generators: a
``random.Random`` holds 2.5 KiB, and there were six per cluster."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from fleet.runtime.drift import DriftWatch
from fleet.runtime.livecache import LiveCache
from fleet.runtime.retries import SyncRetries
from fleet.runtime.watchers import WatchSettings, watch_kind


@pytest.fixture
def generators_made(monkeypatch: pytest.MonkeyPatch) -> list[random.Random]:
    made: list[random.Random] = []

    class Counted(random.Random):
        def __init__(self, *args: Any) -> None:
            made.append(self)
            super().__init__(*args)

    monkeypatch.setattr(random, "Random", Counted)
    return made


class _Stopped(Exception):
    pass


class _ListFails:
    name = "dev-1"

    async def list_objects(self, *args: Any, **kwargs: Any) -> Any:
        raise _Stopped


def test_workers_make_no_generator_of_their_own(generators_made: list[random.Random]) -> None:
    for _ in range(3):
        DriftWatch(SimpleNamespace())  # type: ignore[arg-type]
        SyncRetries(lambda: 0.0)
    assert generators_made == []


@pytest.mark.anyio
async def test_a_watch_makes_no_generator_of_its_own(
    generators_made: list[random.Random],
) -> None:
    with pytest.raises(_Stopped):
        await watch_kind(
            _ListFails(),  # type: ignore[arg-type]
            LiveCache("dev-1"),
            "v1",
            "ConfigMap",
            WatchSettings(),
        )
    assert generators_made == []
