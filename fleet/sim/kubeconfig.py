"""kubeconfig files for a simulated fleet: one with every context, one per cluster.

The CA is referenced by path (``certificate-authority``), not embedded: kubernetes_asyncio
would otherwise write the embedded data to a temporary file of its own. Files holding
tokens are written with mode 0600. They are JSON, which every YAML reader takes, so that
every name is a quoted string: kubectl's YAML 1.1 parser reads a bare ``n`` or ``y`` (a
cluster named so) as a boolean, which PyYAML does not quote.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a kubeconfig needs to reach one cluster."""

    name: str
    server: str
    token: str
    ca_file: Path


def document(clusters: Sequence[Credentials], current: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": c.name,
                "cluster": {"server": c.server, "certificate-authority": str(c.ca_file.resolve())},
            }
            for c in clusters
        ],
        "users": [{"name": c.name, "user": {"token": c.token}} for c in clusters],
        "contexts": [
            {"name": c.name, "context": {"cluster": c.name, "user": c.name}} for c in clusters
        ],
        "current-context": current
        if current is not None
        else (clusters[0].name if clusters else ""),
    }


def write(path: Path, clusters: Sequence[Credentials], current: str | None = None) -> Path:
    """Write a kubeconfig (mode 0600) and return its path."""
    text = json.dumps(document(clusters, current), indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path
