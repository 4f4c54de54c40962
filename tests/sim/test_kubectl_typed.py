"""kubectl's typed commands, which send protobuf bodies, against the simulator.

Each command is run twice: once with ``--dry-run=client -o json`` (the object kubectl
builds, printed as JSON on its side) and once for real (the same object sent as
protobuf). Every field of the first must be in what the server stored, so a wrong field
number in the decoder's table shows up as a missing or misnamed field.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet.sim import SimFleet

KUBECTL = shutil.which("kubectl")
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine"),
]


class Kubectl:
    def __init__(self, fleet: SimFleet, home: Path) -> None:
        self.fleet = fleet
        self.home = home

    async def run(self, *args: str, check: bool = True) -> tuple[int, str]:
        assert KUBECTL is not None
        command = [KUBECTL, "--kubeconfig", str(self.fleet.kubeconfig_path), *args]
        result = await anyio.run_process(command, check=False, env={"HOME": str(self.home)})
        output = result.stdout.decode() + result.stderr.decode()
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {output}")
        return result.returncode, output

    async def json(self, *args: str) -> dict[str, Any]:
        assert KUBECTL is not None
        words = list(args)
        at = words.index("--") if "--" in words else len(words)  # after it: the container's
        words[at:at] = ["-o", "json"]
        command = [KUBECTL, "--kubeconfig", str(self.fleet.kubeconfig_path), *words]
        result = await anyio.run_process(command, env={"HOME": str(self.home)})
        document: dict[str, Any] = json.loads(result.stdout)
        return document


@pytest.fixture
async def kubectl(tmp_path: Path) -> AsyncIterator[Kubectl]:
    async with SimFleet.start(tmp_path / "sim", count=1, ready_delay=0.1) as fleet:
        yield Kubectl(fleet, tmp_path)


def missing_from(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where ``expected`` (kubectl's own rendering) is not contained in ``actual``."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: {actual!r} is not an object"]
        out: list[str] = []
        for key, value in expected.items():
            if key in ("creationTimestamp", "status") and value in (None, {}):
                continue  # unset on kubectl's side, filled by the server
            if key not in actual:
                if value not in ({}, [], None):
                    out.append(f"{path}.{key} missing")
                continue
            out += missing_from(value, actual[key], f"{path}.{key}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: {actual!r} differs from {expected!r}"]
        return [
            m for i, e in enumerate(expected) for m in missing_from(e, actual[i], f"{path}[{i}]")
        ]
    return [] if expected == actual else [f"{path}: {actual!r} != {expected!r}"]


OVERRIDES = {
    "metadata": {"annotations": {"note": "from overrides"}},
    "spec": {
        "serviceAccountName": "robot",
        "nodeSelector": {"disk": "ssd"},
        "terminationGracePeriodSeconds": 0,
        "activeDeadlineSeconds": 600,
        "hostname": "h",
        "subdomain": "sub",
        "enableServiceLinks": False,
        "priorityClassName": "",
        "imagePullSecrets": [{"name": "registry"}],
        "containers": [
            {
                "name": "o",
                "image": "busybox",
                "command": ["sh", "-c"],
                "args": ["sleep 1"],
                "workingDir": "/tmp",
                "stdin": True,
                "tty": True,
                "resources": {
                    "limits": {"cpu": "500m", "memory": "64Mi"},
                    "requests": {"cpu": "1"},
                },
                "env": [
                    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "a"}}},
                    {
                        "name": "S",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}},
                    },
                ],
                "envFrom": [{"prefix": "P_", "configMapRef": {"name": "c", "optional": False}}],
                "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": True}],
                "ports": [
                    {"name": "http", "containerPort": 80, "hostPort": 8080, "protocol": "UDP"}
                ],
            }
        ],
    },
}

COMMANDS = [
    (["create", "namespace", "team-a"], ["namespace", "team-a"]),
    (
        ["create", "configmap", "c", "--from-literal=a=b", "--from-literal=empty="],
        ["configmap", "c"],
    ),
    (
        ["create", "deployment", "d", "--image=nginx:1.27", "--replicas=3", "--port=80"],
        ["deployment", "d"],
    ),
    (
        [
            "run",
            "p",
            "--image=nginx",
            "--env=A=1",
            "--labels=app=p,tier=web",
            "--port=8080",
            "--image-pull-policy=IfNotPresent",
            "--restart=Never",
            "--",
            "sleep",
            "3600",
        ],
        ["pod", "p"],
    ),
    (
        ["run", "o", "--image=busybox", "--overrides=" + json.dumps(OVERRIDES)],
        ["pod", "o"],
    ),
    (
        ["create", "secret", "generic", "s", "--from-literal=k=v", "--type=example/x"],
        ["secret", "s"],
    ),
    (["create", "serviceaccount", "robot"], ["serviceaccount", "robot"]),
    (["create", "service", "clusterip", "svc", "--tcp=80:8080"], ["service", "svc"]),
    (["create", "job", "once", "--image=busybox", "--", "date"], ["job", "once"]),
    (
        ["create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"],
        ["cronjob", "tick"],
    ),
    (
        [
            "create",
            "role",
            "reader",
            "--verb=get,list",
            "--resource=pods,deployments.apps",
            "--resource-name=a",
        ],
        ["role", "reader"],
    ),
    (
        ["create", "clusterrole", "viewer", "--verb=get", "--non-resource-url=/healthz"],
        ["clusterrole", "viewer"],
    ),
    (
        [
            "create",
            "rolebinding",
            "read",
            "--role=reader",
            "--user=ann",
            "--serviceaccount=default:robot",
            "--group=devs",
        ],
        ["rolebinding", "read"],
    ),
    (
        ["create", "clusterrolebinding", "view", "--clusterrole=viewer", "--user=bob"],
        ["clusterrolebinding", "view"],
    ),
]


@pytest.mark.parametrize(("command", "get"), COMMANDS, ids=lambda c: "-".join(c[:3]))
async def test_typed_commands_store_what_kubectl_built(
    kubectl: Kubectl, command: list[str], get: list[str]
) -> None:
    at = command.index("--") if "--" in command else len(command)
    built = await kubectl.json(*command[:at], "--dry-run=client", *command[at:])
    code, output = await kubectl.run(*command)
    assert code == 0, output
    assert "created" in output
    stored = await kubectl.json("get", *get)
    assert missing_from(built, stored) == []
    code, listing = await kubectl.run("get", get[0])
    assert get[1] in listing


async def test_deployment_created_by_kubectl_gets_a_replicaset_and_ready_pods(
    kubectl: Kubectl,
) -> None:
    await kubectl.run("create", "deployment", "web", "--image=nginx", "--replicas=2")
    with anyio.fail_after(15):
        while True:
            deployment = await kubectl.json("get", "deployment", "web")
            if deployment.get("status", {}).get("readyReplicas") == 2:
                break
            await anyio.sleep(0.1)
    replicasets = (await kubectl.json("get", "replicasets", "-l", "app=web"))["items"]
    assert len(replicasets) == 1
    assert replicasets[0]["metadata"]["ownerReferences"][0]["name"] == "web"
    pods = (await kubectl.json("get", "pods", "-l", "app=web"))["items"]
    assert len(pods) == 2
    assert {p["metadata"]["ownerReferences"][0]["name"] for p in pods} == {
        replicasets[0]["metadata"]["name"]
    }
    _, out = await kubectl.run("rollout", "status", "deployment/web", "--timeout=10s")
    assert "successfully rolled out" in out


async def test_replicas_zero_survives_the_protobuf_encoding(kubectl: Kubectl) -> None:
    """A pointer field set to zero is sent; it must not be read as 'unset' (default 1)."""
    await kubectl.run("create", "deployment", "idle", "--image=nginx", "--replicas=0")
    assert (await kubectl.json("get", "deployment", "idle"))["spec"]["replicas"] == 0


async def test_a_kind_the_decoder_does_not_know_gets_a_clear_415(kubectl: Kubectl) -> None:
    code, output = await kubectl.run("create", "priorityclass", "high", "--value=1000", check=False)
    assert code != 0
    assert "cannot decode this protobuf body" in output
    assert "PriorityClass" in output
    assert "application/json" in output


async def test_explain_reads_the_served_schemas(kubectl: Kubectl) -> None:
    _, out = await kubectl.run("explain", "deployment.spec.replicas")
    assert "FIELD: replicas <integer>" in out
    assert "Number of desired pods" in out
    _, out = await kubectl.run("explain", "pods.spec.containers.ports")
    assert "containerPort\t<integer> -required-" in out or "containerPort\t<integer>" in out
    _, out = await kubectl.run("explain", "lease.spec.renewTime")
    assert "KIND:       Lease" in out
    code, out = await kubectl.run("explain", "deployment.spec.nonsense", check=False)
    assert code != 0
    assert "nonsense" in out


CSA_BEFORE = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: csa}
spec:
  replicas: 1
  selector: {matchLabels: {app: csa}}
  template:
    metadata: {labels: {app: csa}}
    spec:
      containers:
      - name: a
        image: nginx:1
        env: [{name: EX, value: "1"}, {name: EY, value: "2"}]
      - name: b
        image: busybox:1
"""
CSA_AFTER = CSA_BEFORE.split("      - name: b")[0].replace(', {name: EY, value: "2"}', "")


async def test_client_side_apply_merges_lists_by_the_served_merge_keys(
    kubectl: Kubectl, tmp_path: Path
) -> None:
    """kubectl computes the three-way patch from the served schema's patch extensions:
    a container and an env var it stops applying go, one set by someone else stays."""
    before, after = tmp_path / "before.yaml", tmp_path / "after.yaml"
    before.write_text(CSA_BEFORE)
    after.write_text(CSA_AFTER)
    await kubectl.run("apply", "-f", str(before))
    await kubectl.run("set", "env", "deployment/csa", "-c", "a", "EZ=3")
    await kubectl.run("apply", "-f", str(after))
    containers = (await kubectl.json("get", "deployment", "csa"))["spec"]["template"]["spec"][
        "containers"
    ]
    assert [c["name"] for c in containers] == ["a"]
    assert containers[0]["env"] == [{"name": "EX", "value": "1"}, {"name": "EZ", "value": "3"}]
