"""Plain directories: the objects are the YAML and JSON files themselves.

Every ``*.yaml``, ``*.yml`` and ``*.json`` file below the app path is read, in path
order, recursing into subdirectories (hidden files and directories are skipped). A file
in which no document has a ``kind`` is not a manifest file (a ``values.yaml``, a
``Chart.yaml``, a JSON schema) and is ignored as a whole; in any other file every
non-empty document must be an object. Kustomization files are never objects. The files
together are the render's output, bounded by the render limits (``limits.py``).
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from fleet.adapters.render.kustomization import KUSTOMIZATION_FILES
from fleet.adapters.render.limits import (
    check_file,
    check_objects,
    check_rendered,
    remaining_objects,
)
from fleet.adapters.render.objects import is_object_like, manifests_from
from fleet.adapters.render.sandbox import display, read_text, walk_files
from fleet.adapters.render.yamldocs import load_documents
from fleet.model.manifests import Manifest, Origin

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def manifest_files(root: Path, directory: str) -> list[str]:
    """The files a plain render reads, in the order it reads them."""
    return [
        rel
        for rel in walk_files(root, directory, skip_hidden=True)
        if rel.endswith(MANIFEST_SUFFIXES) and posixpath.basename(rel) not in KUSTOMIZATION_FILES
    ]


def render_plain(root: Path, directory: str) -> list[Manifest]:
    """The objects of a plain directory, in file order then document order."""
    manifests: list[Manifest] = []
    files = manifest_files(root, directory)
    for rel in files:
        check_file(root, rel)  # each file first: the error names the culprit
    total = sum(_size(root, rel) for rel in files)
    check_rendered(total, display(directory), "the total of the manifest files")
    for rel in files:
        text = read_text(root, rel)
        documents = load_documents(text, rel, max_documents=remaining_objects(len(manifests)))
        if not any(is_object_like(document.value) for document in documents):
            continue
        manifests.extend(manifests_from(documents, Origin(rel, 1, "plain")))
        check_objects(len(manifests), rel)
    return manifests


def _size(root: Path, rel: str) -> int:
    try:
        return (root / rel).stat().st_size
    except OSError:
        return 0  # read_text names the file when it cannot be read
