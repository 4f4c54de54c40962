"""Watch streams over the store, without HTTP: initial state, resume, selectors, 410."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
import pytest

from fleet.sim.selectors import NO_FIELDS, parse_label_selector
from fleet.sim.store import Entry, Store
from fleet.sim.watch import WatchRequest, stream

pytestmark = pytest.mark.anyio
CM = ("", "configmaps")


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns", "labels": labels},
    }


def render(entry: Entry) -> bytes:
    return entry.data


def bookmark(rv: int, annotations: dict[str, str] | None) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if annotations:
        meta["annotations"] = annotations
    return json.dumps({"kind": "ConfigMap", "metadata": meta}).encode()


async def collect(
    store: Store, request: WatchRequest, count: int, during: Any = None
) -> list[tuple[str, str]]:
    """The first ``count`` events of a stream (a chunk may hold several lines)."""
    events: list[tuple[str, str]] = []
    with anyio.fail_after(5):
        async for chunk in stream(store, request, render, bookmark):
            for line in chunk.splitlines():
                event = json.loads(line)
                meta = event["object"].get("metadata", {})
                events.append((event["type"], meta.get("name") or meta.get("resourceVersion")))
            if len(events) >= count:
                break
            if during is not None and len(events) == 1:
                during()
    return events


def request(since: int | None, selector: str = "", **kwargs: Any) -> WatchRequest:
    return WatchRequest(CM, "ns", parse_label_selector(selector), NO_FIELDS, since, **kwargs)


async def test_without_resource_version_the_current_state_comes_first() -> None:
    store = Store()
    store.put(CM, cm("a"))
    store.put(CM, cm("b"))
    events = await collect(store, request(None), 3, during=lambda: store.put(CM, cm("c")))
    assert events == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]


async def test_resume_replays_only_later_events() -> None:
    store = Store()
    store.put(CM, cm("a"))
    rv = store.rv
    store.put(CM, cm("a", changed="yes"))
    store.remove(CM, "ns", "a")
    assert await collect(store, request(rv), 2) == [("MODIFIED", "a"), ("DELETED", "a")]


async def test_resume_from_a_compacted_version_is_an_expired_error_event() -> None:
    store = Store(window=2)
    first = store.rv
    for i in range(4):
        store.put(CM, cm(f"x{i}"))
    line = [line async for line in stream(store, request(first), render, bookmark)]
    assert len(line) == 1
    event = json.loads(line[0])
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"


async def test_label_selector_turns_transitions_into_added_and_deleted() -> None:
    store = Store()
    rv = store.rv
    store.put(CM, cm("a", app="web"))  # ADDED (matches)
    store.put(CM, cm("a", app="db"))  # leaves the selector -> DELETED
    store.put(CM, cm("a", app="web"))  # enters again -> ADDED
    store.put(CM, cm("b", app="db"))  # never matches
    events = await collect(store, request(rv, "app=web"), 3)
    assert events == [("ADDED", "a"), ("DELETED", "a"), ("ADDED", "a")]


async def test_bookmarks_arrive_when_asked_for() -> None:
    store = Store()
    store.put(CM, cm("a"))
    rv = str(store.rv)
    events = await collect(store, request(store.rv, bookmarks=True, bookmark_interval=0.05), 1)
    assert events == [("BOOKMARK", rv)]


async def test_initial_events_end_with_an_annotated_bookmark() -> None:
    store = Store()
    store.put(CM, cm("a"))
    lines = []
    with anyio.fail_after(5):
        async for line in stream(
            store, request(None, send_initial_events=True, bookmarks=True), render, bookmark
        ):
            lines.append(json.loads(line))
            if len(lines) == 2:
                break
    assert lines[0]["type"] == "ADDED"
    assert lines[1]["type"] == "BOOKMARK"
    assert lines[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_timeout_ends_the_stream() -> None:
    store = Store()
    with anyio.fail_after(5):
        lines = [
            line async for line in stream(store, request(store.rv, timeout=0.05), render, bookmark)
        ]
    assert lines == []


async def test_a_burst_of_changes_arrives_complete_and_in_order() -> None:
    store = Store()
    store.put(CM, cm("first"))

    def burst() -> None:
        for i in range(50):
            store.put(CM, cm(f"n{i:02}"))

    events = await collect(store, request(None), 51, during=burst)
    assert events == [("ADDED", "first")] + [("ADDED", f"n{i:02}") for i in range(50)]


async def test_no_bookmark_passes_events_queued_as_the_wait_timed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An event can land while a timed-out wait is being cancelled. A bookmark sent then
    at the store's resourceVersion would tell the client it had everything up to there;
    were the stream to end next, the client would resume past the event and never see
    it (a simulated controller missed whole Deployments this way under load)."""
    store = Store()
    real_wait_for = asyncio.wait_for
    raced = False

    async def racing_wait_for(waited: Any, **kwargs: Any) -> Any:
        nonlocal raced
        if not raced:
            raced = True
            waited.close()
            store.put(CM, cm("late"))  # arrives in the same turn as the timeout
            raise TimeoutError
        return await real_wait_for(waited, **kwargs)

    monkeypatch.setattr("fleet.sim.watch.asyncio.wait_for", racing_wait_for)
    req = request(store.rv, bookmarks=True, bookmark_interval=0.0, timeout=5.0)
    first: dict[str, Any] = {}
    with anyio.fail_after(5):
        async for chunk in stream(store, req, render, bookmark):
            first = json.loads(chunk.splitlines()[0])
            break
    assert raced
    assert first["type"] == "ADDED", first
    assert first["object"]["metadata"]["name"] == "late"
