"""``fleet plan`` end to end: the real CLI against the real daemon, then the real sync.

An app that syncs only when asked (automated off) gets a commit that changes a
ConfigMap, adds a ConfigMap and a Secret and drops the Service. ``fleet plan`` must say
so per cluster (with both hooks), write nothing anywhere (every object's
resourceVersion unchanged, no sync in history) and mask the Secret's value in its diff.
Then the sync is let go, and what it did, per its history, must be the plan object for
object. Finally ``fleet plan --revision`` of the old commit shows the way back.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, FleetDaemon, Kube, World, eventually, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SECRET_VALUE = "plan-must-never-show-this-7f3a"
#: History's words for what a sync did -> the plan's words for what it would do.
PLANNED_AS = {"created": "create", "configured": "change", "pruned": "prune", "hook": "hook"}

Key = tuple[str, str, str, str, str]


def kustomization(resources: list[str]) -> str:
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources:"]
    lines += [f"  - {r}" for r in resources]
    lines += [
        "labels:",
        "  - pairs:",
        "      app.kubernetes.io/name: web",
        "    includeSelectors: false",
    ]
    return "\n".join(lines) + "\n"


def change_files(w: World) -> dict[str, str | None]:
    ns = w.namespace
    return {
        "base/configmap.yaml": w.edited(
            "base/configmap.yaml", lambda doc: doc["data"].update(GREETING="hello from a plan")
        ),
        "base/extra.yaml": (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-extra\n"
            f"  namespace: {ns}\ndata:\n  added: 'yes'\n"
        ),
        "base/secret.yaml": (
            f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-db\n  namespace: {ns}\n"
            f"type: Opaque\nstringData:\n  password: {SECRET_VALUE}\n"
        ),
        "base/service.yaml": None,
        "base/kustomization.yaml": kustomization(
            [
                "namespace.yaml",
                "configmap.yaml",
                "extra.yaml",
                "secret.yaml",
                "deployment.yaml",
                "migrate-job.yaml",
                "smoke-test-job.yaml",
            ]
        ),
    }


async def resource_versions(kube: Kube, namespace: str) -> dict[str, str]:
    """The objects of the kinds fleet writes in the test's namespace (and the namespace
    itself), by kind/name: pods and replica sets are their controllers' to change."""
    found: dict[str, str] = {}
    lists = {
        "ConfigMap": kube.core.list_namespaced_config_map(namespace),
        "Secret": kube.core.list_namespaced_secret(namespace),
        "Service": kube.core.list_namespaced_service(namespace),
        "Deployment": kube.apps.list_namespaced_deployment(namespace),
        "Job": kube.batch.list_namespaced_job(namespace),
    }
    for kind, call in lists.items():
        for item in (await call).items:
            found[f"{kind}/{item.metadata.name}"] = item.metadata.resource_version
    ns = await kube.namespace(namespace)
    assert ns is not None
    found[f"Namespace/{namespace}"] = ns["metadata"]["resourceVersion"]
    return found


async def fleet_cli(daemon: FleetDaemon, *args: str) -> tuple[int, str, str]:
    """``fleet ARGS`` as a user runs it on the daemon's host (its settings file)."""
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"}
    env = {k: v for k, v in env.items() if not k.startswith("FLEET_")}
    result = await anyio.run_process(
        [sys.executable, "-m", "fleet", *args, "--settings", str(daemon.settings_path)],
        check=False,
        env=env,
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def planned_keys(cluster: JSON) -> set[Key]:
    return {
        (o["action"], o["group"], o["kind"], o["namespace"], o["name"])
        for o in cluster["objects"]
        if o["action"] in ("create", "change", "prune", "hook") and o["phase"] != "SyncFail"
    }


def done_keys(results: list[JSON]) -> set[Key]:
    return {
        (PLANNED_AS[r["action"]], r["group"], r["kind"], r["namespace"], r["name"])
        for r in results
        if r["action"] in PLANNED_AS
    }


async def test_plan_tells_what_the_following_sync_does_and_writes_nothing(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        ns = w.namespace
        daemon = await w.daemon(w.config(sync_policy={"automated": False, "selfHeal": False}))
        await daemon.sync("web")
        await daemon.wait_converged(w.names, w.seed_sha)

        changed = await w.commit("greet from a plan, a secret, no service", change_files(w))

        async def released() -> bool:
            rows = [r for r in await daemon.status() if r["app"] == "web"]
            return len(rows) == len(w.names) and all(r["target_revision"] == changed for r in rows)

        await eventually(released, timeout=30, what="the commit fetched", explain=daemon.log_tail)
        before = {name: await resource_versions(w.kubes[name], ns) for name in w.names}
        syncs_before = await daemon.history()

        code, out, err = await fleet_cli(daemon, "plan", "web", "--json")
        assert code == 1, (out, err)
        plan: dict[str, Any] = json.loads(out)
        code, text, err = await fleet_cli(daemon, "plan", "web", "--diff", "--color", "never")
        assert code == 1, (text, err)

        # Nothing was written: not to a cluster, not to history.
        for name in w.names:
            assert await resource_versions(w.kubes[name], ns) == before[name], name
        assert await daemon.history() == syncs_before

        # What the plan says, per cluster.
        [web] = plan["apps"]
        assert web["revision"] == changed
        assert web["rollout"]["automated"] is False
        assert sorted(c["cluster"] for c in web["clusters"]) == sorted(w.names)
        expected = {
            ("hook", "batch", "Job", ns, "web-migrate"),
            ("change", "", "ConfigMap", ns, "web-config"),
            ("create", "", "ConfigMap", ns, "web-extra"),
            ("create", "", "Secret", ns, "web-db"),
            ("prune", "", "Service", ns, "web"),
            ("hook", "batch", "Job", ns, "web-smoke-test"),
        }
        for cluster in web["clusters"]:
            assert cluster["error"] is None, cluster
            assert cluster["refusals"] == [], cluster
            assert cluster["current_revision"] == w.seed_sha
            assert planned_keys(cluster) == expected, cluster["objects"]
            assert cluster["unchanged"] >= 2  # the Namespace and the Deployment
        assert plan["summary"]["changes"] is True
        assert plan["summary"]["create"] == 2 * len(w.names)

        # The human form: terraform-like lines, the Secret's value nowhere.
        assert f"    + create Secret {ns}/web-db" in text
        # The seed puts the ConfigMap in wave -1 and the Service in wave 1.
        assert f"    - prune Sync wave 1: Service {ns}/web\n" in text
        assert f"    ~ change Sync wave -1: ConfigMap {ns}/web-config  (/data/GREETING)" in text
        assert "+  GREETING: hello from a plan" in text
        assert f"    > hook PreSync: Job.batch {ns}/web-migrate" in text
        assert SECRET_VALUE not in text + out
        assert base64.b64encode(SECRET_VALUE.encode()).decode() not in text + out

        # Let the sync happen: it does what the plan said, object for object.
        after_id = max((s["id"] for s in syncs_before), default=0)
        await daemon.sync("web")
        for cluster in web["clusters"]:
            sync = await daemon.wait_sync(
                cluster["cluster"], changed, result="Succeeded", after_id=after_id, timeout=60
            )
            results = (await daemon.detail(sync["id"]))["results"]
            assert done_keys(results) == planned_keys(cluster), results
        await daemon.wait_converged(w.names, changed)

        # The way back, planned by --revision: again nothing written.
        before = {name: await resource_versions(w.kubes[name], ns) for name in w.names}
        code, out, err = await fleet_cli(daemon, "plan", "web", "--revision", w.seed_sha, "--json")
        assert code == 1, (out, err)
        back = json.loads(out)["apps"][0]
        assert back["revision"] == w.seed_sha
        for cluster in back["clusters"]:
            keys = planned_keys(cluster)
            assert ("create", "", "Service", ns, "web") in keys
            assert ("prune", "", "Secret", ns, "web-db") in keys
            assert ("prune", "", "ConfigMap", ns, "web-extra") in keys
            assert ("change", "", "ConfigMap", ns, "web-config") in keys
        for name in w.names:
            assert await resource_versions(w.kubes[name], ns) == before[name], name


async def test_a_cluster_that_is_down_cannot_be_planned_and_the_others_are(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    faults = clusters[-1].require_faults()
    async with world(clusters, tmp_path) as w:
        daemon = await w.daemon(w.config(sync_policy={"automated": False, "selfHeal": False}))
        await daemon.sync("web")
        await daemon.wait_converged(w.names, w.seed_sha)
        *up, down = w.names
        events_before = await daemon.last_event_id()
        faults.down()
        await daemon.wait_event("cluster_unreachable", after_id=events_before, cluster=down)
        changed = await w.commit(
            "greet differently",
            {
                "base/configmap.yaml": w.edited(
                    "base/configmap.yaml", lambda doc: doc["data"].update(GREETING="v2")
                )
            },
        )

        async def released() -> bool:
            rows = [r for r in await daemon.status() if r["app"] == "web"]
            return all(r["target_revision"] == changed for r in rows)

        await eventually(released, timeout=30, what="the commit fetched", explain=daemon.log_tail)
        code, text, err = await fleet_cli(daemon, "plan", "web")
        assert code == 2, (text, err)
        assert f"  # {down} (wave all), now at {w.seed_sha[:12]}: cannot plan: " in text, text
        assert "unreachable" in text
        for name in up:
            assert f"  # {name} (wave all), now at {w.seed_sha[:12]}\n" in text, text
        assert text.count(f"~ change Sync wave -1: ConfigMap {w.namespace}/web-config") == len(up)
        assert text.rstrip().endswith("1 could not be planned.")

        # What cannot be planned at all: an unknown revision, an unknown app.
        code, text, err = await fleet_cli(daemon, "plan", "web", "--revision", "no-such-branch")
        assert code == 2, (text, err)
        assert "  ! cannot plan: revision 'no-such-branch' is not in the mirror of source" in text
        code, text, err = await fleet_cli(daemon, "plan", "nope")
        assert code == 2, (text, err)
        assert "the daemon refused the request (404): no app named nope" in err
        faults.up()


async def test_a_namespace_create_namespace_made_is_not_planned_again(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    """createNamespace's namespace carries no fleet label, so no watch holds it: the plan
    reads it as the sync does, and a converged app plans no change at all."""
    plain = kustomization(["configmap.yaml", "deployment.yaml", "service.yaml"])
    async with world(clusters, tmp_path, files={"base/kustomization.yaml": plain}) as w:
        daemon = await w.daemon(w.config(sync_policy={"createNamespace": True}))
        await daemon.wait_converged(w.names, w.seed_sha, timeout=40)
        for name in w.names:
            assert await w.kubes[name].namespace(w.namespace) is not None, name

        code, out, err = await fleet_cli(daemon, "plan", "web", "--json")
        assert code == 0, (out, err)
        [web] = json.loads(out)["apps"]
        for cluster in web["clusters"]:
            assert cluster["error"] is None, cluster
            assert planned_keys(cluster) == set(), cluster["objects"]
