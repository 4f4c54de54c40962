"""kubectl itself against the simulator: apply, get, patch, delete, api-resources, get -w."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.sim.conftest import Sim

KUBECTL = shutil.which("kubectl")
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine"),
]

MANIFESTS = """
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        env:
        - {name: A, value: "1"}
"""


async def kubectl(sim: Sim, *args: str, stdin: str | None = None, check: bool = True) -> str:
    assert KUBECTL is not None
    command = [KUBECTL, "--kubeconfig", str(sim.fleet.kubeconfig_path), "--context", "sim-1", *args]
    result = await anyio.run_process(
        command,
        input=stdin.encode() if stdin else None,
        check=False,
        env={"HOME": str(sim.directory)},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {result.stderr.decode()}")
    return result.stdout.decode() + (result.stderr.decode() if not check else "")


async def get(sim: Sim, *args: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(await kubectl(sim, "get", *args, "-o", "json"))
    return document


async def test_apply_server_side_get_patch_delete(sim: Sim) -> None:
    out = await kubectl(sim, "apply", "--server-side", "-f", "-", stdin=MANIFESTS)
    assert "deployment.apps/web serverside-applied" in out
    deployment = await get(sim, "-n", "shop", "deployment", "web")
    assert deployment["spec"]["replicas"] == 2

    await kubectl(
        sim,
        "-n",
        "shop",
        "patch",
        "deployment",
        "web",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"B","value":"2"}]}]}}}}',
    )
    await kubectl(
        sim,
        "-n",
        "shop",
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        '{"metadata":{"labels":{"team":"blue"}}}',
    )
    await kubectl(
        sim,
        "-n",
        "shop",
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/replicas","value":3}]',
    )
    deployment = await get(sim, "-n", "shop", "deployment", "web")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert sorted(e["name"] for e in env) == ["A", "B"]  # merged by name, nothing replaced
    assert deployment["metadata"]["labels"] == {"team": "blue"}
    assert deployment["spec"]["replicas"] == 3
    stored = sim.cluster.get_object("apps", "deployments", "shop", "web")
    assert stored is not None
    assert stored["metadata"]["generation"] == 3

    out = await kubectl(sim, "apply", "--server-side", "-f", "-", stdin=MANIFESTS, check=False)
    assert "conflict" in out.lower()
    assert ".spec.replicas" in out
    await kubectl(sim, "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=MANIFESTS)
    assert (await get(sim, "-n", "shop", "deployment", "web"))["spec"]["replicas"] == 2

    await kubectl(sim, "-n", "shop", "delete", "deployment", "web")
    assert sim.cluster.get_object("apps", "deployments", "shop", "web") is None
    await kubectl(sim, "delete", "namespace", "shop", "--timeout=20s")
    assert sim.cluster.get_object("", "namespaces", "", "shop") is None


async def test_api_resources_lists_builtin_and_custom_kinds(sim: Sim) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "kind": "Gadget", "shortNames": ["gd"]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    await kubectl(sim, "apply", "--server-side", "-f", "-", stdin=json.dumps(crd))
    await kubectl(
        sim, "wait", "--for=condition=Established", "crd/gadgets.example.com", "--timeout=10s"
    )
    out = await kubectl(sim, "api-resources")
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "deploy" in lines["deployments"]
    assert "gd" in lines["gadgets"]
    assert "example.com/v1" in lines["gadgets"]
    gadget = {
        "apiVersion": "example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": "g1", "namespace": "default"},
        "spec": {"size": 1},
    }
    await kubectl(sim, "apply", "--server-side", "-f", "-", stdin=json.dumps(gadget))
    assert (await get(sim, "gd", "g1"))["spec"] == {"size": 1}
    out = await kubectl(sim, "patch", "gd", "g1", "-p", '{"spec":{"size":2}}', check=False)
    assert "strategic-merge-patch+json is not supported by example.com/v1" in out, out
    await kubectl(sim, "patch", "gd", "g1", "--type=merge", "-p", '{"spec":{"size":2}}')
    assert (await get(sim, "gd", "g1"))["spec"] == {"size": 2}


async def shows(output: Path, text: str) -> None:
    while True:
        if text in await anyio.Path(output).read_text():
            return
        await anyio.sleep(0.05)


async def test_get_prints_tables_and_watch_shows_changes(sim: Sim, tmp_path: Path) -> None:
    await kubectl(
        sim, "create", "-f", "-", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n"
    )
    table = await kubectl(sim, "get", "configmaps")
    assert table.split()[:3] == ["NAME", "DATA", "AGE"]
    assert "first" in table
    assert KUBECTL is not None
    output = tmp_path / "watch.out"
    with output.open("wb") as sink:
        process = await anyio.open_process(
            [
                KUBECTL,
                "--kubeconfig",
                str(sim.fleet.kubeconfig_path),
                "get",
                "configmaps",
                "-w",
                "--output-watch-events",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={"HOME": str(sim.directory)},
        )
        async with process:
            with anyio.fail_after(15):
                await shows(output, "first")
                await kubectl(
                    sim,
                    "create",
                    "-f",
                    "-",
                    stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: second}\n",
                )
                await shows(output, "second")
            process.terminate()
    lines = output.read_text().splitlines()
    assert any(line.split()[:2] == ["ADDED", "second"] for line in lines), lines
