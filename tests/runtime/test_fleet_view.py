"""The Fleet page's read model: clusters with labels and reachability, each app's waves
from the config, commit subjects looked up once and remembered."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from fleet.adapters.git import Revision
from fleet.config.loader import load_fleet_config
from fleet.runtime.fleet_view import COMMITS_KEPT, CommitBook, fleet_overview

pytestmark = pytest.mark.anyio

CONFIG = """\
clusters:
  - {name: dev, kubeconfig: kube.yaml, context: dev, labels: {env: dev, region: eu}}
  - {name: prod-eu, kubeconfig: kube.yaml, context: prod-eu, labels: {env: prod, region: eu}}
  - {name: prod-us, kubeconfig: kube.yaml, context: prod-us, labels: {env: prod, region: us}}
sources:
  - {name: platform, url: "https://git.example/platform.git", branch: main}
apps:
  - {name: web, source: platform, path: web, namespace: web}
  - name: api
    source: platform
    path: api
    namespace: api
    clusters: {matchLabels: {env: prod}}
    rollout: {waves: [{name: all, selector: {matchLabels: {env: prod}}}]}
rollout:
  waves:
    - {name: canary, selector: {matchLabels: {env: dev}}}
    - {name: eu, selector: {matchLabels: {env: prod, region: eu}}}
    - {name: rest, selector: {matchLabels: {region: us}}}
"""


def revision(sha: str, message: str) -> Revision:
    moment = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    return Revision(sha, "t" * 40, "main", message, "Ada <ada@example.com>", moment)


class Resolver:
    def __init__(self, known: dict[str, str]) -> None:
        self.known = known
        self.asked: list[tuple[str, str]] = []

    async def __call__(self, app: str, sha: str) -> Revision:
        self.asked.append((app, sha))
        if sha not in self.known:
            raise KeyError(sha)
        return revision(sha, self.known[sha])


async def test_commits_are_looked_up_once_and_redacted() -> None:
    resolve = Resolver(
        {"a" * 40: "Bump web\n\nbody", "b" * 40: "Rotate password=hunter2hunter2 now"}
    )
    book = CommitBook(resolve)
    first = await book.describe("web", "a" * 40)
    assert first is not None
    assert (first["summary"], first["message"], first["author"]) == (
        "Bump web",
        "Bump web\n\nbody",
        "Ada <ada@example.com>",
    )
    assert await book.describe("web", "a" * 40) == first
    assert await book.describe("web", "c" * 40) is None  # not in the source
    assert await book.describe("web", "c" * 40) is None
    assert resolve.asked == [("web", "a" * 40), ("web", "c" * 40)]
    secret = await book.describe("web", "b" * 40)
    assert secret is not None
    assert "hunter2" not in secret["summary"] + secret["message"]


async def test_the_commit_book_is_bounded() -> None:
    resolve = Resolver({f"{n:040x}": f"commit {n}" for n in range(COMMITS_KEPT + 5)})
    book = CommitBook(resolve)
    for n in range(COMMITS_KEPT + 5):
        await book.describe("web", f"{n:040x}")
    asked = len(resolve.asked)
    await book.describe("web", f"{0:040x}")  # the oldest was dropped: asked again
    await book.describe("web", f"{COMMITS_KEPT + 4:040x}")  # the newest was kept
    assert len(resolve.asked) == asked + 1


class Reach:
    def __init__(self, reachable: bool | None, message: str = "") -> None:
        self.reachable = reachable
        self.message = message
        self.since = dt.datetime(2026, 5, 1, tzinfo=dt.UTC) if reachable is False else None


class Runtime:
    def __init__(self, reach: Reach) -> None:
        self.reachability = reach


async def test_the_overview_has_clusters_waves_and_commits(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(CONFIG)
    config = load_fleet_config(path, files=False)
    runtimes: dict[str, Any] = {
        "dev": Runtime(Reach(True)),
        "prod-eu": Runtime(Reach(False, "connection refused")),
    }
    rows = [
        {"app": "web", "cluster": "dev", "revision": "a" * 40, "target_revision": "b" * 40},
        {"app": "api", "cluster": "prod-eu", "revision": None, "target_revision": None},
        {"app": "api", "cluster": "dev", "revision": "a" * 40, "target_revision": "a" * 40},
    ]
    book = CommitBook(Resolver({"a" * 40: "Bump web", "b" * 40: "Next"}))
    overview = await fleet_overview(config, runtimes, rows, book)

    assert overview["clusters"] == [
        {
            "name": "dev",
            "labels": {"env": "dev", "region": "eu"},
            "reachable": True,
            "unreachable_since": None,
            "message": "",
        },
        {
            "name": "prod-eu",
            "labels": {"env": "prod", "region": "eu"},
            "reachable": False,
            "unreachable_since": "2026-05-01T00:00:00+00:00",
            "message": "connection refused",
        },
        {
            "name": "prod-us",
            "labels": {"env": "prod", "region": "us"},
            "reachable": None,
            "unreachable_since": None,
            "message": "",
        },
    ]
    waves = {a["name"]: [(w["name"], w["clusters"]) for w in a["waves"]] for a in overview["apps"]}
    assert waves == {
        "web": [("canary", ["dev"]), ("eu", ["prod-eu"]), ("rest", ["prod-us"])],
        "api": [("all", ["prod-eu", "prod-us"])],
    }
    assert {sha: (c["summary"], c["apps"]) for sha, c in overview["commits"].items()} == {
        "a" * 40: ("Bump web", ["api", "web"]),  # the apps naming it: for app-limited tokens
        "b" * 40: ("Next", ["web"]),
    }
