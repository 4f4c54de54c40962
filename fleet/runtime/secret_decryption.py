"""SOPS-encrypted manifests decrypted after rendering, in the daemon's process.

Renders run in worker processes and their results are cached by tree: both only ever
see the encrypted form. Decryption happens here, after the cache, per app x cluster with
that cluster's age keys (read from the host at each render, held in memory only), so a
rotated key file takes effect at the next render and a dev key never opens prod files.

What cannot be decrypted fails the app on that cluster like a render error, naming the
file: no key for any recipient, a MAC mismatch, a malformed ``sops`` block, an
unreadable key file, or an app with encrypted manifests but no ``decryption`` settings.
Encrypted Kustomize ``secretGenerator`` files and Helm values files are decrypted
before rendering (``prerender_secrets.py``). SOPS ciphertext anywhere else in the output
(a configMapGenerator file, a plain manifest quoting a value) is refused: ciphertext must
never reach a cluster as if it were the value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from fleet.adapters.render import RenderError
from fleet.adapters.render.yamldocs import load_documents
from fleet.adapters.secrets import SopsError, decrypt_mapping, is_encrypted, load_identities
from fleet.config import Cluster
from fleet.config.decryption import Decryption
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef

#: How every value sops encrypts starts.
_CIPHERTEXT = "ENC[AES256_GCM,"


class SecretDecryptionError(Exception):
    """A manifest could not be decrypted; ``file`` is its path in the repository."""

    def __init__(self, file: str, message: str) -> None:
        self.file = file
        self.message = message
        super().__init__(f"{file}: {message}")


#: Reads a file of the rendered tree by its repository path (None: not available).
SourceReader = Callable[[str], bytes]

#: The largest source file read back to find an encrypted manifest's original.
_MAX_SOURCE_BYTES = 4 * 1024 * 1024


def decrypt_manifests(
    manifests: Sequence[Manifest],
    decryption: Decryption | None,
    cluster: Cluster,
    environ: Mapping[str, str] | None = None,
    read_source: SourceReader | None = None,
) -> list[Manifest]:
    """``manifests`` with each SOPS-encrypted one decrypted; raises SecretDecryptionError.

    A renderer may reorder or add fields (Kustomize sorts keys, adds labels), which
    changes what the SOPS MAC covers. So the manifest's original document is read back
    from its file (``read_source``), decrypted and verified there, and its values are put
    in place of the same ciphertexts in the rendered object. Without the original, the
    rendered object itself is decrypted.
    """
    identities: list[str] | None = None
    out: list[Manifest] = []
    for manifest in manifests:
        file = manifest.origin.path
        if not is_encrypted(manifest.body):
            _refuse_stray_ciphertext(manifest)
            out.append(manifest)
            continue
        if decryption is None:
            raise SecretDecryptionError(
                file,
                f"{_describe(manifest)} is SOPS-encrypted but the app has no decryption "
                "settings (add decryption: {provider: sops, ageKeyFiles: [...]})",
            )
        if identities is None:
            identities = cluster_identities(decryption, cluster, file)
        original = _original(manifest, read_source)
        try:
            if original is None:
                body = decrypt_mapping(manifest.body, identities, path=file)
            else:
                plain = decrypt_mapping(original, identities, path=file)
                body = _substituted(manifest, _plain_values(original, plain))
        except SopsError as exc:
            raise SecretDecryptionError(file, exc.problem) from None
        ref = ObjectRef.of(body, manifest.ref.namespace)
        out.append(Manifest(ref=ref, body=body, origin=manifest.origin))
    return out


def _original(manifest: Manifest, read_source: SourceReader | None) -> Mapping[str, Any] | None:
    """The document of the manifest's file carrying the same SOPS MAC, if it can be read."""
    if read_source is None:
        return None
    file = manifest.origin.path
    try:
        data = read_source(file)
    except OSError:
        return None
    if len(data) > _MAX_SOURCE_BYTES:
        return None
    try:
        documents = load_documents(data.decode("utf-8"), file)
    except (RenderError, UnicodeDecodeError):
        return None
    mac = _mac(manifest.body)
    for document in documents:
        if isinstance(document.value, Mapping) and mac is not None and _mac(document.value) == mac:
            return document.value
    return None


def _mac(body: Mapping[str, Any]) -> str | None:
    block = body.get("sops")
    if isinstance(block, Mapping) and isinstance(block.get("mac"), str):
        return str(block["mac"])
    return None


def _plain_values(encrypted: Any, plain: Any) -> dict[str, Any]:
    """Each ciphertext of ``encrypted`` mapped to the value at the same place in ``plain``."""
    found: dict[str, Any] = {}
    if isinstance(encrypted, Mapping) and isinstance(plain, Mapping):
        for key, value in encrypted.items():
            if key != "sops" and key in plain:
                found.update(_plain_values(value, plain[key]))
    elif isinstance(encrypted, list) and isinstance(plain, list):
        for value, inner in zip(encrypted, plain, strict=False):
            found.update(_plain_values(value, inner))
    elif isinstance(encrypted, str) and encrypted.startswith(_CIPHERTEXT):
        found[encrypted] = plain
    return found


def _substituted(manifest: Manifest, values: Mapping[str, Any]) -> dict[str, Any]:
    """The rendered body with each ciphertext replaced by its verified value, no sops block."""
    file = manifest.origin.path

    def walk(value: Any, where: str) -> Any:
        if isinstance(value, Mapping):
            return {k: walk(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str) and value.startswith(_CIPHERTEXT):
            if value not in values:
                raise SopsError(file, f"the value at {where} is not one of the file's own values")
            return values[value]
        return value

    body = {k: v for k, v in manifest.body.items() if k != "sops"}
    result = walk(body, "")
    assert isinstance(result, dict)
    return result


def cluster_identities(decryption: Decryption, cluster: Cluster, file: str) -> list[str]:
    """The age identities of the app's key files for ``cluster``, read now."""
    try:
        paths: list[Path] = decryption.key_files_for(cluster)
        return load_identities(paths)
    except (SopsError, ValueError, OSError) as exc:
        raise SecretDecryptionError(
            file, f"cannot load the age keys for cluster {cluster.name}: {exc}"
        ) from None


def _describe(manifest: Manifest) -> str:
    ref = manifest.ref
    where = f"{ref.namespace}/" if ref.namespace else ""
    return f"{ref.kind} {where}{ref.name}"


def holds_ciphertext(manifest: Manifest) -> bool:
    """Whether SOPS ciphertext appears anywhere in the body (a Secret's data decoded)."""
    strings = _strings(manifest.body, secret_data=manifest.ref.kind == "Secret")
    return any(_CIPHERTEXT in value for value in strings)


def _refuse_stray_ciphertext(manifest: Manifest) -> None:
    if holds_ciphertext(manifest):
        raise SecretDecryptionError(
            manifest.origin.path,
            f"{_describe(manifest)} holds SOPS ciphertext ({_CIPHERTEXT}...) but is not a "
            "SOPS-encrypted manifest: fleet decrypts SOPS manifests, files a Kustomize "
            "secretGenerator reads and the app's Helm values files, nothing else; encrypt "
            "the Secret manifest itself with `fleet secrets encrypt`",
        )


def _strings(value: Any, *, secret_data: bool, key: str = "") -> Iterator[str]:
    """Every string in a body (keys too), with a Secret's base64 ``data`` decoded."""
    if isinstance(value, Mapping):
        for inner_key, inner in value.items():
            yield str(inner_key)
            decode = secret_data and key == "" and inner_key == "data"
            if decode and isinstance(inner, Mapping):
                for data_key, encoded in inner.items():
                    yield str(data_key)
                    yield _decoded(encoded)
            else:
                yield from _strings(inner, secret_data=secret_data, key=f"{key}.{inner_key}")
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, secret_data=secret_data, key=f"{key}[]")
    elif isinstance(value, str):
        yield value


def _decoded(encoded: object) -> str:
    if not isinstance(encoded, str):
        return ""
    try:
        return base64.b64decode(encoded, validate=False).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return encoded


def lease_reader(root: Path) -> SourceReader:
    """Reads repository files of an exported tree, refusing paths that leave it."""
    base = root.resolve()

    def read(relative: str) -> bytes:
        path = (base / relative).resolve()
        if not path.is_relative_to(base):
            raise OSError(f"{relative} leaves the tree")
        with path.open("rb") as handle:
            return handle.read(_MAX_SOURCE_BYTES + 1)

    return read
