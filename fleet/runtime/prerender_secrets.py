"""SOPS-encrypted render inputs decrypted before rendering: Kustomize secretGenerator
files and an app's Helm values files.

The cached render (``fleet.adapters.render``) always sees the encrypted files, so the
cache never holds a plain value. When an app's inputs turn out to be SOPS files (a Helm
values file that is one; a Kustomize render whose Secrets carry ciphertext, which an
encrypted generator file always leaves), they are decrypted here with the cluster's age
keys and the app is rendered again, outside the cache: Helm gets the decrypted values in
memory, Kustomize builds a copy of the tree on a memory file system
(``fleet.adapters.render.memtree``). Each file is decrypted as sops would read it: its
format from its extension (dotenv, YAML, JSON, else binary).

A file that cannot be decrypted (no decryption settings, no key for any recipient, a MAC
mismatch) fails the app on that cluster, naming the file.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from typing import Any

import yaml

from fleet.adapters.render import Renderer, RenderError, RenderRequest, RenderResult
from fleet.adapters.secrets import SopsError, decrypt_text, format_for_path
from fleet.config import App, Cluster
from fleet.runtime.secret_decryption import (
    SecretDecryptionError,
    cluster_identities,
    holds_ciphertext,
)

#: Every sops file holds at least one of these; a plain file holds neither together.
_SOPS_MARKERS = (b"ENC[AES256_GCM,", b"sops")


def looks_encrypted(data: bytes) -> bool:
    """Whether ``data`` may be a SOPS file (decrypting it then says for sure)."""
    return all(marker in data for marker in _SOPS_MARKERS)


def needs_decrypted_inputs(request: RenderRequest, result: RenderResult) -> bool:
    """Whether the cached render's inputs may hold SOPS files to decrypt before rendering."""
    if result.renderer == "helm":
        return bool(request.helm.values_files)
    if result.renderer == "kustomize":
        return any(m.ref.kind == "Secret" and holds_ciphertext(m) for m in result.manifests)
    return False


async def render_with_secrets(
    renderer: Renderer, request: RenderRequest, app: App, cluster: Cluster
) -> RenderResult:
    """The app's render for ``cluster``, its SOPS inputs decrypted when it has any.

    The encrypted render comes first (and from the cache). A Helm render of encrypted
    values may fail (a schema wants a number, a template does arithmetic): then, if a
    values file is a SOPS file, the decrypted render is the answer, else the error.
    Raises SecretDecryptionError (naming the file) or RenderError.
    """
    try:
        result = await renderer.render(request)
    except RenderError:
        if not request.helm.values_files:
            raise
        decrypted = await _render_decrypted(renderer, request, app, cluster)
        if decrypted is None:
            raise
        return decrypted
    return await with_decrypted_inputs(renderer, request, result, app, cluster)


async def with_decrypted_inputs(
    renderer: Renderer,
    request: RenderRequest,
    result: RenderResult,
    app: App,
    cluster: Cluster,
) -> RenderResult:
    """``result``, or the app rendered again with its SOPS inputs decrypted for ``cluster``.

    Raises SecretDecryptionError (naming the file) or RenderError.
    """
    if not needs_decrypted_inputs(request, result):
        return result
    resolved = dataclasses.replace(request, renderer=result.renderer)
    decrypted = await _render_decrypted(renderer, resolved, app, cluster)
    return result if decrypted is None else decrypted


async def _render_decrypted(
    renderer: Renderer, request: RenderRequest, app: App, cluster: Cluster
) -> RenderResult | None:
    """The uncached render with the SOPS inputs decrypted, or None if there are none."""
    identities: list[str] | None = None
    plain_files: list[tuple[str, bytes]] = []

    def open_input(path: str, data: bytes) -> bytes | None:
        nonlocal identities
        if not looks_encrypted(data):
            return None
        if app.decryption is None:
            raise SecretDecryptionError(
                path,
                "is SOPS-encrypted but the app has no decryption settings "
                "(add decryption: {provider: sops, ageKeyFiles: [...]})",
            )
        if identities is None:
            identities = cluster_identities(app.decryption, cluster, path)
        try:
            plain = decrypt_text(data, format_for_path(path), identities, path=path)
        except SopsError as exc:
            raise SecretDecryptionError(path, exc.problem) from None
        plain_files.append((path, plain))
        return plain

    try:
        return await renderer.render_replacing(request, open_input)
    except RenderError as exc:  # a renderer's message may quote a decrypted value
        raise scrubbed(exc, plain_values(plain_files)) from None


#: Values shorter than this are not masked in error messages (they would mask words).
_MIN_MASKED = 4


def plain_values(files: list[tuple[str, bytes]]) -> list[str]:
    """The values of decrypted files (dotenv values, YAML/JSON scalars, binary text)."""
    values: list[str] = []
    for path, data in files:
        text = data.decode("utf-8", errors="replace")
        fmt = format_for_path(path)
        if fmt == "dotenv":
            values += [line.partition("=")[2] for line in text.splitlines() if "=" in line]
        elif fmt in ("yaml", "json"):
            try:
                values += [str(v) for v in _scalars(yaml.safe_load(text))]
            except yaml.YAMLError:
                values.append(text)
        else:
            values.append(text)
        values += [line for line in text.splitlines() if line.strip()]
    unique = {v.strip() for v in values if len(v.strip()) >= _MIN_MASKED}
    return sorted(unique, key=len, reverse=True)


def _scalars(value: Any) -> Iterator[object]:
    if isinstance(value, dict):
        for inner in value.values():
            yield from _scalars(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _scalars(inner)
    elif value is not None:
        yield value


def scrubbed(error: RenderError, values: list[str]) -> RenderError:
    """The same error with each decrypted value (and its base64) masked."""
    reason = error.reason
    for value in values:
        for form in (value, base64.b64encode(value.encode()).decode()):
            reason = reason.replace(form, "***")
    return type(error)(reason, path=error.path, line=error.line)
