"""The ``sops:`` block: read it from a parsed document, build it for a new one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fleet.adapters.secrets.errors import SopsError
from fleet.engine.sopstree import EncryptionRules

SOPS_KEY = "sops"
#: The version written into new files: the sops format release this code follows.
FORMAT_VERSION = "3.9.4"

_OTHER_KEY_TYPES = ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault")
_UNSUPPORTED = ("unencrypted_comment_regex", "encrypted_comment_regex")


@dataclass(frozen=True)
class AgeStanza:
    recipient: str
    enc: str


@dataclass(frozen=True)
class PgpStanza:
    fingerprint: str
    enc: str
    created_at: str


@dataclass(frozen=True)
class SopsMetadata:
    age: tuple[AgeStanza, ...]
    lastmodified: str
    mac: str
    rules: EncryptionRules
    version: str = FORMAT_VERSION
    other_key_types: tuple[str, ...] = field(default=())
    pgp: tuple[PgpStanza, ...] = field(default=())

    def with_age(self, age: tuple[AgeStanza, ...]) -> SopsMetadata:
        """The same file sealed to these age recipients only (other keys dropped)."""
        return replace(self, age=age, pgp=(), other_key_types=())


#: Fields only a sops block has; one of them marks a mapping as a SOPS file even when
#: the block is damaged, so that decrypting it fails loudly instead of the ENC[...]
#: strings being used as they are.
_SOPS_MARKERS = ("mac", "lastmodified", "age", "pgp", "kms", "key_groups")


def has_sops_block(doc: object) -> bool:
    """A mapping with a top-level ``sops`` mapping that has a MAC or another sops field."""
    if not isinstance(doc, Mapping):
        return False
    block = doc.get(SOPS_KEY)
    return isinstance(block, Mapping) and any(name in block for name in _SOPS_MARKERS)


def _text(block: Mapping[str, Any], name: str, path: str, *, required: bool) -> str | None:
    value = block.get(name)
    if value is None or value == "":
        if required:
            raise SopsError(path, f"malformed sops block: '{name}' is missing")
        return None
    if not isinstance(value, str):
        raise SopsError(path, f"malformed sops block: '{name}' is not a string")
    return value


def _required(block: Mapping[str, Any], name: str, path: str) -> str:
    value = _text(block, name, path, required=True)
    if value is None:  # _text raised already; this keeps the type checker informed
        raise SopsError(path, f"malformed sops block: '{name}' is missing")
    return value


def parse_metadata(block: object, path: str) -> SopsMetadata:
    """The metadata of a ``sops:`` mapping, or a SopsError saying what is malformed."""
    if not isinstance(block, Mapping):
        raise SopsError(path, "malformed sops block: 'sops' is not a mapping")
    for name in _UNSUPPORTED:
        if block.get(name):
            raise SopsError(path, f"sops block uses {name}, which fleet does not support")
    lastmodified = _required(block, "lastmodified", path)
    mac = _required(block, "mac", path)
    mac_only = block.get("mac_only_encrypted", False)
    if isinstance(mac_only, str):
        mac_only = mac_only == "true"
    if not isinstance(mac_only, bool):
        raise SopsError(path, "malformed sops block: 'mac_only_encrypted' is not a boolean")
    rules = EncryptionRules(
        unencrypted_suffix=_text(block, "unencrypted_suffix", path, required=False),
        encrypted_suffix=_text(block, "encrypted_suffix", path, required=False),
        unencrypted_regex=_text(block, "unencrypted_regex", path, required=False),
        encrypted_regex=_text(block, "encrypted_regex", path, required=False),
        mac_only_encrypted=mac_only,
    )
    problem = rules.problem()
    if problem:
        raise SopsError(path, f"malformed sops block: {problem}")
    stanzas, pgp, others = _key_stanzas(block, path)
    version = block.get("version")
    return SopsMetadata(
        age=stanzas,
        lastmodified=lastmodified,
        mac=mac,
        rules=rules,
        version=str(version) if version is not None else FORMAT_VERSION,
        other_key_types=others,
        pgp=pgp,
    )


def _key_stanzas(
    block: Mapping[str, Any], path: str
) -> tuple[tuple[AgeStanza, ...], tuple[PgpStanza, ...], tuple[str, ...]]:
    groups: list[Mapping[str, Any]] = [block]
    key_groups = block.get("key_groups")
    if key_groups:
        if not isinstance(key_groups, list) or not all(isinstance(g, Mapping) for g in key_groups):
            raise SopsError(path, "malformed sops block: 'key_groups' is not a list of mappings")
        if len(key_groups) > 1:
            raise SopsError(
                path,
                "sops block splits the data key over several key groups (Shamir), "
                "which fleet does not support",
            )
        groups = list(key_groups)
    stanzas: list[AgeStanza] = []
    pgp: list[PgpStanza] = []
    others: list[str] = []
    for group in groups:
        for other in _OTHER_KEY_TYPES:
            if group.get(other):
                others.append(other)
        entries = group.get("age") or []
        if not isinstance(entries, list):
            raise SopsError(path, "malformed sops block: 'age' is not a list")
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise SopsError(path, "malformed sops block: an 'age' entry is not a mapping")
            recipient = _required(entry, "recipient", path)
            enc = _required(entry, "enc", path)
            stanzas.append(AgeStanza(recipient=recipient.strip(), enc=enc))
        pgp.extend(_pgp_stanzas(group.get("pgp"), path))
    return tuple(stanzas), tuple(pgp), tuple(others)


def _pgp_stanzas(entries: object, path: str) -> list[PgpStanza]:
    if not entries:
        return []
    if not isinstance(entries, list):
        raise SopsError(path, "malformed sops block: 'pgp' is not a list")
    out = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise SopsError(path, "malformed sops block: a 'pgp' entry is not a mapping")
        created = entry.get("created_at")
        out.append(
            PgpStanza(
                fingerprint=_required(entry, "fp", path),
                enc=_required(entry, "enc", path),
                created_at=str(created) if created is not None else "",
            )
        )
    return out


def metadata_mapping(meta: SopsMetadata) -> dict[str, Any]:
    """The ``sops:`` mapping to write, keys in the order sops writes them."""
    out: dict[str, Any] = {
        "age": [{"recipient": s.recipient, "enc": s.enc} for s in meta.age],
        "lastmodified": meta.lastmodified,
        "mac": meta.mac,
    }
    rules = meta.rules
    for name in ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex"):
        value = getattr(rules, name)
        if value:
            out[name] = value
    if rules.mac_only_encrypted:
        out["mac_only_encrypted"] = True
    if meta.pgp:
        out["pgp"] = [
            {"created_at": p.created_at, "enc": p.enc, "fp": p.fingerprint} for p in meta.pgp
        ]
    out["version"] = meta.version
    return out
