"""Notifications from the running daemon: a sync's outcome reaches a webhook on loopback.

``fleet run`` (a subprocess) with a ``notifications`` section pointing at a real HTTP
receiver in the test: a good commit sends ``sync_succeeded``; a release that crash-loops
sends ``sync_failed`` and, once, ``health_degraded``; each names the commit and author.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.notify.receivers import HttpReceiver, http_receiver
from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import edit_yaml, eventually, seed_app, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def cluster_count() -> int:
    return 1


def kinds(receiver: HttpReceiver) -> list[tuple[str, dict[str, Any]]]:
    bodies = [json.loads(r.body) for r in receiver.requests]
    return [(b["kind"], b) for b in bodies]


async def test_sync_outcomes_are_sent_to_a_webhook(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    files = seed_app("web")
    secret = tmp_path / "hmac-key"
    secret.write_text("shared-secret\n")
    secret.chmod(0o600)

    def crashing(doc: dict[str, Any]) -> None:
        doc["spec"]["progressDeadlineSeconds"] = 2
        doc["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/crashloop:2"

    async with http_receiver() as receiver, world(clusters, tmp_path) as w:
        config = w.config(sync_policy={"timeouts": {"wave": "30s"}})
        config["notifications"] = {
            "groupWindow": "0s",
            "link": "https://grafana.example.com/d/fleet?var-app={app}&var-cluster={cluster}",
            "destinations": [
                {"name": "ops", "webhook": {"url": receiver.url(), "secretFile": str(secret)}}
            ],
            "rules": [
                {
                    "name": "outcomes",
                    "events": ["sync_succeeded", "sync_failed", "health_degraded"],
                    "apps": ["web"],
                    "destinations": ["ops"],
                }
            ],
        }
        daemon = await w.daemon(config)

        async def succeeded() -> list[dict[str, Any]]:
            found = [b for k, b in kinds(receiver) if k == "sync_succeeded"]
            return found if {b["cluster"] for b in found} >= set(w.names) else []

        # One per cluster: as many as the run has (simulated: 1; real: the contexts given).
        oks = await eventually(succeeded, timeout=60, what="a sync_succeeded webhook per cluster")
        assert sorted(b["cluster"] for b in oks) == sorted(w.names), oks
        for ok in oks:
            assert ok["app"] == "web"
            assert ok["revision"] == w.seed_sha
            assert ok["commitMessage"] == "seed: web app"
            assert ok["author"]
            assert ok["link"] == (
                f"https://grafana.example.com/d/fleet?var-app=web&var-cluster={ok['cluster']}"
            )
        request = receiver.requests[0]
        digest = hmac.new(b"shared-secret", request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Fleet-Signature"] == f"sha256={digest}"

        ns = w.namespace
        sha = await w.commit(
            "a release that crash-loops",
            {
                "base/deployment.yaml": edit_yaml(
                    files["apps/web/base/deployment.yaml"], crashing
                ).replace("namespace: web", f"namespace: {ns}"),
            },
        )

        async def failed() -> bool:
            seen = {(k, b["cluster"]) for k, b in kinds(receiver) if b["revision"] == sha}
            wanted = {(k, c) for k in ("sync_failed", "health_degraded") for c in w.names}
            return wanted <= seen

        await eventually(failed, timeout=60, what="sync_failed and health_degraded webhooks")
        await daemon.stop(timeout=15)
    after = [(k, b) for k, b in kinds(receiver) if b["revision"] == sha]
    failure = next(b for k, b in after if k == "sync_failed")
    assert failure["commitMessage"] == "a release that crash-loops"
    assert "progress deadline" in failure["message"]
    assert failure["syncId"] is not None
    degraded = [b for k, b in after if k == "health_degraded"]
    # Once per transition and cluster, not on every compare.
    assert sorted(b["cluster"] for b in degraded) == sorted(w.names), degraded
    assert all("Deployment" in b["message"] for b in degraded)
