"""dependsOn holds per cluster: a dependency that misses some of the app's clusters.

An app waits on a cluster for the apps it depends on *there* (fleet.engine.holds); a
dependency that does not run on one of the app's clusters holds nothing on it, which is
right for a dependency provided otherwise there, and a surprise when it is a typo in a
selector. So it is a warning, naming the clusters.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleet.config.apps import App
from fleet.config.checks import Finding
from fleet.config.clusters import Cluster


def check_dependency_targets(
    apps: Sequence[tuple[int, App]], clusters: Sequence[Cluster]
) -> list[Finding]:
    by_name = {app.name: app for _, app in apps}
    found: list[Finding] = []
    for index, app in apps:
        targets = [c.name for c in app.clusters.select(clusters)]
        for position, name in enumerate(app.depends_on):
            dependency = by_name.get(name)
            if dependency is None or dependency is app:
                continue  # unknown or self: reported by the reference checks
            theirs = {c.name for c in dependency.clusters.select(clusters)}
            missing = [c for c in targets if c not in theirs]
            if missing:
                shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
                found.append(
                    Finding(
                        ("apps", index, "dependsOn", position),
                        f"app {name} does not run on {shown}: {app.name} does not wait "
                        "for it there",
                        "warning",
                    )
                )
    return found
