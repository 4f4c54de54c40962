"""Host files a fleet config from Git may name: only those in the directories allowed.

A local config is written by whoever runs the daemon; a config from a config source is
written by whoever can push to its repository. A commit naming ``/etc/fleet/api-token``
as a cluster's ``tokenFile``, with ``server`` pointing at a host of its choosing, would
send that file to it; one naming ``/etc/shadow`` in a ``secretRefs`` entry would apply
it to a cluster. So when the config comes from a config source, every host file it
names (credentials of clusters, sources and notification destinations, SOPS age keys,
secret files) must resolve, symbolic links followed, inside the repository's checkout
or one of ``config_source.credential_dirs``; anything else refuses the config, naming
the field.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from fleet.config.apps import App
from fleet.config.checks import Finding
from fleet.config.fleet import FleetConfig
from fleet.config.issues import DocPath
from fleet.config.templates import TemplateError


def named_files(config: FleetConfig) -> list[tuple[DocPath, Path]]:
    """(field, file) of every host file the config names, written apps included."""
    found: list[tuple[DocPath, Path]] = []
    for index, cluster in enumerate(config.clusters):
        found += [(("clusters", index, *key), path) for key, path in cluster.credential_files()]
    for index, source in enumerate(config.sources):
        found += [(("sources", index, *key), path) for key, path in source.credential_files()]
    if config.notifications is not None:
        for index, destination in enumerate(config.notifications.destinations):
            at: DocPath = ("notifications", "destinations", index)
            found += [((*at, *key), path) for key, path in destination.credential_files()]
    for index, app in enumerate(config.apps):
        found += app_files(config, app, ("apps", index))
    return found


def app_files(config: FleetConfig, app: App, at: DocPath) -> list[tuple[DocPath, Path]]:
    """(field, file) of the host files one app reads, for every cluster it targets."""
    found: list[tuple[DocPath, Path]] = []
    for cluster in config.targets(app):
        try:
            if app.decryption is not None:
                for path in app.decryption.key_files_for(cluster):
                    found.append(((*at, "decryption", "ageKeyFiles"), path))
            for number, ref in enumerate(app.secret_refs):
                for path in ref.all_files_for(cluster):
                    found.append(((*at, "secretRefs", number), path))
        except TemplateError:
            continue  # cannot be filled in: the daemon cannot read it either
    return found


def outside(files: Iterable[tuple[DocPath, Path]], allowed: Sequence[Path]) -> list[Finding]:
    """A finding for each file that does not resolve inside one of ``allowed``."""
    roots = [Path(os.path.realpath(root)) for root in allowed]
    shown = ", ".join(str(root) for root in allowed) or "(none)"
    findings: list[Finding] = []
    seen: set[tuple[DocPath, Path]] = set()
    for at, path in files:
        if (at, path) in seen:
            continue
        seen.add((at, path))
        real = Path(os.path.realpath(path))
        if any(real.is_relative_to(root) for root in roots):
            continue
        via = f" (it leads to {real})" if real != Path(os.path.abspath(path)) else ""
        findings.append(
            Finding(
                at,
                f"{path}{via} is outside the directories a config from Git may name files "
                f"in: {shown}; put it there, or add its directory to "
                "config_source.credential_dirs in the daemon settings",
            )
        )
    return findings
