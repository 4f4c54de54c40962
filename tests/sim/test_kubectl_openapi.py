"""kubectl reading ``/openapi/v2``, which it only takes as protobuf.

kubectl asks for v2 when its ``/openapi/v3`` request fails (a timeout or an error on a
busy server) and for ``kubectl explain --output=plaintext-openapiv2``. A 1,000-cluster
benchmark saw three ``kubectl apply`` fail with "failed to download openapi: proto:
cannot parse invalid wire-format data": v3 had failed under load and v2 came back as
JSON. Here v3 is made to fail with a path-limited fault, and each test runs kubectl with
a fresh cache directory so that it really downloads.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import anyio
import pytest

from tests.sim.conftest import Sim

KUBECTL = shutil.which("kubectl")
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine"),
]

NAMESPACE = """
apiVersion: v1
kind: Namespace
metadata:
  name: shop
"""


async def kubectl(sim: Sim, cache: Path, *args: str, stdin: str = "") -> tuple[int, str]:
    """Exit code and stdout+stderr; ``cache`` is the kubectl cache directory."""
    assert KUBECTL is not None
    command = [
        KUBECTL,
        "--kubeconfig",
        str(sim.fleet.kubeconfig_path),
        "--context",
        "sim-1",
        "--cache-dir",
        str(cache),
        *args,
    ]
    result = await anyio.run_process(
        command, input=stdin.encode(), check=False, env={"HOME": str(sim.directory)}
    )
    return result.returncode, result.stdout.decode() + result.stderr.decode()


async def test_explain_from_openapi_v2_protobuf(sim: Sim, tmp_path: Path) -> None:
    code, out = await kubectl(
        sim, tmp_path / "cache", "explain", "deployments", "--output=plaintext-openapiv2"
    )
    assert code == 0, out
    assert "KIND:     Deployment" in out
    assert "VERSION:  apps/v1" in out


async def test_apply_validates_through_openapi_v2_when_v3_fails(sim: Sim, tmp_path: Path) -> None:
    faults = sim.cluster.faults
    faults.paths = ("/openapi/v3",)
    faults.error_rate = 1.0
    faults.error_code = 503  # no Retry-After: client-go does not retry, kubectl falls back
    code, out = await kubectl(
        sim,
        tmp_path / "cache",
        "apply",
        "--server-side",
        "--validate=true",
        "-v=6",
        "-f",
        "-",
        stdin=NAMESPACE,
    )
    assert code == 0, out
    assert "namespace/shop serverside-applied" in out
    # It did go the way under test: v3 refused, v2 downloaded.
    assert re.search(r"GET \S+/openapi/v3\S* 503 ", out), out
    assert re.search(r"GET \S+/openapi/v2\S* 200 OK", out), out
    assert sim.cluster.get_object("", "namespaces", "", "shop") is not None
