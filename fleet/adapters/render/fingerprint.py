"""Cache keys: a digest of everything a render depends on.

A key covers the request's options (path, renderer, namespace, Helm values) and the
content of the files the render reads: either the caller's content addresses (Git ids,
free to obtain) or a SHA-256 over the files themselves. File names are part of the
digest, so a renamed file changes the key even when its bytes do not.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from fleet.adapters.render.request import ContentAddresser, RenderRequest
from fleet.adapters.render.sandbox import resolves_inside, walk_files

_CHUNK = 1 << 16


def options_digest(request: RenderRequest, path: str) -> str:
    """Digest of the request's options, which every key includes."""
    options = {
        "path": path,
        "renderer": request.renderer,
        "namespace": request.namespace,
        "helm": asdict(request.helm),
    }
    encoded = json.dumps(options, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(encoded.encode()).hexdigest()


def key_for_root(request: RenderRequest, path: str, root_key: str) -> str:
    """Key when the caller vouches for the whole tree with one string."""
    return _combine(options_digest(request, path), "root", root_key)


def key_for_inputs(
    request: RenderRequest, path: str, inputs: Iterable[str], addresser: ContentAddresser | None
) -> str:
    """Key from the render's inputs, addressed by the caller or hashed here."""
    digest = hashlib.sha256()
    for rel in sorted(set(inputs)):
        digest.update(rel.encode() + b"\0")
        if addresser is not None:
            digest.update(addresser(rel).encode() + b"\0")
        else:
            _hash_path(digest, request.root, rel)
    return _combine(options_digest(request, path), "inputs", digest.hexdigest())


def _hash_path(digest: hashlib._Hash, root: Path, rel: str) -> None:
    target = root / rel
    # Not strict: a link out of the repository that the render never reads is no error
    # here; its target text is hashed instead of its (unreadable) content.
    files = walk_files(root, rel, strict=False) if target.is_dir() else [rel]
    for file in files:
        if not resolves_inside(root, file):
            digest.update(f"{file}\0link:{os.readlink(root / file)}\0".encode())
            continue
        content = hashlib.sha256()
        with open(root / file, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                content.update(chunk)
        digest.update(f"{file}\0{content.hexdigest()}\0".encode())


def _combine(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
