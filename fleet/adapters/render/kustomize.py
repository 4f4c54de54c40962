"""Kustomize builds, in process through pykustomize or through a kustomize/kubectl binary.

pykustomize embeds the kustomize Go library (api v0.21), so a build costs a function call
instead of a process start; its output matches ``kubectl kustomize`` (kustomize v5.5)
byte for byte. Where it is not installed (it ships for linux-amd64 with glibc >= 2.34
only), a ``kustomize`` binary or ``kubectl kustomize`` does the same build. Every backend
builds with Kustomize's defaults: load restrictor RootOnly, no plugins, no Helm; the
inputs were already checked to be local (see ``kustomization.py``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Protocol

import anyio

from fleet.adapters.render.errors import (
    KustomizeBuildError,
    RenderError,
    RendererUnavailableError,
)
from fleet.adapters.render.kustomization import KustomizeInputs
from fleet.adapters.render.limits import check_objects, check_rendered, remaining_objects
from fleet.adapters.render.objects import is_object_like, manifests_from
from fleet.adapters.render.sandbox import read_text
from fleet.adapters.render.yamldocs import load_documents
from fleet.model.manifests import Manifest, Origin

BackendName = Literal["auto", "pykustomize", "kustomize", "kubectl"]

INSTALL_HINT = (
    "no Kustomize found: install pykustomize "
    "(pip install --ignore-requires-python pykustomize==0.1.4), "
    "the kustomize binary, or kubectl"
)


class KustomizeBackend(Protocol):
    """Something that turns a kustomization directory into YAML."""

    name: str

    async def build(self, directory: Path) -> str: ...


class PyKustomizeBackend:
    """The kustomize library loaded into this process."""

    name = "pykustomize"

    def __init__(self) -> None:
        import pykustomize

        self._module = pykustomize
        self._kustomizer = pykustomize.Kustomizer()  # loads the native library now

    async def build(self, directory: Path) -> str:
        try:
            result = await self._kustomizer.build(directory)
        except self._module.KustomizeError as error:
            raise KustomizeBuildError(str(error).removeprefix("kustomize build failed: ")) from None
        return str(result.yaml)


class BinaryBackend:
    """``kustomize build DIR`` or ``kubectl kustomize DIR`` in a subprocess."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self._argv = argv

    async def build(self, directory: Path) -> str:
        # No kubeconfig, no home directory (credentials, caches): a build needs neither.
        env = {"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent", "KUBECONFIG": os.devnull}
        result = await anyio.run_process([*self._argv, str(directory)], check=False, env=env)
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            raise KustomizeBuildError(
                _strip_klog(message) or f"{self.name} exited {result.returncode}"
            )
        return result.stdout.decode()


def _strip_klog(message: str) -> str:
    """kubectl wraps errors in a klog line: keep the ``err="..."`` part."""
    marker = 'err="'
    if marker in message:
        return message.split(marker, 1)[1].rstrip('"').replace('\\"', '"')
    return message.removeprefix("Error: ")


def find_backend(preferred: BackendName = "auto") -> KustomizeBackend:
    """The first available backend, in order pykustomize, kustomize, kubectl."""
    order = ["pykustomize", "kustomize", "kubectl"] if preferred == "auto" else [preferred]
    for name in order:
        if name == "pykustomize":
            try:
                return PyKustomizeBackend()
            except Exception:  # ImportError, or the native library failed to load
                continue
        executable = shutil.which(name)
        if executable is not None:
            argv = [executable, "build"] if name == "kustomize" else [executable, "kustomize"]
            return BinaryBackend(name, argv)
    hint = (
        INSTALL_HINT if preferred == "auto" else f"Kustomize backend {preferred!r} is not available"
    )
    raise RendererUnavailableError(hint)


def parse_build(output: str, inputs: KustomizeInputs, root: Path) -> list[Manifest]:
    """The objects of a build's output, each traced back to a source where possible.

    Kustomize reports no origins, so an object is matched by kind and name to a document
    of the resource files or a generator entry (name prefixes, suffixes and hashes
    allowed); when nothing matches, the origin is the overlay's kustomization file.
    """
    overlay = inputs.kustomization_files[0]
    check_rendered(len(output), overlay, "Kustomize's output")
    where = f"{overlay} (kustomize output)"
    documents = load_documents(output, where, max_documents=remaining_objects(0))
    manifests = manifests_from(documents, Origin(overlay, 1, "kustomize"))
    check_objects(len(manifests), overlay)
    sources = _source_index(inputs, root)
    traced = []
    for manifest in manifests:
        origin = _match(sources.get(manifest.ref.kind, {}), manifest.ref.name)
        traced.append(
            Manifest(manifest.ref, manifest.body, origin or Origin(overlay, 1, "kustomize"))
        )
    return traced


def _source_index(inputs: KustomizeInputs, root: Path) -> dict[str, dict[str, Origin]]:
    index: dict[str, dict[str, Origin]] = {}
    for rel in inputs.resource_files:
        try:
            documents = load_documents(read_text(root, rel), rel)
        except RenderError:
            continue  # Kustomize read it; origins are a courtesy, not a second opinion
        for document in documents:
            body = document.value
            if not is_object_like(body) or not isinstance(body.get("metadata"), Mapping):
                continue
            name = body["metadata"].get("name")
            if isinstance(name, str):
                origin = Origin(rel, document.line, "kustomize")
                index.setdefault(str(body["kind"]), {}).setdefault(name, origin)
    for kind, name, origin in inputs.generated:
        index.setdefault(kind, {}).setdefault(name, origin)
    return index


def _match(candidates: Mapping[str, Origin], name: str) -> Origin | None:
    if name in candidates:
        return candidates[name]
    contained = [source for source in candidates if source and source in name]
    return candidates[max(contained, key=len)] if contained else None
