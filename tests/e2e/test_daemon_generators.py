"""App generators end to end: directories in Git become apps, and leave as apps do.

A Git-directory generator over ``teams/*`` (excluding ``teams/skip-*``) makes one app per
team folder, on the clusters its selector picks (env=dev). A new folder in a commit
becomes an app that syncs there; a folder removed deletes its app's objects
(``deletionPolicy: delete``); a commit removing every folder deletes nothing, holds the
generator with an event saying why, and holds its apps (they wait, they do not fail),
until ``fleet sync teams --confirm-prune``. What the generator made and its hold are
kept in SQLite: a folder removed while the daemon was down leaves at the next start, and
a hold stays held through restarts.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import anyio
import pytest

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, FleetDaemon, World, cluster_entries, eventually, world
from tests.e2e.test_daemon_plan import fleet_cli

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def team_files(namespace: str, team: str) -> dict[str, str]:
    config_map = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        f"  name: team-{team}\n  namespace: {namespace}\ndata:\n  team: {team}\n"
    )
    return {f"teams/{team}/configmap.yaml": config_map}


def generator_config(w: World) -> JSON:
    config: JSON = {
        "clusters": cluster_entries(w.clusters),
        "sources": [{"name": "platform", "url": w.source.url, "branch": "main", "interval": "1s"}],
        "generators": [
            {
                "name": "teams",
                "gitDirectories": {
                    "source": "platform",
                    "include": ["teams/*"],
                    "exclude": ["teams/skip-*"],
                },
                "template": {
                    "name": "team-{path.basename}",
                    "source": "platform",
                    "path": "{path}",
                    "namespace": w.namespace,
                    "clusters": {"matchLabels": {"env": "dev"}},
                    "deletionPolicy": "delete",
                    "syncPolicy": {"automated": True, "prune": True, "createNamespace": True},
                },
            }
        ],
    }
    return config


async def config_maps(w: World, cluster: str) -> set[str]:
    kube = w.kubes[cluster]
    found = set()
    for team in ("a", "b", "c", "skip-me"):
        if await kube.config_map(w.namespace, f"team-{team}") is not None:
            found.add(team)
    return found


async def apps_on(daemon: FleetDaemon) -> dict[str, set[str]]:
    rows = await daemon.status()
    out: dict[str, set[str]] = {}
    for row in rows:
        out.setdefault(row["app"], set()).add(row["cluster"])
    return out


async def test_directories_become_apps_and_leave_by_their_deletion_policy(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        selected = [name for name in w.names if w.env_of(name) == "dev"]
        others = [name for name in w.names if name not in selected]
        ns = w.namespace
        first = await w.source.commit(
            "team a, and a folder the generator excludes",
            {**team_files(ns, "a"), **team_files(ns, "skip-me")},
        )
        daemon = await w.daemon(generator_config(w))
        await daemon.wait_converged(selected, first, app="team-a")
        assert await apps_on(daemon) == {"team-a": set(selected)}
        # A generated app is planned by its name, as a written one is.
        code, out, err = await fleet_cli(daemon, "plan", "team-a")
        assert code == 0, (out, err)
        assert "team-a" in out

        # New folders in Git become apps on the selected clusters.
        second = await w.source.commit(
            "teams b and c", {**team_files(ns, "b"), **team_files(ns, "c")}
        )
        for app in ("team-a", "team-b", "team-c"):
            await daemon.wait_converged(selected, second, app=app)
        assert await apps_on(daemon) == {f"team-{t}": set(selected) for t in "abc"}
        for name in selected:
            assert await config_maps(w, name) == {"a", "b", "c"}
        for name in others:
            assert await config_maps(w, name) == set()
        history = await daemon.history(app="team-b")
        assert {row["cluster"] for row in history} == set(selected)

        # A folder removed: its app goes, and its objects with it (deletionPolicy: delete).
        mark = await daemon.last_event_id()
        await w.source.commit("team b leaves", {"teams/b/configmap.yaml": None})

        async def b_gone() -> bool:
            return all(["b" not in await config_maps(w, name) for name in selected])

        await eventually(b_gone, timeout=30, what="team-b's ConfigMap deleted")
        assert "team-b" not in await apps_on(daemon)
        await daemon.wait_event("app_removed", after_id=mark, app="team-b")

        # Every folder removed: held, nothing deleted, an event saying why.
        mark = await daemon.last_event_id()
        emptied = await w.source.commit(
            "every team folder removed",
            {"teams/a/configmap.yaml": None, "teams/c/configmap.yaml": None},
        )
        held = await daemon.wait_event("generator_held", after_id=mark, timeout=30)
        assert "would remove every app it made" in held["message"]
        assert "fleet sync teams --confirm-prune" in held["message"]
        assert "fleet.yaml:" in held["message"]  # file:line:col of the generator
        assert await apps_on(daemon) == {"team-a": set(selected), "team-c": set(selected)}
        for name in selected:
            assert await config_maps(w, name) == {"a", "c"}
        # The apps the removal would delete are held, as a suspended app is: they wait for
        # the confirmation, with the reason in their status, and never fail.
        await held_apps_wait(daemon, selected, emptied, ["team-a", "team-c"], mark)
        for name in selected:
            assert await config_maps(w, name) == {"a", "c"}
        assert not [e for e in await daemon.events(since=mark) if e["kind"] == "app_removed"]
        [row] = await daemon.get("/api/v1/generators")
        assert row["name"] == "teams"
        assert row["revision"] == emptied
        assert row["held"]["removing"] == ["team-a", "team-c"]
        assert row["held"]["of"] == 2
        assert row["apps"] == ["team-a", "team-c"]

        # A human confirms: the held removal goes ahead, by the apps' deletion policy.
        refused = await daemon.sync("teams", expect=409)
        assert "confirm-prune" in str(refused)
        code, out, err = await fleet_cli(daemon, "sync", "teams", "--confirm-prune")
        assert code == 0, err
        assert "generator teams: removal confirmed" in out

        async def all_gone() -> bool:
            return all([not await config_maps(w, name) for name in selected])

        await eventually(all_gone, timeout=30, what="every team's ConfigMap deleted")
        assert await apps_on(daemon) == {}


async def held_apps_wait(
    daemon: FleetDaemon, clusters: list[str], revision: str, apps: list[str], mark: int
) -> None:
    """Each app is held by its generator on each cluster: a status saying why, a
    ``sync_held`` event, and no failed sync (the revision lacks their folders)."""
    why = "held: generator teams would remove {n} of {n} apps; confirm with fleet sync teams"

    async def all_held() -> bool:
        rows = {(r["app"], r["cluster"]): r for r in await daemon.status()}
        return all(
            (rows[(app, c)].get("hold") or {}).get("kind") == "generator"
            and rows[(app, c)]["message"].startswith(why.format(n=len(apps)))
            for app in apps
            for c in clusters
        )

    await eventually(all_held, timeout=30, what="the generated apps held")
    for app in apps:
        held = await daemon.wait_event("sync_held", after_id=mark, app=app)
        assert held["details"]["hold"]["kind"] == "generator"
        assert held["details"]["revision"] == revision
        rows = await daemon.history(app=app)
        assert not [r for r in rows if r["revision"] == revision], [
            (r["revision"][:7], r["result"], r["message"]) for r in rows
        ]
    refused = await daemon.sync(apps[0], expect=409)
    assert "held: generator teams" in str(refused)


async def test_generator_state_survives_a_restart(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        selected = [name for name in w.names if w.env_of(name) == "dev"]
        ns = w.namespace
        first = await w.source.commit(
            "teams a, b and c",
            {**team_files(ns, "a"), **team_files(ns, "b"), **team_files(ns, "c")},
        )
        daemon = await w.daemon(generator_config(w))
        for app in ("team-a", "team-b", "team-c"):
            await daemon.wait_converged(selected, first, app=app)

        # Team b's folder goes while the daemon is down: at start its app leaves by its
        # deletion policy (the objects are deleted), as if the daemon had been running.
        mark = await daemon.last_event_id()
        await daemon.stop()
        await w.source.commit("team b leaves", {"teams/b/configmap.yaml": None})
        await daemon.start()

        async def b_gone() -> bool:
            return all(["b" not in await config_maps(w, name) for name in selected])

        await eventually(
            b_gone,
            timeout=30,
            what="team-b's ConfigMap deleted after a restart",
            explain=daemon.log_tail,
        )
        await daemon.wait_event("app_removed", after_id=mark, app="team-b")
        assert "team-b" not in await apps_on(daemon)
        for name in selected:
            assert await config_maps(w, name) == {"a", "c"}

        # Every folder goes while it is down: the generator is held at start, and stays
        # held through another restart; nothing is deleted until a human confirms.
        mark = await daemon.last_event_id()
        await daemon.stop()
        emptied = await w.source.commit(
            "every team folder removed",
            {"teams/a/configmap.yaml": None, "teams/c/configmap.yaml": None},
        )
        await daemon.start()
        await daemon.wait_event("generator_held", after_id=mark, timeout=30)
        await held_apps_wait(daemon, selected, emptied, ["team-a", "team-c"], mark)
        await daemon.stop()
        await daemon.start()
        [row] = await daemon.get("/api/v1/generators")  # read back from SQLite at start
        assert row["held"]["removing"] == ["team-a", "team-c"], row
        await anyio.sleep(2.0)
        for name in selected:
            assert await config_maps(w, name) == {"a", "c"}
        assert await apps_on(daemon) == {"team-a": set(selected), "team-c": set(selected)}

        code, _, err = await fleet_cli(daemon, "sync", "teams", "--confirm-prune")
        assert code == 0, err

        async def all_gone() -> bool:
            return all([not await config_maps(w, name) for name in selected])

        await eventually(all_gone, timeout=30, what="every team's ConfigMap deleted")


async def test_a_list_generator_changed_by_sighup_reloads_only_its_apps(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        ns = w.namespace
        head = await w.source.commit("two teams", {**team_files(ns, "a"), **team_files(ns, "b")})
        config = generator_config(w)
        del config["generators"][0]["gitDirectories"]
        config["generators"][0]["list"] = [{"team": "a"}, {"team": "b"}]
        template = config["generators"][0]["template"]
        template.update(name="team-{params.team}", path="teams/{params.team}")
        del template["deletionPolicy"]  # keep: a removed app leaves its objects
        selected = [name for name in w.names if w.env_of(name) == "dev"]
        daemon = await w.daemon(config)
        for app in ("team-a", "team-b"):  # expanded before the first build
            await daemon.wait_converged(selected, head, app=app)
        a_rows = [r for r in await daemon.history(app="team-a") if r["revision"] == head]
        a_syncs = [r["id"] for r in a_rows]
        assert len(a_syncs) == len(selected), json.dumps(a_rows)  # one per selected cluster

        config["generators"][0]["list"] = [{"team": "a"}]
        mark = await daemon.last_event_id()
        daemon.write_config(config)
        daemon.send(signal.SIGHUP)
        removed = await daemon.wait_event("app_removed", after_id=mark, app="team-b")
        assert removed["details"]["deletionPolicy"] == "keep"
        assert "team-b" not in await apps_on(daemon)
        for name in selected:
            assert await config_maps(w, name) == {"a", "b"}  # kept, by its policy
        # team-a was not touched by the reload: no new sync of it.
        await daemon.wait_event("config_reloaded", after_id=mark)
        assert sorted(r["id"] for r in await daemon.history(app="team-a")) == sorted(a_syncs)
