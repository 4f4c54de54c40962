"""The daemon's HA wiring: where the Lease is, Litestream found or refused, standby answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from fleet.adapters.http.address import ApiAddress
from fleet.adapters.http.server import serve
from fleet.adapters.http.standby import build_standby_app
from fleet.config import Settings, load_fleet_config
from fleet.config.high_availability import HaSettings
from fleet.runtime.high_availability import HighAvailability, lease_endpoint, litestream_for
from fleet.runtime.leadership import HaError, Timings
from tests.support.gitservers import free_port

pytestmark = pytest.mark.anyio


def fleet_file(tmp_path: Path) -> Path:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "home", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "home",
            }
        )
    )
    path = tmp_path / "fleet.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "home", "kubeconfig": str(kubeconfig), "context": "home"}],
                "sources": [],
                "apps": [],
            }
        )
    )
    return path


def test_the_lease_cluster_is_one_of_the_fleet_s(tmp_path: Path) -> None:
    config = load_fleet_config(fleet_file(tmp_path))
    settings = Settings(ha={"lease": {"cluster": "home"}})
    assert settings.ha is not None
    endpoint = lease_endpoint(settings.ha, settings, config)
    assert (endpoint.name, endpoint.context) == ("home", "home")
    assert endpoint.kubeconfig == tmp_path / "kubeconfig"
    missing = Settings(ha={"lease": {"cluster": "nowhere"}})
    assert missing.ha is not None
    with pytest.raises(HaError, match=r"no cluster named 'nowhere'.*clusters: home"):
        lease_endpoint(missing.ha, missing, config)


def test_a_lease_cluster_of_its_own(tmp_path: Path) -> None:
    ha = HaSettings(lease={"kubeconfig": tmp_path / "home.kubeconfig", "context": "pi"})
    endpoint = lease_endpoint(ha, Settings(), None)
    assert (endpoint.kubeconfig, endpoint.context) == (tmp_path / "home.kubeconfig", "pi")


def test_a_fleet_config_from_git_cannot_name_the_lease_cluster() -> None:
    settings = Settings(
        ha={"lease": {"cluster": "home"}},
        config_source={
            "url": "https://git.example/fleet.git",
            "path": "fleet.yaml",
            "branch": "main",
        },
    )
    assert settings.ha is not None
    with pytest.raises(HaError, match=r"give ha.lease.kubeconfig"):
        lease_endpoint(settings.ha, settings, None)


def test_litestream_is_found_or_refused(tmp_path: Path) -> None:
    bare = HaSettings(lease={"cluster": "a"})
    assert litestream_for(bare, tmp_path / "history.db") is None
    missing = HaSettings(
        lease={"cluster": "a"},
        replica={"url": "file:///srv/r", "litestream": tmp_path / "no-litestream"},
    )
    with pytest.raises(HaError, match="no litestream binary was found at"):
        litestream_for(missing, tmp_path / "history.db")
    given = tmp_path / "litestream"
    given.write_text("#!/bin/sh\n")
    given.chmod(0o755)
    chosen = HaSettings(
        lease={"cluster": "a"}, replica={"url": "file:///srv/r", "litestream": given}
    )
    litestream = litestream_for(chosen, tmp_path / "history.db")
    assert litestream is not None
    assert litestream.binary == given


def test_the_durations_reach_the_elector() -> None:
    ha = HaSettings(
        lease={"cluster": "a"},
        identity="host-a",
        lease_duration="6s",
        renew_deadline="4s",
        retry_period="500ms",
    )
    leases: Any = object()  # not called here
    wired = HighAvailability(ha, leases, None)
    assert wired.elector.timings == Timings(6.0, 4.0, 0.5)
    assert wired.elector.identity == "host-a"


async def test_a_standby_answers_who_leads() -> None:
    leader = ["host-a"]
    port = free_port()
    runner = await serve(
        build_standby_app(lambda: ("host-b", leader[0], "Lease default/fleet-leader")),
        ApiAddress(host="127.0.0.1", port=port),
    )
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.get("/readyz") as answer:
                assert answer.status == 503
                assert (await answer.text()).strip() == "standby: leader is host-a"
            async with http.get("/healthz") as answer:
                assert answer.status == 200
            async with http.get("/api/v1/leader") as answer:
                body = await answer.json()
                assert body == {
                    "role": "standby",
                    "identity": "host-b",
                    "leader": "host-a",
                    "lease": "Lease default/fleet-leader",
                }
            async with http.post("/api/v1/apps/web/sync") as answer:
                assert answer.status == 503
                assert "leader is host-a" in (await answer.json())["error"]
    finally:
        await runner.cleanup()
