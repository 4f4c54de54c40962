"""Lists (selectors, pagination, Table) and watches through kubernetes_asyncio."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import watch
from kubernetes_asyncio.client import ApiException

from tests.sim.conftest import Sim

pytestmark = pytest.mark.anyio


async def make(sim: Sim, name: str, namespace: str = "default", **labels: str) -> Any:
    return await sim.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": name, "labels": labels}}
    )


async def test_label_and_field_selectors(sim: Sim) -> None:
    await make(sim, "a", app="web", tier="front")
    await make(sim, "b", app="web", tier="back")
    await make(sim, "c", app="db")

    async def names(**kwargs: Any) -> list[str]:
        result = await sim.core.list_namespaced_config_map("default", **kwargs)
        return [i.metadata.name for i in result.items]

    assert await names(label_selector="app=web") == ["a", "b"]
    assert await names(label_selector="app in (web,db),tier!=back") == ["a", "c"]
    assert await names(label_selector="!tier") == ["c"]
    assert await names(field_selector="metadata.name=b") == ["b"]
    assert await names(field_selector="metadata.name!=b", label_selector="app=web") == ["a"]


async def test_list_across_namespaces_and_namespace_field_selector(sim: Sim) -> None:
    await sim.core.create_namespace({"metadata": {"name": "other"}})
    await make(sim, "x")
    await make(sim, "y", "other")
    everything = await sim.core.list_config_map_for_all_namespaces()
    assert [(i.metadata.namespace, i.metadata.name) for i in everything.items] == [
        ("default", "x"),
        ("other", "y"),
    ]
    only = await sim.core.list_config_map_for_all_namespaces(
        field_selector="metadata.namespace=other"
    )
    assert [i.metadata.name for i in only.items] == ["y"]


async def test_pagination_is_consistent_across_pages(sim: Sim) -> None:
    for i in range(7):
        await make(sim, f"cm-{i}")
    first = await sim.core.list_namespaced_config_map("default", limit=3)
    assert [i.metadata.name for i in first.items] == ["cm-0", "cm-1", "cm-2"]
    assert first.metadata.remaining_item_count == 4
    await sim.core.delete_namespaced_config_map("cm-5", "default")  # after the first page
    second = await sim.core.list_namespaced_config_map(
        "default", limit=3, _continue=first.metadata._continue
    )
    third = await sim.core.list_namespaced_config_map(
        "default", limit=3, _continue=second.metadata._continue
    )
    assert [i.metadata.name for i in second.items + third.items] == ["cm-3", "cm-4", "cm-5", "cm-6"]
    assert third.metadata._continue is None
    assert second.metadata.resource_version == first.metadata.resource_version


async def test_a_garbled_continue_token_is_400_and_an_unknown_one_410(sim: Sim) -> None:
    with pytest.raises(ApiException) as caught:
        await sim.core.list_namespaced_config_map("default", _continue="!!!")
    assert caught.value.status == 400
    token = "eyJpZCI6ICJub3BlIn0="  # {"id": "nope"}
    with pytest.raises(ApiException) as caught:
        await sim.core.list_namespaced_config_map("default", _continue=token)
    assert caught.value.status == 410
    assert json.loads(caught.value.body)["reason"] == "Expired"


async def test_watch_from_a_list_resource_version_sees_only_later_changes(sim: Sim) -> None:
    await make(sim, "before")
    listed = await sim.core.list_namespaced_config_map("default")
    seen: list[tuple[str, str]] = []

    async def consume() -> None:
        stream = watch.Watch().stream(
            sim.core.list_namespaced_config_map,
            "default",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=5,
        )
        async with stream:
            async for event in stream:
                seen.append((event["type"], event["object"].metadata.name))
                if len(seen) == 3:
                    return

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(consume)
            await anyio.sleep(0.1)
            await make(sim, "after")
            live = await sim.core.read_namespaced_config_map("after", "default")
            live.data = {"k": "v"}
            await sim.core.replace_namespaced_config_map("after", "default", live)
            await sim.core.delete_namespaced_config_map("before", "default")
    assert seen == [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "before")]


async def test_watch_resume_after_disconnect_replays_missed_events(sim: Sim) -> None:
    await make(sim, "a")
    rv = (await sim.core.list_namespaced_config_map("default")).metadata.resource_version
    await make(sim, "b")  # happens while "disconnected"
    await make(sim, "c")
    stream = watch.Watch().stream(
        sim.core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1
    )
    names = [event["object"].metadata.name async for event in stream]
    assert names == ["b", "c"]


async def test_watch_with_an_expired_resource_version_raises_410(sim: Sim) -> None:
    old = sim.cluster.resource_version
    for i in range(sim.cluster.state.store.window + 5):
        sim.cluster.state.store.put(
            ("", "configmaps"),
            {"kind": "ConfigMap", "metadata": {"name": f"x{i}", "namespace": "default"}},
        )
    stream = watch.Watch().stream(
        sim.core.list_namespaced_config_map, "default", resource_version=str(old), timeout_seconds=2
    )
    with pytest.raises(ApiException) as caught:
        async for _ in stream:
            pass
    assert caught.value.status == 410


async def test_bookmarks_carry_the_current_resource_version(sim: Sim) -> None:
    await make(sim, "a")
    rv = sim.cluster.resource_version
    w = watch.Watch()
    stream = w.stream(
        sim.core.list_namespaced_config_map,
        "default",
        resource_version=str(rv),
        allow_watch_bookmarks=True,
        timeout_seconds=3,
    )
    with anyio.fail_after(5):
        async with stream:
            async for event in stream:
                assert event["type"] == "BOOKMARK"
                assert event["raw_object"]["metadata"]["resourceVersion"] == str(rv)
                break
    assert w.resource_version == str(rv)


async def test_watch_of_one_object_by_name(sim: Sim) -> None:
    await make(sim, "a")
    await make(sim, "b")
    stream = watch.Watch().stream(
        sim.core.list_namespaced_config_map,
        "default",
        field_selector="metadata.name=b",
        timeout_seconds=1,
    )
    names = [event["object"].metadata.name async for event in stream]
    assert names == ["b"]


async def test_table_output_for_kubectl(sim: Sim) -> None:
    await make(sim, "a")
    response = await sim.api.call_api(
        "/api/v1/namespaces/{namespace}/configmaps",
        "GET",
        path_params={"namespace": "default"},
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
        response_types_map={"200": "object"},
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    table = json.loads(await response.read())
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["rows"][0]["cells"][0] == "a"
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def test_many_concurrent_watchers_all_see_a_change(sim: Sim) -> None:
    count = 20
    received: list[str] = []

    async def consume() -> None:
        stream = watch.Watch().stream(
            sim.core.list_namespaced_config_map,
            "default",
            resource_version=str(sim.cluster.resource_version),
            timeout_seconds=5,
        )
        async with stream:
            async for event in stream:
                received.append(event["object"].metadata.name)
                return

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for _ in range(count):
                group.start_soon(consume)
            await asyncio.sleep(0.3)
            await make(sim, "fanout")
    assert received == ["fanout"] * count
