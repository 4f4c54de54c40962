"""The HTTP session under one cluster's ApiClient, built for a daemon that holds many.

kubernetes_asyncio gives every ApiClient an aiohttp session with ``trust_env=True`` and a
connector limited to ``connection_pool_maxsize`` (5 per CPU). Both hurt here:

- with ``trust_env`` aiohttp looks up netrc and the proxy variables in a worker thread
  on *every* request, two thread hops that were a tenth of the daemon's CPU. The proxy
  for a cluster is decided once instead (the kubeconfig's ``proxy-url`` first, then
  ``HTTPS_PROXY``/``NO_PROXY``); netrc never applies to a cluster's API;
- watches hold a connection each for minutes, so an app with as many kinds as the pool
  has slots would leave no connection for a request. The connector is unlimited, and
  the client bounds its ordinary requests itself (see ``ClusterClient``);
- aiohttp closes a connection idle for 15 s, and a sync's bursts of requests are often
  further apart than that (a rollout to wait for), so each burst paid new TLS
  handshakes. Idle connections are kept ``KEEPALIVE`` s, under the 75 s after which
  aiohttp's server and the 90 s after which Go's close an idle one.

Requests and watches go over a lean pool (``http1``) sharing the session's TLS context,
unless the cluster is reached through a proxy.
"""

from __future__ import annotations

import ssl
import urllib.request
from urllib.parse import urlsplit

import aiohttp
from kubernetes_asyncio import client as kube_client

from fleet.adapters.kube.http1 import LeanPool, Origin

#: Largest response line read at once: a watch event holds a whole object (etcd's limit
#: is 1.5 MiB), as kubernetes_asyncio sets it. A longer watch line is an error.
READ_BUFFER = 2**21
#: Seconds an idle connection to an API server stays open for the next request.
KEEPALIVE = 60.0


def ssl_context_for(configuration: kube_client.Configuration) -> ssl.SSLContext:
    """Verification as the kubeconfig asks: its CA (or the system's), client cert, flags."""
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.disable_strict_ssl_verification:
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


def proxy_for(server: str, configured: str | None) -> str | None:
    """The proxy to reach ``server`` through: the kubeconfig's, else the environment's."""
    if configured:
        return configured
    parts = urlsplit(server)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


async def use_lean_session(api: kube_client.ApiClient) -> ssl.SSLContext:
    """Swap the ApiClient's session for one without per-request env lookups or a cap.

    Returns the TLS context it built, for the lean pool to share (a context holds the
    parsed CA: one per cluster, not two).
    """
    rest = api.rest_client
    configuration = api.configuration
    context = ssl_context_for(configuration)
    connector = aiohttp.TCPConnector(limit=0, ssl=context, keepalive_timeout=KEEPALIVE)
    session = aiohttp.ClientSession(connector=connector, trust_env=False, read_bufsize=READ_BUFFER)
    unused, rest.pool_manager = rest.pool_manager, session
    proxy = proxy_for(str(configuration.host), configuration.proxy)
    if proxy is not None:
        rest.proxy = proxy
    await unused.close()
    return context


def lean_pool_for(api: kube_client.ApiClient, context: ssl.SSLContext) -> LeanPool | None:
    """The pool for the cluster's requests and watches; None when it is reached by a proxy."""
    rest = api.rest_client
    if rest.proxy:
        return None
    try:
        origin = Origin.of(str(api.configuration.host))
    except ValueError:
        # Not an http(s) URL the pool can reach: the session's requests fail as before,
        # each with the cluster's error, and building the client never does.
        return None
    return LeanPool(
        origin,
        ssl_context=context,
        server_hostname=rest.server_hostname or None,
        keepalive=KEEPALIVE,
    )
