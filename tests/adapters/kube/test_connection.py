"""Clients built from one kubeconfig: the right cluster each, the file parsed once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.config import kube_config

from fleet.adapters.kube.connection import ClusterEndpoint, new_api_client

pytestmark = pytest.mark.anyio


def write_kubeconfig(path: Path, count: int, token: str = "t0ken") -> None:
    names = [f"c{i}" for i in range(count)]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": n, "cluster": {"server": f"https://10.0.0.{i + 1}:6443"}}
                    for i, n in enumerate(names)
                ],
                "users": [{"name": n, "user": {"token": f"{token}-{n}"}} for n in names],
                "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in names],
                "current-context": names[0],
            }
        )
    )


class CountingMerger(kube_config.KubeConfigMerger):  # type: ignore[misc]
    reads = 0

    def __init__(self, paths: str) -> None:
        CountingMerger.reads += 1
        super().__init__(paths)


async def test_each_context_gets_its_own_server_and_token_from_one_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube_config, "KubeConfigMerger", CountingMerger)
    CountingMerger.reads = 0
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, 5)
    for i in (3, 0, 4):
        api = await new_api_client(ClusterEndpoint(f"c{i}", kubeconfig=kubeconfig, context=f"c{i}"))
        try:
            assert api.configuration.host == f"https://10.0.0.{i + 1}:6443"
            assert api.configuration.api_key["BearerToken"] == f"Bearer t0ken-c{i}"
        finally:
            await api.close()
    assert CountingMerger.reads == 1


async def test_a_changed_kubeconfig_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube_config, "KubeConfigMerger", CountingMerger)
    CountingMerger.reads = 0
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, 2)
    endpoint = ClusterEndpoint("c1", kubeconfig=kubeconfig, context="c1")
    api = await new_api_client(endpoint)
    await api.close()
    write_kubeconfig(kubeconfig, 2, token="rotated")
    stamp = kubeconfig.stat()
    os.utime(kubeconfig, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000))
    api = await new_api_client(endpoint)
    try:
        assert api.configuration.api_key["BearerToken"] == "Bearer rotated-c1"
    finally:
        await api.close()
    assert CountingMerger.reads == 2


async def test_a_missing_context_is_still_refused(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, 2)
    with pytest.raises(kube_config.ConfigException, match="nope"):
        await new_api_client(ClusterEndpoint("x", kubeconfig=kubeconfig, context="nope"))
