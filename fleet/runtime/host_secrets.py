"""Secrets built on the management host from its files (an app's ``secretRefs``).

Read at each render, in the daemon's process, and never written anywhere: they become
Secret manifests of the app, applied, pruned and recorded (by reference only) like its
other objects. A missing or unreadable file, or a malformed env file, fails the app on
that cluster with the file named and nothing of the line's content echoed.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fleet.config import App, Cluster
from fleet.config.secret_refs import SECRET_KEY, SecretRef
from fleet.config.templates import TemplateError
from fleet.engine.secret_checksums import with_secret_checksums
from fleet.model.manifests import Manifest, Origin
from fleet.model.refs import ObjectRef
from fleet.runtime.secret_decryption import SecretDecryptionError, SourceReader, decrypt_manifests

#: The largest secret file read (a Secret holds at most 1 MiB).
MAX_SECRET_FILE = 1024 * 1024


def host_secret_manifests(
    app: App, cluster: Cluster, environ: Mapping[str, str] | None = None
) -> list[Manifest]:
    """The app's host-side Secrets for ``cluster``; raises SecretDecryptionError."""
    return [_manifest(app, ref, cluster, environ) for ref in app.secret_refs]


def host_files(app: App, cluster: Cluster) -> list[Path]:
    """Every host file the app reads for ``cluster``: age keys and secretRefs files."""
    files: list[Path] = []
    try:
        if app.decryption is not None:
            files += app.decryption.key_files_for(cluster)
        for ref in app.secret_refs:
            files += ref.all_files_for(cluster)
    except TemplateError:
        pass  # the render reports it
    return files


def host_fingerprint(app: App, cluster: Cluster) -> tuple[tuple[str, int, int, int], ...]:
    """Identity and change time of the app's host files: differs when one is replaced or
    written (a rotation), so a render of an unchanged revision is not reused."""
    marks: list[tuple[str, int, int, int]] = []
    for path in host_files(app, cluster):
        try:
            status = path.stat()
        except OSError:
            marks.append((str(path), -1, -1, -1))
            continue
        marks.append((str(path), status.st_ino, status.st_size, status.st_mtime_ns))
    return tuple(marks)


def check_unique(rendered: Sequence[Manifest], built: Sequence[Manifest]) -> None:
    """A host-side Secret may not replace an object the app renders from Git."""
    refs = {m.ref for m in rendered}
    for manifest in built:
        if manifest.ref in refs:
            raise SecretDecryptionError(
                manifest.origin.path,
                f"secretRefs Secret {manifest.ref.namespace}/{manifest.ref.name} is also "
                "rendered from the repository: rename one of them",
            )


def _manifest(
    app: App, ref: SecretRef, cluster: Cluster, environ: Mapping[str, str] | None
) -> Manifest:
    namespace = ref.namespace or app.namespace or ""
    origin = f"secretRefs {namespace}/{ref.name}"
    try:
        env_file = ref.env_file_for(cluster, environ)
        files = ref.files_for(cluster, environ)
    except TemplateError as exc:
        raise SecretDecryptionError(origin, str(exc)) from None
    data: dict[str, str] = {}
    first = env_file or next(iter(files.values()))
    if env_file is not None:
        for key, value in _env_entries(env_file).items():
            data[key] = base64.b64encode(value).decode()
    for key, path in files.items():
        if key in data:
            raise SecretDecryptionError(str(path), f"key {key} is also in {env_file}")
        data[key] = base64.b64encode(_read(path)).decode()
    metadata: dict[str, Any] = {"name": ref.name, "namespace": namespace}
    if ref.labels:
        metadata["labels"] = dict(ref.labels)
    if ref.annotations:
        metadata["annotations"] = dict(ref.annotations)
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": ref.type,
        "data": data,
    }
    return Manifest(ObjectRef.of(body, namespace), body, Origin(str(first), 1, "host"))


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            status = os.fstat(handle.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise SecretDecryptionError(str(path), "not a regular file")
            data = handle.read(MAX_SECRET_FILE + 1)
    except FileNotFoundError:
        raise SecretDecryptionError(str(path), "secret file not found") from None
    except OSError as exc:
        raise SecretDecryptionError(
            str(path), f"cannot read the secret file: {exc.strerror}"
        ) from None
    if len(data) > MAX_SECRET_FILE:
        raise SecretDecryptionError(str(path), "larger than 1 MiB, the most a Secret holds")
    return data


def _env_entries(path: Path) -> dict[str, bytes]:
    """``KEY=VALUE`` lines (blank lines and ``#`` comments skipped, one pair of matching
    quotes around a value removed); errors give the line number, never the content."""
    try:
        text = _read(path).decode("utf-8")
    except UnicodeDecodeError:
        raise SecretDecryptionError(str(path), "not UTF-8 text") from None
    entries: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        key = key.strip()
        if not sep or not SECRET_KEY.match(key):
            raise SecretDecryptionError(
                str(path), f"line {number}: expected KEY=VALUE (KEY of letters, digits, -_.)"
            )
        if key in entries:
            raise SecretDecryptionError(str(path), f"line {number}: {key} is given twice")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        entries[key] = value.encode()
    return entries


def secret_stage(
    rendered: Sequence[Manifest],
    app: App,
    cluster: Cluster,
    *,
    read_source: SourceReader | None,
    state_dir: Path,
) -> list[Manifest]:
    """What the render cache gave, made ready in the daemon's memory: SOPS manifests
    decrypted, host-side Secrets added, workloads annotated with their Secrets' checksum
    (if the app asks). Raises SecretDecryptionError."""
    manifests = decrypt_manifests(rendered, app.decryption, cluster, read_source=read_source)
    if app.secret_refs:
        built = host_secret_manifests(app, cluster)
        check_unique(manifests, built)
        manifests = [*manifests, *built]
    if app.secret_checksums:
        manifests = with_secret_checksums(manifests, checksum_key(state_dir))
    return manifests


def checksum_key(state_dir: Path) -> bytes:
    """The daemon's per-installation digest key (``secret-digest.key``), made if missing."""
    path = state_dir / "secret-digest.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key
