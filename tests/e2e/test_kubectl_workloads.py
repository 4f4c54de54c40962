"""kubectl itself against the clusters: apply, wait, rollout, patch, scale, delete.

On simulated clusters this checks that the simulator and its status controllers answer
kubectl as a real cluster does; with FLEET_TEST_KUBECONFIG the same steps run against
real clusters. Skipped where kubectl is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.e2e.conftest import ClusterHandle

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.e2e,
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]


@pytest.fixture
def cluster_count() -> int:
    return 1


class Kubectl:
    """Runs kubectl against one cluster, in one namespace, with a private cache."""

    def __init__(self, handle: ClusterHandle, namespace: str, cache: Path) -> None:
        self.base = [
            "kubectl",
            f"--kubeconfig={handle.kubeconfig}",
            f"--context={handle.context}",
            f"--cache-dir={cache}",
            f"--namespace={namespace}",
            "--request-timeout=30s",
        ]
        self.namespace = namespace
        self.simulated = handle.sim is not None

    async def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        result = await anyio.run_process(
            [*self.base, *args], input=stdin.encode() if stdin else None, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout.decode()}\n{result.stderr.decode()}"
            )
        return result

    async def json(self, *args: str) -> Any:
        return json.loads((await self(*args, "-o", "json")).stdout)


@pytest.fixture
async def kubectl(clusters: list[ClusterHandle], tmp_path: Path) -> AsyncIterator[Kubectl]:
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    run = Kubectl(clusters[0], namespace, tmp_path / "kubectl-cache")
    namespace_yaml = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n"
    await run("apply", "--server-side", "-f", "-", stdin=namespace_yaml)
    try:
        yield run
    finally:
        await run("delete", "namespace", namespace, "--wait=false", check=False)


def exiting_container(code: int) -> str:
    """A container that exits with ``code`` on simulated clusters (the FLEET_SIM_EXIT_CODE
    marker) and on real ones (its command), so the manifest means the same on both."""
    return f"""
      - name: app
        image: busybox:1.36
        command: [sh, -c, "exit {code}"]
        env:
        - {{name: FLEET_SIM_EXIT_CODE, value: "{code}"}}
"""


def deployment_yaml(name: str, image: str, replicas: int, deadline: int = 600) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  progressDeadlineSeconds: {deadline}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: {image}
        ports:
        - containerPort: 80
"""


def condition(obj: Any, kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"].get("conditions", []) if c["type"] == kind)


async def test_deployment_lifecycle_with_kubectl(kubectl: Kubectl) -> None:
    applied = await kubectl(
        "apply", "--server-side", "-f", "-", stdin=deployment_yaml("web", "nginx:1.27", 2)
    )
    assert b"serverside-applied" in applied.stdout
    await kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=30s")
    await kubectl("rollout", "status", "deployment/web", "--timeout=30s")

    web = await kubectl.json("get", "deployment", "web", "--show-managed-fields")
    assert web["status"]["observedGeneration"] == web["metadata"]["generation"] == 1
    assert web["status"]["availableReplicas"] == web["status"]["readyReplicas"] == 2
    assert condition(web, "Progressing")["reason"] == "NewReplicaSetAvailable"
    managers = {m["manager"] for m in web["metadata"]["managedFields"]}
    assert {"kubectl", "kube-controller-manager"} <= managers

    await kubectl(
        "patch",
        "deployment",
        "web",
        "-p",
        json.dumps(
            {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}}
                }
            }
        ),
    )
    await kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    web = await kubectl.json("get", "deployment", "web")
    assert web["metadata"]["generation"] == 2
    assert web["status"]["observedGeneration"] == 2
    assert web["status"]["updatedReplicas"] == 2
    assert web["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP"}
    ]
    sets = (await kubectl.json("get", "replicasets", "-l", "app=web"))["items"]
    revisions = {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in sets
    }
    assert revisions["2"]["spec"]["replicas"] == 2
    assert revisions["1"]["spec"]["replicas"] == 0

    await kubectl("scale", "deployment/web", "--replicas=4")
    await kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    await kubectl(
        "wait", "--for=jsonpath={.status.availableReplicas}=4", "deployment/web", "--timeout=30s"
    )
    pods = (await kubectl.json("get", "pods", "-l", "app=web"))["items"]
    assert len(pods) == 4
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.28"}
    assert all(p["status"]["phase"] == "Running" for p in pods)

    await kubectl("delete", "deployment", "web", "--wait=true", "--timeout=30s")
    for _ in range(150):
        if not (await kubectl.json("get", "pods", "-l", "app=web"))["items"]:
            break
        await anyio.sleep(0.2)
    else:
        raise AssertionError("the Deployment's pods were not collected within 30 s")
    assert (await kubectl.json("get", "replicasets", "-l", "app=web"))["items"] == []


async def test_rollout_status_reports_a_crash_loop_deadline(kubectl: Kubectl) -> None:
    manifest = deployment_yaml("bad", "unused", 1, deadline=2)
    manifest = manifest[: manifest.index("      - name: app")] + exiting_container(1)
    await kubectl("apply", "--server-side", "-f", "-", stdin=manifest)
    result = await kubectl("rollout", "status", "deployment/bad", "--timeout=60s", check=False)
    assert result.returncode != 0
    assert b"exceeded its progress deadline" in result.stderr
    bad = await kubectl.json("get", "deployment", "bad")
    assert condition(bad, "Progressing")["reason"] == "ProgressDeadlineExceeded"
    [pod] = (await kubectl.json("get", "pods", "-l", "app=bad"))["items"]
    [container] = pod["status"]["containerStatuses"]
    assert container["ready"] is False
    if kubectl.simulated:  # a real kubelet may still be pulling the image at the deadline
        assert container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        assert container["restartCount"] >= 1


async def test_kubectl_waits_for_jobs_to_complete_or_fail(kubectl: Kubectl) -> None:
    job = """
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
"""
    for name, code in (("good", 0), ("bad", 1)):
        manifest = job.format(name=name) + exiting_container(code)
        await kubectl("apply", "--server-side", "-f", "-", stdin=manifest)
    await kubectl("wait", "--for=condition=Complete", "job/good", "--timeout=60s")
    await kubectl("wait", "--for=condition=Failed", "job/bad", "--timeout=60s")
    good = await kubectl.json("get", "job", "good")
    assert good["status"]["succeeded"] == 1
    bad = await kubectl.json("get", "job", "bad")
    assert bad["status"]["failed"] == 1
    assert condition(bad, "Failed")["reason"] == "BackoffLimitExceeded"
    [pod] = (await kubectl.json("get", "pods", "-l", "job-name=bad"))["items"]
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1


async def test_kubectl_sees_statefulset_daemonset_and_services_ready(kubectl: Kubectl) -> None:
    manifests = """
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 2
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: postgres:16
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: busybox
---
apiVersion: v1
kind: Service
metadata:
  name: front
spec:
  type: LoadBalancer
  selector: {app: db}
  ports:
  - port: 80
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
"""
    await kubectl("apply", "--server-side", "-f", "-", stdin=manifests)
    await kubectl("rollout", "status", "statefulset/db", "--timeout=30s")
    await kubectl("rollout", "status", "daemonset/agent", "--timeout=30s")
    await kubectl("wait", "--for=jsonpath={.status.phase}=Bound", "pvc/data", "--timeout=30s")
    await kubectl(
        "wait",
        "--for=jsonpath={.status.loadBalancer.ingress[0].ip}",
        "service/front",
        "--timeout=30s",
    )
    front = await kubectl.json("get", "service", "front")
    assert front["status"]["loadBalancer"]["ingress"][0]["ip"]
    pods = sorted(
        p["metadata"]["name"] for p in (await kubectl.json("get", "pods", "-l", "app=db"))["items"]
    )
    assert pods == ["db-0", "db-1"]
