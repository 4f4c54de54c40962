"""A simulated fleet: many clusters in one process, one event loop, one CA.

``SimFleet.start(directory, ...)`` is the async context manager tests, the demo and the
benchmarks use; ``fleet sim up`` wraps it. It writes into ``directory``:

* ``ca.crt`` (and the shared serving certificate and key),
* ``kubeconfig`` with one context per cluster, named after it,
* ``<name>.kubeconfig`` per cluster,
* ``admin.json``, the URL and token of the fault-switching admin endpoint, written
  last: once it exists, every cluster serves and its controllers run.

With ``controllers=True`` the status controllers of :mod:`fleet.sim.controllers` run
against every cluster as API clients, as they would against a real API server, and each
cluster registers a Node per pretend node they place pods on (:mod:`fleet.sim.nodes`):
a cluster with controllers looks like one with kubelets, one without like a bare API
server.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from fleet.sim import certs, kubeconfig
from fleet.sim.admin import AdminServer
from fleet.sim.server import SimCluster

#: The User-Agent of the status controllers' requests.
CONTROLLERS_USER_AGENT = "fleet-sim-controllers/1"


def bypass_proxy_for_loopback() -> None:
    """Keep loopback out of any proxy: kubernetes_asyncio's aiohttp session trusts the
    environment's HTTP(S)_PROXY, which would send other in-process clients' requests
    to 127.0.0.1 (tests, the demo) through it. The controllers' own sessions ignore the
    environment (see :meth:`SimFleet.internal_api_client`)."""
    for variable in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(variable, "").split(",") if h]
        missing = [h for h in ("127.0.0.1", "localhost") if h not in hosts]
        if missing:
            os.environ[variable] = ",".join([*hosts, *missing])


async def _stop_all(clusters: list[SimCluster]) -> None:
    """Stop every cluster at once (one by one, each waiting for its handlers, is slow)."""
    async with anyio.create_task_group() as group:
        for cluster in clusters:
            group.start_soon(cluster.stop)


def _absolute(directory: Path) -> Path:
    return Path(directory).absolute()


def default_names(count: int) -> list[str]:
    return [f"sim-{i}" for i in range(1, count + 1)]


@dataclass(slots=True)
class SimFleet:
    directory: Path
    clusters: dict[str, SimCluster]
    kubeconfig_path: Path
    admin_url: str = ""
    admin_token: str = ""
    _api_clients: list[Any] = field(default_factory=list)

    def __getitem__(self, name: str) -> SimCluster:
        return self.clusters[name]

    @property
    def names(self) -> list[str]:
        return list(self.clusters)

    async def api_client(self, name: str) -> Any:
        """A kubernetes_asyncio ApiClient for one cluster (caller closes it)."""
        from kubernetes_asyncio import config

        # The one-cluster kubeconfig: parsing the fleet's (every context) per client would
        # make starting N clients cost N^2.
        return await config.new_client_from_config(
            config_file=str(self.clusters[name].kubeconfig_path), context=name, persist_config=False
        )

    async def internal_api_client(self, name: str) -> Any:
        """An ApiClient over the cluster's loopback plain-HTTP listener (see
        :attr:`SimCluster.internal_url`), as the in-process controllers use (caller
        closes it).

        Its aiohttp session does not trust the environment: kubernetes_asyncio's does,
        which costs every request a netrc read and a proxy lookup in a worker thread,
        and a loopback listener in our own process never sits behind a proxy.
        """
        import aiohttp
        from kubernetes_asyncio import client

        cluster = self.clusters[name]
        configuration = client.Configuration(host=cluster.internal_url)
        configuration.api_key["BearerToken"] = f"Bearer {cluster.token}"
        # Unused over plain HTTP, but the client builds an SSL context anyway: from the
        # fleet's one-certificate CA file it costs nothing, from the system store ~0.8 MiB.
        configuration.ssl_ca_cert = str(cluster.ca_file)
        api_client = client.ApiClient(configuration)
        rest = api_client.rest_client
        await rest.pool_manager.close()
        rest.pool_manager = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=configuration.connection_pool_maxsize),
            trust_env=False,
            read_bufsize=2**21,  # as kubernetes_asyncio's: whole objects in watch events
        )
        return api_client

    @classmethod
    @asynccontextmanager
    async def start(
        cls,
        directory: Path,
        names: Sequence[str] | None = None,
        count: int = 3,
        labels: Mapping[str, Mapping[str, str]] | None = None,
        latency: float = 0.0,
        controllers: bool = True,
        ready_delay: float = 1.0,
        watch_window: int = 1000,
        bookmark_interval: float = 60.0,
        nodes: int = 1,
    ) -> AsyncIterator[SimFleet]:
        """Start the clusters, write the kubeconfigs, yield; stop everything on exit.

        ``nodes``: how many pretend nodes each cluster's controllers place pods on, each
        with its Node object (without controllers: none).
        """
        if nodes < 1:
            raise ValueError(f"nodes must be at least 1, not {nodes}")
        directory = _absolute(directory)
        names = list(names) if names else default_names(count)
        if len(set(names)) != len(names):
            raise ValueError(f"cluster names must be unique: {names}")
        labels = labels or {}
        unknown = set(labels) - set(names)
        if unknown:
            raise ValueError(f"labels given for unknown clusters: {', '.join(sorted(unknown))}")
        tls = certs.generate(directory)
        ssl_context = tls.server_context()
        clusters = {
            name: SimCluster(name, labels.get(name), latency, watch_window, bookmark_interval)
            for name in names
        }
        async with AsyncExitStack() as stack:
            stack.push_async_callback(_stop_all, list(clusters.values()))
            for cluster in clusters.values():
                await cluster.start(ssl_context)
            credentials = []
            for cluster in clusters.values():
                cluster.ca_file = tls.ca_file
                creds = kubeconfig.Credentials(
                    cluster.name, cluster.url, cluster.token, tls.ca_file
                )
                credentials.append(creds)
                cluster.kubeconfig_path = kubeconfig.write(
                    directory / f"{cluster.name}.kubeconfig", [creds]
                )
            fleet_path = kubeconfig.write(directory / "kubeconfig", credentials)
            admin = AdminServer(clusters)
            stack.push_async_callback(admin.stop)
            await admin.start()
            fleet = cls(directory, clusters, fleet_path, admin.url, admin.token)
            if controllers:
                await stack.enter_async_context(fleet._controllers(ready_delay, nodes))
            admin.write(directory)  # last: once it exists, the fleet is ready
            yield fleet

    @asynccontextmanager
    async def _controllers(self, ready_delay: float, nodes: int) -> AsyncIterator[None]:
        from fleet.sim.controllers import run_controllers
        from fleet.sim.controllers.kubelet import node_names
        from fleet.sim.local_access import LocalAccess
        from fleet.sim.nodes import register_nodes

        bypass_proxy_for_loopback()
        for cluster in self.clusters.values():
            # The simulator's own writes, not the controllers': see fleet.sim.nodes.
            register_nodes(cluster.state, node_names(nodes))

        clients = [await self.internal_api_client(name) for name in self.clusters]
        for api_client in clients:
            # Told apart from other clients in the request counters (fleet.sim.counters).
            api_client.user_agent = CONTROLLERS_USER_AGENT
        user = CONTROLLERS_USER_AGENT.split("/")[0]
        try:
            async with anyio.create_task_group() as group:
                # Started side by side: each start waits for its caches to be listed.
                async with anyio.create_task_group() as starting:
                    for api_client, cluster in zip(clients, self.clusters.values(), strict=True):
                        # Writes in-process, lists and watches over loopback HTTP.
                        access = LocalAccess(api_client, cluster, user)
                        starting.start_soon(
                            group.start,
                            partial(
                                run_controllers,
                                api_client,
                                ready_delay=ready_delay,
                                nodes=nodes,
                                access=access,
                            ),
                        )
                try:
                    yield
                finally:
                    group.cancel_scope.cancel()
        finally:
            for api_client in clients:
                await api_client.close()
