"""Going back end to end: ``git revert`` rolls every cluster back; a pin holds a revision.

A pin (``POST /api/v1/apps/web/sync {"revision": ...}`` with the bearer token, what
``fleet sync web --revision REV`` sends) moves every cluster to that revision and keeps
it there while Git moves on, until ``{"clearPin": true}``.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import World, eventually, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def cluster_count() -> int:
    return 3


def release(w: World, greeting: str, image_tag: str) -> dict[str, str | None]:
    config = w.source.read("apps/web/base/configmap.yaml")
    deployment = w.source.read("apps/web/base/deployment.yaml")
    config = "\n".join(
        f'  GREETING: "{greeting}"' if line.startswith("  GREETING:") else line
        for line in config.splitlines()
    )
    deployment = "\n".join(
        f"          image: ghcr.io/example/web:{image_tag}"
        if "image: ghcr.io/example/web:" in line
        else line
        for line in deployment.splitlines()
    )
    return {"base/configmap.yaml": config + "\n", "base/deployment.yaml": deployment + "\n"}


async def live_release(w: World, cluster: str) -> tuple[str, str]:
    kube = w.kubes[cluster]
    config = await kube.config_map(w.namespace, "web-config")
    deployment = await kube.deployment(w.namespace, "web")
    assert config is not None
    assert deployment is not None
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return config["data"]["GREETING"], image.rpartition(":")[2]


async def test_git_revert_rolls_back_and_a_pin_holds_until_cleared(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        daemon = await w.daemon()
        await daemon.wait_converged(w.names, w.seed_sha)
        v2 = await w.commit("release 2", release(w, "hello v2", "2.0.0"))
        await daemon.wait_converged(w.names, v2)
        for name in w.names:
            assert await live_release(w, name) == ("hello v2", "2.0.0")

        # -- git revert: every cluster goes back ----------------------------------------
        reverted = await w.source.revert(v2)
        await daemon.wait_converged(w.names, reverted)
        for name in w.names:
            assert await live_release(w, name) == ("hello from fleet", "1.0.0")
            syncs = [s for s in await daemon.history(cluster=name) if s["revision"] == reverted]
            assert [s["result"] for s in syncs] == ["Succeeded"], syncs
            changed = {
                r["kind"]
                for r in (await daemon.detail(syncs[0]["id"]))["results"]
                if r["action"] == "configured"
            }
            assert changed == {"ConfigMap", "Deployment"}, changed

        # -- a pin: every cluster to release 2 (by its short id, as a user types it) ----
        answer = await daemon.sync(revision=v2[:10])
        assert sorted(q["cluster"] for q in answer["queued"]) == sorted(w.names)
        rows = await daemon.wait_converged(w.names, v2)
        assert {r["pinned_revision"] for r in rows} == {v2}
        for name in w.names:
            assert await live_release(w, name) == ("hello v2", "2.0.0")
        pinned = await daemon.wait_event("pinned")
        assert pinned["details"]["revision"] == v2

        # Git moves on; the pinned clusters stay where they are.
        v3 = await w.commit("release 3", release(w, "hello v3", "3.0.0"))
        assert (await daemon.push_webhook()).status == 202

        async def fetched() -> bool:
            return any(
                f"source platform at {v3[:12]}" in r.get("message", "")
                for r in daemon.log_records()
            )

        await eventually(fetched, timeout=15, what="the daemon fetched release 3")
        await anyio.sleep(1.5)
        for name in w.names:
            assert await live_release(w, name) == ("hello v2", "2.0.0")
            status = await daemon.status_of(name)
            assert (status["revision"], status["pinned_revision"]) == (v2, v2)
        assert not [s for s in await daemon.history() if s["revision"] == v3]

        # Clearing the pin lets every cluster follow Git again.
        await daemon.sync(clearPin=True)
        rows = await daemon.wait_converged(w.names, v3)
        assert {r["pinned_revision"] for r in rows} == {None}
        for name in w.names:
            assert await live_release(w, name) == ("hello v3", "3.0.0")
