"""Encrypt and decrypt a parsed document's values, and check its MAC (sops ``sops.go``)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import Any

from fleet.adapters.secrets.errors import SopsError
from fleet.adapters.secrets.sops import agekeys, pgpkeys
from fleet.adapters.secrets.sops.cipher import (
    DATA_KEY_SIZE,
    ValueCryptoError,
    decrypt_value,
    encrypt_value,
)
from fleet.adapters.secrets.sops.metadata import AgeStanza, SopsMetadata
from fleet.engine.sopstree import (
    EncryptionRules,
    MacAccumulator,
    additional_data,
    should_encrypt,
    walk_leaves,
)


def new_data_key() -> bytes:
    return os.urandom(DATA_KEY_SIZE)


def now_rfc3339() -> str:
    """The ``lastmodified`` stamp, as Go's time.RFC3339 writes a UTC time."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def recover_data_key(
    meta: SopsMetadata, identities: Sequence[str], path: str, *, pgp: bool = False
) -> bytes:
    """The data key, opened by the first identity that matches an age recipient, or
    (with ``pgp``) by the host's gpg for one of the file's PGP keys."""
    if not meta.age and not (pgp and meta.pgp):
        others = ", ".join(meta.other_key_types) or "none"
        raise SopsError(path, f"no age recipient in the sops block (key types: {others})")
    for stanza in meta.age:
        key = agekeys.open_data_key(stanza.enc, identities)
        if key is not None:
            return _checked(key, path)
    if pgp:
        for pgp_stanza in meta.pgp:
            key = pgpkeys.open_with_gpg(pgp_stanza.enc)
            if key is not None:
                return _checked(key, path)
    wanted = [s.recipient for s in meta.age]
    if pgp:
        wanted += [f"PGP {s.fingerprint}" for s in meta.pgp]
    held = ", ".join(sorted({agekeys.public_key(i) for i in identities}))
    given = f"the identities given are for {held}" if held else "no age identity was given"
    tried_gpg = " (and the host's gpg keyring has none of the PGP keys)" if pgp and meta.pgp else ""
    raise SopsError(
        path,
        f"no key for any recipient: the file is encrypted to {', '.join(wanted)}; "
        f"{given}{tried_gpg}",
    )


def _checked(key: bytes, path: str) -> bytes:
    if len(key) != DATA_KEY_SIZE:
        raise SopsError(path, "malformed sops block: the data key is not 32 bytes")
    return key


def seal_for_recipients(
    data_key: bytes, recipients: Sequence[str], path: str
) -> tuple[AgeStanza, ...]:
    if not recipients:
        raise SopsError(path, "no age recipient given")
    return tuple(
        AgeStanza(recipient=r.strip(), enc=agekeys.seal_data_key(data_key, r, path))
        for r in recipients
    )


def _where(path_keys: tuple[str, ...]) -> str:
    return ":".join(path_keys) or "(top)"


def decrypt_tree(doc: Any, meta: SopsMetadata, data_key: bytes, path: str) -> Any:
    """Decrypt ``doc`` (no ``sops`` key) in place and verify the MAC; returns ``doc``."""
    rules = meta.rules.effective()
    mac = MacAccumulator(rules)

    def visit(value: Any, keys: tuple[str, ...]) -> Any:
        plain = value
        if should_encrypt(keys, rules):
            if not isinstance(value, str):
                raise SopsError(path, f"value at {_where(keys)} should be encrypted but is not")
            try:
                plain = decrypt_value(value, data_key, additional_data(keys))
            except ValueCryptoError as exc:
                raise SopsError(path, f"value at {_where(keys)}: {exc}") from None
        try:
            mac.add(plain, keys)
        except TypeError as exc:
            raise SopsError(path, f"value at {_where(keys)}: {exc}") from None
        return plain

    try:
        walk_leaves(doc, visit)
    except TypeError as exc:
        raise SopsError(path, str(exc)) from None
    verify_mac(meta, data_key, mac.hexdigest(), path)
    return doc


def verify_mac(meta: SopsMetadata, data_key: bytes, computed: str, path: str) -> None:
    try:
        stored = decrypt_value(meta.mac, data_key, meta.lastmodified.encode())
    except ValueCryptoError as exc:
        raise SopsError(path, f"MAC mismatch: the stored MAC cannot be opened ({exc})") from None
    if not isinstance(stored, str) or stored.upper() != computed:
        raise SopsError(path, "MAC mismatch: the file's values were changed after encryption")


def encrypt_tree(doc: Any, rules: EncryptionRules, data_key: bytes, path: str) -> tuple[Any, str]:
    """Encrypt ``doc`` in place; returns it and the plain MAC (hex) over its values."""
    effective = rules.effective()
    mac = MacAccumulator(effective)

    def visit(value: Any, keys: tuple[str, ...]) -> Any:
        try:
            mac.add(value, keys)
            if should_encrypt(keys, effective):
                return encrypt_value(value, data_key, additional_data(keys))
        except (TypeError, ValueCryptoError) as exc:
            raise SopsError(path, f"value at {_where(keys)}: {exc}") from None
        return value

    try:
        walk_leaves(doc, visit)
    except TypeError as exc:
        raise SopsError(path, str(exc)) from None
    return doc, mac.hexdigest()


def seal_mac(mac_hex: str, data_key: bytes, lastmodified: str) -> str:
    return encrypt_value(mac_hex, data_key, lastmodified.encode())
