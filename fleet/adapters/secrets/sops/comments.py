"""Comments of a round-trip YAML document, encrypted and decrypted as sops does.

sops encrypts a comment line like a value (type ``comment``, written ``#ENC[...]``) with
the key path of the mapping that holds it as additional data, and leaves it out of the
MAC. ruamel.yaml attaches comments to the node before or after them, not always where
sops' parser puts them, so decryption tries the holder's path and its ancestors (GCM
authenticates whichever opens it) and, like sops, keeps a comment it cannot open as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ruamel.yaml.comments import CommentedBase, CommentedMap, CommentedSeq

from fleet.adapters.secrets.sops.cipher import (
    Comment,
    ValueCryptoError,
    decrypt_value,
    encrypt_value,
    is_encrypted_value,
)
from fleet.engine.sopstree import EncryptionRules, additional_data, should_encrypt

#: Rewrites one comment's text (after ``#``) found under a mapping path.
LineRewriter = Callable[[str, tuple[str, ...]], str]


def _holders(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[Any, tuple[str, ...]]]:
    if isinstance(node, CommentedMap):
        yield node, path
        for key, value in node.items():
            yield from _holders(value, (*path, str(key)))
    elif isinstance(node, CommentedSeq):
        yield node, path
        for item in node:
            yield from _holders(item, path)


def _tokens(node: CommentedBase) -> Iterator[tuple[Any, bool]]:
    """Every comment token of a node, with whether it ends a line of content."""

    def flatten(entry: Any, eol: bool) -> Iterator[tuple[Any, bool]]:
        if entry is None:
            return
        if isinstance(entry, list):
            for sub in entry:
                yield from flatten(sub, eol)
        elif hasattr(entry, "value") and isinstance(entry.value, str):
            yield entry, eol

    attrs = node.ca
    eol_slot = 2 if isinstance(node, CommentedMap) else 0
    yield from flatten(attrs.comment, False)
    for entry in attrs.items.values():
        for slot, part in enumerate(entry if isinstance(entry, list) else [entry]):
            yield from flatten(part, slot == eol_slot)
    yield from flatten(getattr(attrs, "end", None), False)


def rewrite_comments(doc: Any, rewrite: LineRewriter) -> None:
    """Apply ``rewrite`` to the text of every comment line in the document."""
    seen: set[int] = set()
    # Deepest holders first: ruamel hangs the comment above a nested mapping's first key
    # on both the parent's item and the nested mapping; sops files it under the latter.
    holders = sorted(_holders(doc), key=lambda pair: -len(pair[1]))
    for holder, path in holders:
        for token, eol in _tokens(holder):
            if id(token) in seen:
                continue
            seen.add(id(token))
            token.value = _rewrite_token(token.value, path, rewrite)
            if eol and token.start_mark is not None:
                # The column was measured on the other form of the line: write the
                # comment one space after the content instead of far out to the right.
                token.start_mark.column = 0


def _rewrite_token(value: str, path: tuple[str, ...], rewrite: LineRewriter) -> str:
    lines = value.split("\n")
    out = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith("#"):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}#{rewrite(stripped[1:], path)}")
        else:
            out.append(line)
    return "\n".join(out)


def encrypter(rules: EncryptionRules, key: bytes) -> LineRewriter:
    effective = rules.effective()

    def encrypt(text: str, path: tuple[str, ...]) -> str:
        if not text or not should_encrypt(path, effective):
            return text
        return encrypt_value(Comment(text), key, additional_data(path))

    return encrypt


def decrypter(key: bytes) -> LineRewriter:
    def decrypt(text: str, path: tuple[str, ...]) -> str:
        if not is_encrypted_value(text):
            return text
        for depth in range(len(path), -1, -1):
            try:
                plain = decrypt_value(text, key, additional_data(path[:depth]))
            except ValueCryptoError:
                continue
            if isinstance(plain, Comment):
                return plain.text
        return text

    return decrypt
