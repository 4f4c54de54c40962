"""Comparing desired with live (fleet.runtime.comparison) against a simulated cluster."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet.adapters.kube.client import ClusterClient
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.engine import SyncOptions
from fleet.engine.bounds import ProjectBounds
from fleet.engine.hooks import stamp
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.comparison import LiveComparer
from fleet.sim import SimFleet

pytestmark = pytest.mark.anyio


def config_map(data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default"},
        "data": {"value": data},
    }


def dry_run_applies(sim: SimFleet) -> int:
    return sum(verbs.get("apply:dry-run", 0) for verbs in sim["one"].requests.to_dict().values())


async def test_an_object_outside_the_project_is_out_of_sync_with_why_and_never_dry_run(
    tmp_path: Path,
) -> None:
    desired = Manifest.from_body(config_map("from git"))
    outside = SyncOptions(bounds=ProjectBounds("team", namespaces=("team-a",)))
    inside = SyncOptions(bounds=ProjectBounds("team", namespaces=("default",)))
    async with SimFleet.start(tmp_path / "sim", names=["one"], ready_delay=0.1) as sim:
        endpoint = ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")
        async with (
            await ClusterClient.connect(endpoint) as client,
            anyio.create_task_group() as tasks,
        ):
            runtime = ClusterRuntime(client, tasks)
            runtime.ensure_kinds([("v1", "ConfigMap")])
            assert await runtime.wait_listed([("v1", "ConfigMap")], 10)
            # live: the app's object, changed by hand since
            seen = anyio.Event()

            def on_change(app: str, ref: ObjectRef, event_type: str) -> None:
                if ref == desired.ref:
                    seen.set()

            runtime.cache.subscribe(on_change)
            await client.apply(stamp(config_map("by hand"), "web", desired.ref))
            with anyio.fail_after(10):
                await seen.wait()
            assert runtime.cache.get(desired.ref) is not None
            comparer = LiveComparer("web", runtime)
            before = dry_run_applies(sim)

            refused = await comparer.compare([desired], frozenset(), outside)
            assert dry_run_applies(sim) == before, "nothing outside the project is sent"
            assert refused.sync == "OutOfSync"
            assert refused.out_of_sync == [
                f"{desired.ref} (namespace 'default' is outside the namespaces of project 'team')"
            ]

            allowed = await comparer.compare([desired], frozenset(), inside)
            assert dry_run_applies(sim) == before + 1, "a difference inside it is confirmed"
            assert allowed.out_of_sync == [str(desired.ref)]
            runtime.stop()
            tasks.cancel_scope.cancel()


async def test_a_fix_the_watch_brings_while_the_server_is_asked_is_not_reported_as_drift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison awaits a dry-run for a suspected difference; meanwhile the object is
    fixed and the watch brings the fixed version. The dry-run's answer was compared with
    the version from before the await, and reported OutOfSync for a moment (issue 16)."""
    desired = Manifest.from_body(config_map("from git"))
    async with SimFleet.start(tmp_path / "sim", names=["one"], ready_delay=0.1) as sim:
        endpoint = ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")
        async with (
            await ClusterClient.connect(endpoint) as client,
            anyio.create_task_group() as tasks,
        ):
            runtime = ClusterRuntime(client, tasks)
            runtime.ensure_kinds([("v1", "ConfigMap")])
            assert await runtime.wait_listed([("v1", "ConfigMap")], 10)
            versions: list[str] = []
            arrived = anyio.Event()

            def on_change(app: str, ref: ObjectRef, event_type: str) -> None:
                live = runtime.cache.get(desired.ref)
                if ref == desired.ref and live is not None:
                    versions.append(live["data"]["value"])
                    arrived.set()

            async def next_version() -> None:
                nonlocal arrived
                with anyio.fail_after(10):
                    await arrived.wait()
                arrived = anyio.Event()

            runtime.cache.subscribe(on_change)
            applied = stamp(config_map("from git"), "web", desired.ref)
            await client.apply(stamp(config_map("by hand"), "web", desired.ref))
            await next_version()
            real_apply = client.apply

            async def fixed_while_asked(
                body: Mapping[str, Any], *, dry_run: bool = False, force: bool = False
            ) -> dict[str, Any]:
                if dry_run:  # someone fixes it, and the watch brings it, meanwhile
                    await real_apply(applied)
                    await next_version()
                return await real_apply(body, dry_run=dry_run, force=force)

            monkeypatch.setattr(client, "apply", fixed_while_asked)
            found = await LiveComparer("web", runtime).compare(
                [desired], frozenset(), SyncOptions()
            )
            assert versions == ["by hand", "from git"]
            assert (found.sync, found.out_of_sync) == ("Synced", [])
            runtime.stop()
            tasks.cancel_scope.cancel()


class _CacheOnly:
    """What LiveComparer reads of a cluster's runtime when nothing is confirmed."""

    def __init__(self) -> None:
        from fleet.runtime.livecache import LiveCache

        self.cache = LiveCache("one")
        self.version = 0

    def put(self, body: dict[str, Any]) -> None:
        self.version += 1
        live = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}
        self.cache.apply_event("", "ConfigMap", "MODIFIED", live)


async def test_an_unchanged_object_is_not_walked_again_and_any_change_is_seen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fleet.model.ignore_differences import IgnoreDifference
    from fleet.runtime import comparison

    walks: list[ObjectRef] = []
    real = comparison.live_matches

    def counted(ref: ObjectRef, *args: Any, **kwargs: Any) -> Any:
        walks.append(ref)
        return real(ref, *args, **kwargs)

    monkeypatch.setattr(comparison, "live_matches", counted)
    desired = Manifest.from_body(config_map("from git"))
    runtime = _CacheOnly()
    runtime.put(stamp(config_map("from git"), "web", desired.ref))
    comparer = LiveComparer("web", runtime)  # type: ignore[arg-type]
    plain = SyncOptions()
    ignoring = SyncOptions(
        ignore_differences=(IgnoreDifference(kind="ConfigMap", json_pointers=("/data",)),)
    )

    async def judge(manifest: Manifest, options: SyncOptions = plain) -> tuple[str, int]:
        before = len(walks)
        found = await comparer.compare([manifest], frozenset(), options, confirm=False)
        return found.sync, len(walks) - before

    # (what happens before the comparison, expected status, objects walked)
    assert await judge(desired) == ("Synced", 1)
    assert await judge(desired) == ("Synced", 0), "the same manifest and live dict"
    runtime.put(stamp(config_map("by hand"), "web", desired.ref))
    assert await judge(desired) == ("OutOfSync", 1), "a new version is walked"
    assert await judge(desired) == ("OutOfSync", 1), "a difference is never remembered"
    runtime.put(stamp(config_map("from git"), "web", desired.ref))
    assert await judge(desired) == ("Synced", 1)
    changed = Manifest.from_body(config_map("new commit"))
    assert await judge(changed) == ("OutOfSync", 1), "another manifest is walked"
    assert await judge(desired) == ("Synced", 1), "and the memory is of the last comparison"
    assert await judge(changed, ignoring) == ("Synced", 1), "other ignore rules: walked"
    assert await judge(changed, ignoring) == ("Synced", 0)
