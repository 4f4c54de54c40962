"""A simulated cluster (no controllers) and clients for the API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.dynamic import DynamicClient

from fleet.sim.fleet import SimFleet
from fleet.sim.server import SimCluster


@dataclass
class Sim:
    fleet: SimFleet
    cluster: SimCluster
    api: client.ApiClient
    core: client.CoreV1Api
    apps: client.AppsV1Api
    directory: Path

    async def dynamic(self) -> Any:
        return await DynamicClient(self.api, cache_file=str(self.directory / "discovery.json"))


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    async with SimFleet.start(
        tmp_path / "sim", count=1, controllers=False, bookmark_interval=0.2
    ) as fleet:
        cluster = fleet.clusters["sim-1"]
        api = await fleet.api_client("sim-1")
        async with api:
            yield Sim(fleet, cluster, api, client.CoreV1Api(api), client.AppsV1Api(api), tmp_path)
