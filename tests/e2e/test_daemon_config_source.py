"""The fleet itself in Git: a real daemon whose config comes from a repository.

The config repository is served by the same loopback ``git daemon`` as the app's
repository, and split with ``include:`` (``fleet.yaml`` plus one file per app). A commit
to it adds a cluster (when the fixture gives two or more) and an app, and they sync; a
bad commit is refused (event, ``fleet status`` header with file:line:col, metric) while
the old config keeps syncing app commits, and the next good commit is taken. With
signatures required, the daemon starts even though the newest config is broken
(``/readyz`` says why), takes a signed commit, and refuses an unsigned one, naming it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, FleetDaemon, World, eventually, world
from tests.support.gitrepos import WorkRepo, init_bare
from tests.support.gitservers import generate_ssh_key

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

#: A typo in an included app file, written out so the test knows its line and column.
BROKEN_APP = "apps:\n  - name: broken\n    source: platfrom\n    path: apps/web/base\n"
BROKEN_AT = "apps/broken.yaml:3:13"


@pytest.fixture
def cluster_count() -> int:
    return 2


class ConfigRepo:
    """A repository for the fleet config, served next to the app's repository."""

    def __init__(self, w: World, key: Path | None = None) -> None:
        served = w.directory / "git" / "served"
        self.work = WorkRepo(w.directory / "config-work", init_bare(served / "fleet-config.git"))
        self.url = w.source.url.rsplit("/", 1)[0] + "/fleet-config.git"
        self.key = key

    async def commit(
        self, message: str, files: dict[str, str | None], *, signed: bool = True
    ) -> str:
        def run() -> str:
            for relative, text in files.items():
                if text is None:
                    self.work.remove(relative)
                else:
                    self.work.write(relative, text)
            key = self.key if signed else None
            sha = self.work.commit(message, ssh_signing_key=key)
            self.work.push()
            return sha

        return await anyio.to_thread.run_sync(run)


def config_files(base: JSON, clusters: list[JSON], apps: list[JSON]) -> dict[str, str | None]:
    """``fleet.yaml`` (clusters, sources, ``include: [apps/]``) and one file per app."""
    main = {"include": ["apps/"], "clusters": clusters, "sources": base["sources"]}
    files: dict[str, str | None] = {"fleet.yaml": yaml.safe_dump(main, sort_keys=False)}
    for app in apps:
        files[f"apps/{app['name']}.yaml"] = yaml.safe_dump({"apps": [app]}, sort_keys=False)
    return files


def extra_objects(namespace: str) -> str:
    return (
        f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n---\n"
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra-config\n"
        f"  namespace: {namespace}\ndata:\n  owner: platform-team\n"
    )


async def fleet_status(daemon: FleetDaemon) -> str:
    """``fleet status`` as a user runs it on the daemon's host."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"})
    result = await anyio.run_process(
        [sys.executable, "-m", "fleet", "status", "--settings", str(daemon.settings_path)],
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


async def config_state(daemon: FleetDaemon) -> JSON:
    state: JSON = await daemon.get("/api/v1/config")
    return state


def kube_dirs(w: World) -> list[str]:
    """The folders of the clusters' kubeconfigs: the only host files the config names,
    allowed by the settings (a config from Git may name files only where they allow)."""
    return sorted({str(Path(c["kubeconfig"]).parent) for c in w.config()["clusters"]})


async def config_revision_is(daemon: FleetDaemon, sha: str) -> JSON | None:
    state = await config_state(daemon)
    return state if state["revision"] == sha and state["rejected"] is None else None


async def test_the_fleet_config_follows_its_repository(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        extra_namespace = f"{w.namespace}-extra"
        for kube in w.kubes.values():
            if kube.handle.sim is None:
                w.stack.push_async_callback(kube.delete_namespace, extra_namespace)
        app_sha = await w.commit(
            "add extra", {"apps/extra/objects.yaml": extra_objects(extra_namespace)}
        )
        base = w.config()
        web = base["apps"][0]
        extra = {"name": "extra", "source": "platform", "path": "apps/extra"}
        extra["syncPolicy"] = {"automated": True, "prune": True}
        every = base["clusters"]
        # Fewer clusters at first only when the fixture gives more than one.
        first = every[:1] if len(every) >= 2 else every
        first_names = [c["name"] for c in first]

        repo = ConfigRepo(w)
        c1 = await repo.commit("fleet: web", config_files(base, first, [web]))
        daemon = await w.daemon(
            None,
            config_source={"url": repo.url, "branch": "main", "credential_dirs": kube_dirs(w)},
        )
        await daemon.wait_converged(first_names, app_sha)
        state = await config_state(daemon)
        assert state["revision"] == c1, state
        assert state["source"]["path"] == "fleet.yaml", state
        assert state["source"]["url"] == repo.url
        assert {row["cluster"] for row in await daemon.status()} == set(first_names)
        history = await daemon.history(app="web")
        assert history
        assert {row["config_revision"] for row in history} == {c1}

        # -- a config commit adds a cluster and an app: they sync ----------------------
        events_before = await daemon.last_event_id()
        c2 = await repo.commit(
            "fleet: every cluster, and extra", config_files(base, every, [web, extra])
        )
        await daemon.push_webhook(repo.url)  # the webhook path, not only the poll
        reloaded = await daemon.wait_event("config_reloaded", after_id=events_before)
        assert reloaded["details"]["revision"] == c2, reloaded
        await daemon.wait_converged(w.names, app_sha)
        await daemon.wait_converged(w.names, app_sha, app="extra")
        for name in w.names:
            found = await w.kubes[name].config_map(extra_namespace, "extra-config")
            assert found is not None
            assert found["data"]["owner"] == "platform-team"
        extra_rows = await daemon.history(app="extra")
        assert extra_rows
        assert {row["config_revision"] for row in extra_rows} == {c2}
        assert "config: " in (header := (await fleet_status(daemon)).splitlines()[0])
        assert f"at {c2[:7]} fleet: every cluster, and extra" in header, header

        # -- a bad config commit is refused; the old config keeps running ----------------
        events_before = await daemon.last_event_id()
        bad = await repo.commit("a typo", {"apps/broken.yaml": BROKEN_APP})
        rejected = await daemon.wait_event("config_rejected", after_id=events_before)
        assert bad[:12] in rejected["message"], rejected
        assert BROKEN_AT in rejected["message"], rejected
        assert rejected["details"]["reason"] == "invalid"
        state = await config_state(daemon)
        assert (state["revision"], state["rejected"]["revision"]) == (c2, bad)
        shown = await fleet_status(daemon)
        assert f"config rejected: commit {bad[:7]} (invalid), running {c2[:7]}" in shown, shown
        assert f"{BROKEN_AT}: apps[0].source: no source named 'platfrom'" in shown, shown
        metrics = (await daemon.request("GET", "/metrics")).body
        assert 'fleet_config_source_errors_total{reason="invalid"} 1.0' in metrics
        assert "fleet_config_rejected 1.0" in metrics
        assert (await daemon.request("GET", "/readyz", expect=None)).status == 200
        assert "broken" not in {row["app"] for row in await daemon.status()}
        # A commit to the app's source still syncs, everywhere the old config says.
        greeting = w.edited("base/configmap.yaml", lambda d: d["data"].update(GREETING="v2"))
        moved = await w.commit("change the greeting", {"base/configmap.yaml": greeting})
        await daemon.wait_converged(w.names, moved)

        # -- the next good commit is taken ----------------------------------------------
        c3 = await repo.commit("drop the broken app", {"apps/broken.yaml": None})
        await eventually(
            lambda: config_revision_is(daemon, c3),
            timeout=20,
            what=f"config {c3[:10]} in force",
            explain=daemon.log_tail,
        )
        assert "fleet_config_rejected 0.0" in (await daemon.request("GET", "/metrics")).body
        assert "config rejected" not in await fleet_status(daemon)


async def test_signed_config_commits_only_and_a_start_without_a_good_config(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed (apt-get install openssh-client)")
    async with world(clusters, tmp_path) as w:
        key = generate_ssh_key(tmp_path / "release-key", comment="release@example.com")
        repo = ConfigRepo(w, key)
        base = w.config()
        # The newest config is broken when the daemon starts: it starts anyway, says why.
        await repo.commit("broken from the start", {"fleet.yaml": "clusters: [\n"})
        daemon = FleetDaemon(
            w.directory / "daemon-signed",
            base,
            config_source={
                "url": repo.url,
                "branch": "main",
                "verify": {"ssh_public_keys": [f"{key}.pub"]},
                "credential_dirs": kube_dirs(w),
            },
        )
        w.daemons.append(daemon)
        w.stack.push_async_callback(daemon.aclose)
        await daemon.start(wait_ready=False)

        async def refused_at_start() -> Any:
            answer = await daemon.request("GET", "/readyz", expect=None)
            state = await daemon.request("GET", "/api/v1/config", expect=None)
            if answer.status == 503 and state.status == 200 and state.body["rejected"]:
                return answer, state.body
            return None

        readyz, state = await eventually(
            refused_at_start, timeout=30, what="a refused first config", explain=daemon.log_tail
        )
        assert "no fleet config from the config source yet" in readyz.body
        (issue,) = state["rejected"]["issues"]
        assert issue["file"] == "fleet.yaml", issue
        assert "invalid YAML" in issue["message"], issue
        assert await daemon.status() == []  # nothing synced, nothing pruned

        good = await repo.commit(
            "fleet: web", config_files(base, base["clusters"], [base["apps"][0]])
        )
        await daemon.wait_ready()
        await daemon.wait_converged(w.names, w.seed_sha)
        state = await config_state(daemon)
        assert state["revision"] == good, state
        assert state["signed_by"], state

        # -- an unsigned commit is refused, and named ----------------------------------
        events_before = await daemon.last_event_id()
        extra = {"name": "extra", "source": "platform", "path": "apps/web/base"}
        unsigned = await repo.commit(
            "unsigned: add extra",
            {"apps/extra.yaml": yaml.safe_dump({"apps": [extra]})},
            signed=False,
        )
        rejected = await daemon.wait_event("config_rejected", after_id=events_before)
        assert rejected["details"]["reason"] == "untrusted", rejected
        assert f"commit {unsigned} is not trusted" in rejected["message"], rejected
        shown = await fleet_status(daemon)
        assert f"config rejected: commit {unsigned[:7]} (untrusted), running {good[:7]}" in shown
        assert "extra" not in {row["app"] for row in await daemon.status()}
        assert (await config_state(daemon))["revision"] == good
