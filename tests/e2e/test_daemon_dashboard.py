"""The dashboard's read model on a real daemon: ``fleet run`` serves the pages at ``/``,
the resource tree has the Deployment's ReplicaSet and Pods under it and the hooks with
their phase, the Fleet page's cells are the status API's rows, commits carry their
subject, a drift reaches an open page's stream within 2 s, and the trace link follows
the ``dashboard_trace_url`` setting; a Refresh from the dashboard fetches the source
and its syncs are recorded with the trigger ``refresh``; a cluster not answering
holds the App page no longer than the tree's bound and is shown unreachable there.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import aiohttp
import anyio
import pytest

from fleet.runtime.resource_tree import LIST_REUSE_SECONDS, LIST_TIMEOUT
from tests.adapters.http.dashfake import matrix_cells
from tests.adapters.telemetry.otlp_receivers import http_receiver
from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, World, edit_yaml, eventually, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

TRACE_URL = "https://tempo.example/trace/{trace_id}"


@pytest.fixture
def cluster_count() -> int:
    return 2


def tree_rows(tree: JSON) -> dict[tuple[str, str], JSON]:
    return {(r["kind"], r["name"]): r for r in tree["resources"]}


async def test_pages_and_reads_of_a_running_daemon(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    # The receiver outlives the world, whose end stops the daemon: no export is cut off.
    async with http_receiver() as (endpoint, _), world(clusters, tmp_path) as w:
        otel = {"endpoint": endpoint, "protocol": "http/protobuf"}  # so syncs have trace ids
        daemon = await w.daemon(dashboard_trace_url=TRACE_URL, otel=otel)
        rows = await daemon.wait_converged(w.names, w.seed_sha)

        # The resource tree, by owner references, with hooks and their phase.
        async def trees_complete() -> list[JSON] | None:
            trees = await daemon.get("/api/v1/apps/web/resources")
            complete = all(
                any(r["kind"] == "Pod" and r["depth"] == 2 for r in t["resources"]) for t in trees
            )
            # Once in a while (about one full run in three, under load) a cluster's web
            # Deployment read OutOfSync for a moment after convergence (issue 16): older
            # watch events, or an older list, could put the live cache back behind a
            # sync's own write answer (fixed in fleet.runtime.livecache, with tests in
            # tests/runtime/test_livecache.py). This instance was never reproduced on its
            # own, so the tree is still read once every cluster shows web Synced.
            settled = all(
                tree_rows(t).get(("Deployment", "web"), {}).get("sync") == "Synced" for t in trees
            )
            return trees if complete and settled else None

        trees = await eventually(trees_complete, timeout=30, what="pods in every tree")
        assert sorted(t["cluster"] for t in trees) == sorted(w.names)
        for tree in trees:
            found = tree_rows(tree)
            deployment = found[("Deployment", "web")]
            assert (deployment["sync"], deployment["health"], deployment["depth"]) == (
                "Synced",
                "Healthy",
                0,
            )
            replica_sets = [r for r in tree["resources"] if r["kind"] == "ReplicaSet"]
            assert replica_sets
            assert all(r["parent"] == f"Deployment/{w.namespace}/web" for r in replica_sets)
            pods = [r for r in tree["resources"] if r["kind"] == "Pod"]
            owners = {f"ReplicaSet/{w.namespace}/{r['name']}" for r in replica_sets}
            assert any(p["parent"] in owners for p in pods)  # Deployment -> RS -> Pod
            jobs = {f"Job/{w.namespace}/{name}" for name in ("web-migrate", "web-smoke-test")}
            assert {p["parent"] for p in pods} <= owners | jobs  # and the hooks' Pods
            hooks = {r["name"]: r["hook"] for r in tree["resources"] if r["hook"]}
            assert hooks.get("web-migrate", "PreSync") == "PreSync"
            assert set(hooks.values()) <= {"PreSync", "Sync", "PostSync", "SyncFail"}
            assert hooks, "the seed's hooks are kept (BeforeHookCreation) and shown"

        # The overview: clusters with labels, waves, the commit's subject.
        overview = await daemon.get("/api/v1/fleet")
        assert {c["name"]: c["labels"]["env"] for c in overview["clusters"]} == {
            name: w.env_of(name) for name in w.names
        }
        assert overview["apps"][0]["name"] == "web"
        assert sorted(
            c for wave in overview["apps"][0]["waves"] for c in wave["clusters"]
        ) == sorted(w.names)
        assert overview["commits"][w.seed_sha]["summary"] == "seed: web app"
        commit = await daemon.get(f"/api/v1/apps/web/commits/{w.seed_sha}")
        assert commit["author"]
        assert commit["message"].startswith("seed: web app")

        # The Fleet page shows what the status API says, cell by cell.
        page = await daemon.request("GET", "/", headers=daemon.auth())
        html = str(page.body)
        shown = matrix_cells(html)
        assert {k: (c["data-sync"], c["data-health"]) for k, c in shown.items()} == {
            (r["app"], r["cluster"]): (r["sync"], r["health"]) for r in rows
        }
        for row in rows:
            cell = shown[(row["app"], row["cluster"])]
            assert (cell["title"], cell["data-revision"]) == ("seed: web app", w.seed_sha[:7])
        app_page = str((await daemon.request("GET", "/apps/web", headers=daemon.auth())).body)
        assert app_page.count('data-testid="resource-tree"') == len(w.names)
        assert 'data-kind="Pod"' in app_page

        # The trace link follows the setting.
        sync = (await daemon.history(app="web"))[0]
        detail = str(
            (await daemon.request("GET", f"/history/{sync['id']}", headers=daemon.auth())).body
        )
        assert sync["trace_id"], sync
        assert f'href="https://tempo.example/trace/{sync["trace_id"]}"' in detail

        # Refresh compares every cluster again (the JSON route and the dashboard's form).
        refreshed = await daemon.request(
            "POST", "/api/v1/apps/web/refresh", body={}, headers=daemon.auth()
        )
        assert sorted(refreshed.body["refreshed"]) == sorted(w.names)
        unknown = await daemon.request(
            "POST", "/api/v1/apps/nope/refresh", body={}, headers=daemon.auth(), expect=None
        )
        assert unknown.status == 404

        # A drift reaches an open page's stream within 2 s.
        target = w.names[0]
        async with (
            aiohttp.ClientSession(trust_env=False) as session,
            session.get(daemon.url + "/ui/stream", headers=daemon.auth()) as stream,
        ):
            assert stream.status == 200
            assert (await stream.content.readline()).startswith(b"retry:")
            await w.kubes[target].scale(w.namespace, "web", 7)
            scaled = time.monotonic()
            with anyio.fail_after(2.0):
                while not (await stream.content.readline()).startswith(b"event: change"):
                    pass
            assert time.monotonic() - scaled < 2.0


async def dashboard_post(session: aiohttp.ClientSession, url: str, path: str, **form: str) -> int:
    """POST a dashboard form as its page would: the page's CSRF token, this Origin."""
    page_path = "/login" if path == "/login" else path.rsplit("/", 1)[0]
    async with session.get(url + page_path) as page:
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', await page.text())
    assert found is not None, f"no CSRF field on {page_path}"
    async with session.post(
        url + path,
        data={"csrf": found.group(1), **form},
        headers={"Origin": url},
        allow_redirects=False,
    ) as answer:
        return answer.status


async def test_a_refresh_from_the_dashboard_fetches_and_is_recorded_as_refresh(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    """No webhook and an hour between polls: the new commit is found only because the
    dashboard's Refresh asked, and its syncs say so."""
    async with world(clusters, tmp_path) as w:
        daemon = await w.daemon(w.config(interval="1h"))
        await daemon.wait_converged(w.names, w.seed_sha)
        v2 = await w.commit("greet after a refresh", {"base/configmap.yaml": greeting(w)})
        await anyio.sleep(2.0)  # would a poll have found it? not within the hour
        assert {r["revision"] for r in await daemon.status()} == {w.seed_sha}

        jar = aiohttp.CookieJar(unsafe=True)  # the daemon is on 127.0.0.1
        async with aiohttp.ClientSession(cookie_jar=jar, trust_env=False) as session:
            assert await dashboard_post(session, daemon.url, "/login", token=daemon.token) == 303
            assert await dashboard_post(session, daemon.url, "/apps/web/refresh") == 303
        await daemon.wait_converged(w.names, v2)
        syncs = [s for s in await daemon.history(app="web") if s["revision"] == v2]
        assert sorted(s["cluster"] for s in syncs) == sorted(w.names)
        assert {s["trigger"] for s in syncs} == {"refresh"}


def greeting(w: World) -> str:
    return edit_yaml(
        w.source.read("apps/web/base/configmap.yaml"),
        lambda doc: doc["data"].update({"GREETING": "hello after a refresh"}),
    )


def tree_sections(page: str) -> dict[str, str]:
    """The App page's resource-tree sections, by cluster."""
    found = re.findall(
        r'<section class="tree" data-testid="resource-tree" data-cluster="([^"]+)"(.*?)</section>',
        page,
        re.DOTALL,
    )
    return dict(found)


async def test_a_cluster_not_answering_does_not_hold_up_the_app_page(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    faults = clusters[-1].require_faults()
    async with world(clusters, tmp_path) as w:
        daemon = await w.daemon()
        await daemon.wait_converged(w.names, w.seed_sha)
        slow, others = w.names[-1], w.names[:-1]

        async def app_page() -> tuple[float, dict[str, str]]:
            started = time.monotonic()
            answer = await daemon.request("GET", "/apps/web", headers=daemon.auth())
            return time.monotonic() - started, tree_sections(str(answer.body))

        _, before = await app_page()
        assert "unreachable" not in before[slow]
        faults.latency = 120.0  # every request to it now waits two minutes
        try:
            await anyio.sleep(LIST_REUSE_SECONDS + 0.2)  # no list of it is reused
            took, sections = await app_page()
            assert took < LIST_TIMEOUT + 2.0, f"the page took {took:.1f} s"
            assert "⚠ unreachable" in sections[slow]
            assert f"within {LIST_TIMEOUT:g} s" in sections[slow]
            assert 'data-kind="Deployment"' in sections[slow]  # what the daemon knows
            for name in others:
                assert "unreachable" not in sections[name]
                assert 'data-kind="Pod"' in sections[name]
            # Asked again at once (a live page re-fetches on each change): no wait now.
            again, sections = await app_page()
            assert again < 1.5, f"the page took {again:.1f} s again"
            assert "⚠ unreachable" in sections[slow]
        finally:
            faults.clear()
