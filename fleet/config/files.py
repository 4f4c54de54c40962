"""Checks on the files a config references: kubeconfigs, CA and token files, SSH keys.

A file that does not exist is an error: the daemon could not reach that cluster or
source. A file that exists but cannot be read by the user running ``fleet validate`` is
only a warning, because credentials usually belong to the daemon's own user (for
example ``/etc/fleet`` readable by the ``fleet`` group under systemd) and an operator
validating a change should not need to read them. Likewise a file below a directory
this user cannot enter cannot be checked, and gets a warning. ``missing`` lowers
missing files to warnings, for validating a config on a machine (a laptop, CI) that
holds none of the credentials.

Contents are never echoed: a kubeconfig is parsed only to check that the named context
exists.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

import yaml

from fleet.config.checks import Finding, FleetView
from fleet.config.decryption_checks import check_key_files
from fleet.config.issues import DocPath, Severity
from fleet.config.suggest import did_you_mean

#: Keys whose files hold a secret and should not be readable by other users.
_SECRET_KEYS = {"tokenFile", "sshKeyFile", "passwordFile", "usernameFile", "secretFile", "urlFile"}


def check_files(view: FleetView, missing: Severity = "error") -> list[Finding]:
    findings: list[Finding] = []
    # One kubeconfig often names every cluster: parsed once, not once per cluster (at
    # 1,000 clusters, 1,000 parses of 1,000 contexts kept the daemon from starting).
    kubeconfigs: dict[Path, object] = {}
    for index, cluster in view.clusters:
        at: DocPath = ("clusters", index)
        for key, path in cluster.credential_files():
            problem = _check_file((*at, *key), path, missing)
            findings += problem
            if key == ("kubeconfig",) and not problem:
                findings += _check_kubeconfig(
                    (*at, "context"), (*at, "kubeconfig"), path, cluster.context, kubeconfigs
                )
    for index, source in view.sources:
        for key, path in source.credential_files():
            findings += _check_file(("sources", index, *key), path, missing)
    findings += check_key_files(view, missing)
    return findings


def _check_file(at: DocPath, path: Path, missing: Severity) -> list[Finding]:
    try:
        status = path.stat()
    except FileNotFoundError:
        return [Finding(at, f"file not found: {path}", missing)]
    except PermissionError:
        return [
            Finding(
                at,
                f"cannot check {path}: permission denied for this user "
                "(the daemon's user may still read it)",
                "warning",
            )
        ]
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            return [Finding(at, f"file not found: {path}", missing)]
        return [Finding(at, f"cannot check {path}: {exc.strerror}", "warning")]
    if stat.S_ISDIR(status.st_mode):
        return [Finding(at, f"{path} is a directory, not a file")]
    if not os.access(path, os.R_OK):
        return [
            Finding(
                at,
                f"{path} is not readable by this user (the daemon's user must be able to read it)",
                "warning",
            )
        ]
    last = next((part for part in reversed(at) if isinstance(part, str)), "")
    if last in _SECRET_KEYS and status.st_mode & (stat.S_IRWXG | stat.S_IRWXO) & ~stat.S_IRGRP:
        return [
            Finding(
                at,
                f"{path} holds a secret but other users can access it (mode "
                f"{stat.S_IMODE(status.st_mode):04o}); chmod 600 or 640",
                "warning",
            )
        ]
    return []


_UNREADABLE = object()


def _check_kubeconfig(
    context_at: DocPath,
    file_at: DocPath,
    path: Path,
    context: str | None,
    parsed: dict[Path, object],
) -> list[Finding]:
    if path not in parsed:
        try:
            parsed[path] = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            parsed[path] = _UNREADABLE
    data = parsed[path]
    if data is _UNREADABLE:
        return [Finding(file_at, f"{path} is not a valid kubeconfig (unreadable or not YAML)")]
    if not isinstance(data, dict):
        return [Finding(file_at, f"{path} is not a valid kubeconfig (not a mapping)")]
    contexts = _names(data.get("contexts"))
    if context is None:
        current = data.get("current-context")
        if not current:
            return [Finding(file_at, f"{path} sets no current-context: give context")]
        context = str(current)
        context_at = file_at
    if context not in contexts:
        return [
            Finding(
                context_at,
                f"no context named '{context}' in {path}{did_you_mean(context, contexts)}",
            )
        ]
    return []


def _names(entries: object) -> list[str]:
    if not isinstance(entries, Iterable) or isinstance(entries, str | bytes | dict):
        return []
    return [str(e["name"]) for e in entries if isinstance(e, dict) and "name" in e]
