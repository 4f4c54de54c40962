"""What the dashboard's Fleet page needs beyond ``/api/v1/status``, for ``/api/v1/fleet``.

The status rows say how each app is on each cluster; a page of 200 clusters also needs
the clusters themselves (labels, reachability) to group and filter rows, each app's
waves to group by wave, and the commit subjects to show on hover. The waves come from
the config (fleet.config.fleet.FleetConfig.waves_for), reachability from the cluster
runtimes, and commits from the sources' mirrors (a local lookup, no network), kept in a
small cache: a commit never changes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fleet.adapters.git import Revision
from fleet.adapters.store import redact
from fleet.config import FleetConfig
from fleet.runtime.clusters import ClusterRuntime

log = logging.getLogger(__name__)

JSON = dict[str, Any]
#: (app, revision spec) -> the commit, from the app's source (DaemonState._resolve_revision).
Resolver = Callable[[str, str], Awaitable[Revision]]

#: Commits remembered; a Fleet page shows a handful, history pages a few hundred.
COMMITS_KEPT = 2048


def commit_json(revision: Revision) -> JSON:
    """A commit as the API shows it; the message is redacted like history's messages."""
    return {
        "sha": revision.sha,
        "summary": redact(revision.summary)[:300],
        "message": redact(revision.message)[:4000],
        "author": redact(revision.author)[:300],
        "committed_at": revision.committed_at.isoformat(),
    }


class CommitBook:
    """Commits by (app, sha), looked up in the app's source once and remembered."""

    def __init__(self, resolve: Resolver) -> None:
        self.resolve = resolve
        self._known: OrderedDict[str, JSON | None] = OrderedDict()

    def remember(self, revision: Revision) -> None:
        self._store(revision.sha, commit_json(revision))

    async def describe(self, app: str, sha: str) -> JSON | None:
        """The commit ``sha`` of the app's source; None when the source does not have it."""
        if sha in self._known:
            self._known.move_to_end(sha)
            return self._known[sha]
        try:
            found: JSON | None = commit_json(await self.resolve(app, sha))
        except Exception as error:
            log.debug("commit %s of app %s not found: %s", sha[:12], app, error)
            found = None
        self._store(sha, found)
        return found

    def _store(self, sha: str, value: JSON | None) -> None:
        self._known[sha] = value
        self._known.move_to_end(sha)
        while len(self._known) > COMMITS_KEPT:
            self._known.popitem(last=False)


async def fleet_overview(
    config: FleetConfig,
    clusters: dict[str, ClusterRuntime],
    statuses: Iterable[JSON],
    commits: CommitBook,
) -> JSON:
    """Clusters, apps with their waves, and the commits the status rows name."""
    cluster_rows = []
    for cluster in config.clusters:
        runtime = clusters.get(cluster.name)
        reach = runtime.reachability if runtime is not None else None
        cluster_rows.append(
            {
                "name": cluster.name,
                "labels": dict(cluster.labels),
                "reachable": reach.reachable if reach is not None else None,
                "unreachable_since": reach.since.isoformat()
                if reach is not None and reach.since is not None and reach.reachable is False
                else None,
                "message": reach.message if reach is not None and reach.reachable is False else "",
            }
        )
    apps = []
    for app in config.apps:
        waves = [
            {"name": wave.wave.name, "clusters": [c.name for c in wave.clusters]}
            for wave in config.waves_for(app)
        ]
        apps.append({"name": app.name, "waves": waves})
    wanted: dict[str, list[str]] = {}
    for row in statuses:
        for key in ("revision", "target_revision"):
            sha = row.get(key)
            if sha:
                names = wanted.setdefault(str(sha), [])
                if str(row["app"]) not in names:
                    names.append(str(row["app"]))
    found: dict[str, JSON] = {}
    for sha, app_names in wanted.items():
        commit = await commits.describe(app_names[0], sha)
        if commit is not None:
            # Which apps name it: a token limited to apps sees only its apps' commits.
            found[sha] = {**commit, "apps": sorted(app_names)}
    return {"clusters": cluster_rows, "apps": apps, "commits": found}
