"""fleet: a GitOps fleet manager for many Kubernetes clusters.

The package is layered so that the decisions can be tested without I/O:
``model`` (frozen data) <- ``engine`` (pure planning) <- ``config`` (validated input)
<- ``adapters`` (Kubernetes, Git, rendering, SQLite, HTTP, telemetry) and ``sim``
(simulated API servers) <- ``runtime`` (anyio task groups) <- ``cli``.
"""

__version__ = "0.1.0"
