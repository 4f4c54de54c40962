"""How to reach one cluster, and the kubernetes_asyncio ApiClient built from it.

One ApiClient per cluster and no global configuration: ``new_client_from_config`` with
``persist_config=False`` so that a refreshed token is never written back into the
user's kubeconfig. The token file of a server/CA/token endpoint is re-read on every
request (through ``refresh_api_key_hook``), so a rotated token is picked up without a
restart, as kubelet-projected tokens require.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as kube_client
from kubernetes_asyncio.config import kube_config

from fleet.adapters.kube.http1 import LeanPool
from fleet.adapters.kube.transport import lean_pool_for, use_lean_session


@dataclass(frozen=True, slots=True)
class ClusterEndpoint:
    """Either a kubeconfig (and context), or a server URL with CA and token files."""

    name: str
    kubeconfig: Path | None = None
    context: str | None = None
    server: str | None = None
    ca_file: Path | None = None
    token_file: Path | None = None

    def describe(self) -> str:
        """Where the cluster is, without any credential."""
        if self.kubeconfig is not None:
            return f"{self.kubeconfig} context {self.context or '(current)'}"
        return self.server or "(no server)"


async def new_api_client(endpoint: ClusterEndpoint) -> kube_client.ApiClient:
    """A fresh ApiClient for the endpoint; the caller closes it."""
    api, _ = await new_transport(endpoint)
    return api


async def new_transport(
    endpoint: ClusterEndpoint,
) -> tuple[kube_client.ApiClient, LeanPool | None]:
    """A fresh ApiClient, and the lean pool for its ordinary requests (None by a proxy).

    The caller closes both. The pool opens no connection until its first request.
    """
    api = await _api_client(endpoint)
    context = await use_lean_session(api)
    return api, lean_pool_for(api, context)


#: Parsed kubeconfig files by (path, modification time, size): see ``_parsed``.
_KUBECONFIGS: dict[tuple[str, int, int], Any] = {}


def _parsed(kubeconfig: Path) -> Any:
    """The kubeconfig as kubernetes_asyncio's ``KubeConfigMerger`` reads it, read once.

    ``new_client_from_config`` parses the whole file for every client, and merges its
    entries pairwise: with one kubeconfig naming 1,000 clusters, starting the daemon
    parsed 1,000 contexts 1,000 times and never became ready. The parse is kept per
    file until the file changes (a new modification time or size reads it again).
    """
    name = str(kubeconfig)
    status = os.stat(name)
    key = (name, status.st_mtime_ns, status.st_size)
    merged = _KUBECONFIGS.get(key)
    if merged is None:
        for stale in [k for k in _KUBECONFIGS if k[0] == name]:
            del _KUBECONFIGS[stale]
        merged = kube_config.KubeConfigMerger(name).config
        _KUBECONFIGS[key] = merged
    return merged


async def _api_client(endpoint: ClusterEndpoint) -> kube_client.ApiClient:
    if endpoint.kubeconfig is not None:
        # As new_client_from_config(persist_config=False) does, on a shared parse.
        configuration = type.__call__(kube_client.Configuration)
        loader = kube_config.KubeConfigLoader(
            config_dict=_parsed(endpoint.kubeconfig),
            config_base_path=None,
            active_context=endpoint.context,
        )
        await loader.load_and_set(configuration)
        return kube_client.ApiClient(configuration=configuration)
    if not endpoint.server:
        raise ValueError(f"cluster {endpoint.name}: neither kubeconfig nor server given")
    configuration = kube_client.Configuration(host=endpoint.server.rstrip("/"))
    if endpoint.ca_file is not None:
        configuration.ssl_ca_cert = str(endpoint.ca_file)
    if endpoint.token_file is not None:
        token_file = endpoint.token_file

        def _read_token(conf: Any) -> None:
            token = token_file.read_text().strip()
            conf.api_key = {"BearerToken": token}
            conf.api_key_prefix = {"BearerToken": "Bearer"}

        _read_token(configuration)
        configuration.refresh_api_key_hook = _read_token
    return kube_client.ApiClient(configuration)
