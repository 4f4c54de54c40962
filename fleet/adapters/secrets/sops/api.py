"""Whole-file operations: decrypt, encrypt, rotate the data key, change the recipients."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from fleet.adapters.secrets.errors import SopsError
from fleet.adapters.secrets.sops.cipher import IvStash, iv_stash
from fleet.adapters.secrets.sops.documents import JsonDocument, document_for
from fleet.adapters.secrets.sops.formats import Format
from fleet.adapters.secrets.sops.metadata import (
    FORMAT_VERSION,
    SOPS_KEY,
    AgeStanza,
    PgpStanza,
    SopsMetadata,
    has_sops_block,
    metadata_mapping,
    parse_metadata,
)
from fleet.adapters.secrets.sops.tree import (
    new_data_key,
    now_rfc3339,
    recover_data_key,
    seal_for_recipients,
    seal_mac,
)
from fleet.engine.sopstree import EncryptionRules

_F = TypeVar("_F", bound=Callable[..., Any])


def _bounded(function: _F) -> _F:
    """Turn a RecursionError from a hostile, deeply nested document into a SopsError."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except RecursionError:
            raise SopsError(
                str(kwargs.get("path", "?")), "the document is nested too deeply"
            ) from None

    return cast(_F, wrapper)


def is_encrypted(doc: object) -> bool:
    """Whether a parsed document is a SOPS file: a top-level ``sops`` mapping with a MAC
    (or, damaged, another sops field: decrypting it then names what is malformed)."""
    return has_sops_block(doc)


@_bounded
def decrypt_text(
    data: bytes, fmt: Format, identities: Sequence[str], *, path: str, pgp: bool = False
) -> bytes:
    """The plain file, like ``sops -d``; the MAC is always verified. With ``pgp``, PGP
    recipients are tried through the host's gpg after the age identities."""
    document = document_for(fmt, path)
    body, block = document.split(data, path)
    meta = parse_metadata(block, path)
    key = recover_data_key(meta, identities, path, pgp=pgp)
    return document.dump_plain(document.decrypt(body, meta, key, path))


@_bounded
def decrypt_mapping(
    doc: Mapping[str, Any], identities: Sequence[str], *, path: str, pgp: bool = False
) -> dict[str, Any]:
    """An already parsed YAML/JSON document, decrypted, without its sops block.

    Comments are not in a parsed mapping (nor in Kustomize output), which is harmless:
    sops leaves them out of the MAC, so the values still verify.
    """
    if not isinstance(doc, Mapping):
        raise SopsError(path, "the document is not a mapping")
    body = copy.deepcopy(dict(doc))
    if SOPS_KEY not in body:
        raise SopsError(path, "sops metadata not found: no top-level 'sops'")
    meta = parse_metadata(body.pop(SOPS_KEY), path)
    key = recover_data_key(meta, identities, path, pgp=pgp)
    decrypted: dict[str, Any] = JsonDocument().decrypt(body, meta, key, path)
    return decrypted


@_bounded
def encrypt_text(
    data: bytes,
    fmt: Format,
    recipients: Sequence[str],
    *,
    path: str,
    encrypted_regex: str | None = None,
    encrypted_suffix: str | None = None,
    unencrypted_suffix: str | None = None,
    unencrypted_regex: str | None = None,
    mac_only_encrypted: bool = False,
) -> bytes:
    """The SOPS file of a plain one, its data key sealed to every age recipient."""
    rules = EncryptionRules(
        unencrypted_suffix=unencrypted_suffix,
        encrypted_suffix=encrypted_suffix,
        unencrypted_regex=unencrypted_regex,
        encrypted_regex=encrypted_regex,
        mac_only_encrypted=mac_only_encrypted,
    )
    problem = rules.problem()
    if problem:
        raise SopsError(path, problem)
    document = document_for(fmt, path)
    body = document.load_plain(data, path)
    key = new_data_key()
    stanzas = seal_for_recipients(key, recipients, path)
    return _seal(document, body, rules.effective(), key, stanzas, FORMAT_VERSION, path)


def _seal(
    document: Any,
    body: Any,
    rules: EncryptionRules,
    key: bytes,
    stanzas: tuple[AgeStanza, ...],
    version: str,
    path: str,
    pgp: tuple[PgpStanza, ...] = (),
) -> bytes:
    mac = document.encrypt(body, rules, key, path)
    lastmodified = now_rfc3339()
    meta = SopsMetadata(
        age=stanzas,
        lastmodified=lastmodified,
        mac=seal_mac(mac, key, lastmodified),
        rules=rules,
        version=version,
        pgp=pgp,
    )
    joined: bytes = document.join(body, metadata_mapping(meta))
    return joined


@_bounded
def recipients_of(data: bytes, fmt: Format, *, path: str) -> list[str]:
    """The age recipients a SOPS file is encrypted to."""
    _, block = document_for(fmt, path).split(data, path)
    return [s.recipient for s in parse_metadata(block, path).age]


@_bounded
def rotate_text(
    data: bytes, fmt: Format, identities: Sequence[str], *, path: str, pgp: bool = False
) -> bytes:
    """The same values under a new data key, sealed to the same recipients."""
    document = document_for(fmt, path)
    body, block = document.split(data, path)
    meta = parse_metadata(block, path)
    if meta.pgp or meta.other_key_types:
        kinds = ", ".join(sorted(set(meta.other_key_types) | ({"pgp"} if meta.pgp else set())))
        raise SopsError(
            path,
            f"cannot rotate: the file also has {kinds} keys, which fleet cannot seal a new "
            "data key to (updatekeys to age recipients first)",
        )
    old_key = recover_data_key(meta, identities, path, pgp=pgp)
    body = document.decrypt(body, meta, old_key, path)
    key = new_data_key()
    stanzas = seal_for_recipients(key, [s.recipient for s in meta.age], path)
    return _seal(document, body, meta.rules, key, stanzas, meta.version, path)


@_bounded
def update_keys_text(
    data: bytes,
    fmt: Format,
    identities: Sequence[str],
    recipients: Sequence[str],
    *,
    path: str,
    pgp: bool = False,
) -> bytes:
    """The same file (values, MAC, data key) sealed to exactly these age recipients: any
    other key the file had (PGP, KMS) is removed, so it no longer opens the file."""
    document = document_for(fmt, path)
    body, block = document.split(data, path)
    meta = parse_metadata(block, path)
    key = recover_data_key(meta, identities, path, pgp=pgp)
    # Verify before re-sealing: never hand a tampered file to new recipients.
    document.decrypt(copy.deepcopy(body), meta, key, path)
    updated = meta.with_age(seal_for_recipients(key, recipients, path))
    joined: bytes = document.join(body, metadata_mapping(updated))
    return joined


@dataclass(frozen=True)
class OpenedFile:
    """A decrypted file's key and metadata, kept to seal its edited text the same way."""

    fmt: Format
    meta: SopsMetadata
    data_key: bytes = field(repr=False)
    path: str
    ivs: IvStash = field(repr=False, default_factory=dict)


@_bounded
def open_for_edit(
    data: bytes, fmt: Format, identities: Sequence[str], *, path: str, pgp: bool = False
) -> tuple[bytes, OpenedFile]:
    """The plain text of a SOPS file and what is needed to seal it again."""
    document = document_for(fmt, path)
    body, block = document.split(data, path)
    meta = parse_metadata(block, path)
    dropped = sorted(set(meta.other_key_types) - {"pgp"})
    if dropped:
        raise SopsError(
            path, f"cannot edit: the file also has {', '.join(dropped)} keys fleet would drop"
        )
    key = recover_data_key(meta, identities, path, pgp=pgp)
    with iv_stash({}) as ivs:
        plain = document.dump_plain(document.decrypt(body, meta, key, path))
    return plain, OpenedFile(fmt=fmt, meta=meta, data_key=key, path=path, ivs=ivs)


def reseal(plain: bytes, opened: OpenedFile) -> bytes:
    """Edited plain text, encrypted with the file's data key, recipients and rules (as
    ``sops edit`` does: the recipients' sealed keys stay as they are)."""
    document = document_for(opened.fmt, opened.path)
    body = document.load_plain(plain, opened.path)
    meta = opened.meta
    with iv_stash(opened.ivs):
        return _seal(
            document,
            body,
            meta.rules,
            opened.data_key,
            meta.age,
            meta.version,
            opened.path,
            pgp=meta.pgp,  # the same data key: the PGP recipients' sealed copies stay valid
        )
