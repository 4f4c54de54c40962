"""Checks on apps' host files: age keys and secretRefs files exist and are private.

An age key opens every secret encrypted for it and a secret file is the secret, so
either readable by other users is an error (group-readable is fine: ``/etc/fleet``
readable by the ``fleet`` group). Files under ``${CREDENTIALS_DIRECTORY}`` exist only
inside the running service, so they are not checked when the variable is unset
(``fleet validate`` run by an operator).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from fleet.config.apps import App
from fleet.config.checks import Finding, FleetView
from fleet.config.clusters import Cluster
from fleet.config.decryption import CREDENTIALS_VARIABLE
from fleet.config.issues import DocPath, Severity
from fleet.config.templates import TemplateError


def check_key_files(view: FleetView, missing: Severity = "error") -> list[Finding]:
    findings: list[Finding] = []
    clusters = [cluster for _, cluster in view.clusters]
    for index, app in view.apps:
        targets = app.clusters.select(clusters)
        if app.decryption is not None:
            decryption = app.decryption
            if not os.environ.get(CREDENTIALS_VARIABLE):
                # Only the running service has its credentials: check the other files.
                templates = [t for t in decryption.age_key_files if not t.startswith("${")]
                decryption = decryption.model_copy(update={"age_key_files": templates})
            at: DocPath = ("apps", index, "decryption", "ageKeyFiles")
            findings += _check_files(at, targets, decryption.key_files_for, missing, "age key file")
        findings += _check_secret_ref_files(index, app, targets, missing)
    return findings


def _check_secret_ref_files(
    index: int, app: App, targets: list[Cluster], missing: Severity
) -> list[Finding]:
    findings: list[Finding] = []
    unset = not os.environ.get(CREDENTIALS_VARIABLE)
    for number, ref in enumerate(app.secret_refs):
        templates = [ref.from_env_file, *ref.from_files.values()]
        if unset and any(t is not None and t.startswith("${") for t in templates):
            continue  # only the running service has its credentials
        at: DocPath = ("apps", index, "secretRefs", number)
        findings += _check_files(at, targets, ref.all_files_for, missing, "secret file")
    return findings


def _check_files(
    at: DocPath,
    targets: list[Cluster],
    files_of: Callable[[Cluster], list[Path]],
    missing: Severity,
    what: str,
) -> list[Finding]:
    """Each file the templates name for any targeted cluster, checked once."""
    findings: list[Finding] = []
    seen: set[Path] = set()
    for cluster in targets:
        try:
            files = files_of(cluster)
        except TemplateError as exc:
            findings.append(Finding(at, f"cluster {cluster.name}: {exc}"))
            continue
        for path in files:
            if path not in seen:
                seen.add(path)
                findings += _check_private_file(at, path, missing, what)
    return findings


def _check_private_file(at: DocPath, path: Path, missing: Severity, what: str) -> list[Finding]:
    try:
        status = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return [Finding(at, f"{what} not found: {path}", missing)]
    except OSError as exc:
        return [
            Finding(
                at,
                f"cannot check {what} {path}: {exc.strerror} (the daemon's user may still read it)",
                "warning",
            )
        ]
    if not stat.S_ISREG(status.st_mode):
        return [Finding(at, f"{what} {path} is not a regular file")]
    if status.st_mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IWGRP):
        return [
            Finding(
                at,
                f"{what} {path} can be accessed by other users (mode "
                f"{stat.S_IMODE(status.st_mode):04o}): chmod 600 or 640",
            )
        ]
    if not os.access(path, os.R_OK):
        return [
            Finding(
                at,
                f"{what} {path} is not readable by this user "
                "(the daemon's user must be able to read it)",
                "warning",
            )
        ]
    return []
