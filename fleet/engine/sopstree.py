"""Which values of a SOPS document are encrypted, and the bytes its MAC is computed over.

Pure rules of the SOPS format (getsops/sops ``sops.go``), kept apart from the crypto so
they can be table-tested: a value is encrypted unless a rule of the file says otherwise;
the MAC is SHA-512 over the plain values (never comments, never nulls) in document order,
the key path of a value (joined with ``:`` plus a trailing ``:``) is its AES-GCM
additional data, and sequence items share the path of their parent key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

#: What sops assumes when a file names no rule at all.
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"

#: SHA-256 of b"sops": hashed first when only encrypted values are MAC'd, so that the
#: two kinds of MAC never coincide.
MAC_ONLY_ENCRYPTED_PREFIX = hashlib.sha256(b"sops").digest()


@dataclass(frozen=True)
class EncryptionRules:
    """The rules of one file; at most one of the four may be set (as sops requires)."""

    unencrypted_suffix: str | None = None
    encrypted_suffix: str | None = None
    unencrypted_regex: str | None = None
    encrypted_regex: str | None = None
    mac_only_encrypted: bool = False

    def problem(self) -> str | None:
        """Why these rules are invalid, or None."""
        named = [
            name
            for name in (
                "unencrypted_suffix",
                "encrypted_suffix",
                "unencrypted_regex",
                "encrypted_regex",
            )
            if getattr(self, name)
        ]
        if len(named) > 1:
            return f"only one of {', '.join(named)} may be set"
        for name in ("unencrypted_regex", "encrypted_regex"):
            pattern = getattr(self, name)
            if pattern:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    return f"{name} {pattern!r} is not a valid regular expression: {exc}"
        return None

    def effective(self) -> EncryptionRules:
        """The rules sops applies: the default unencrypted suffix when none is named."""
        if any(
            (
                self.unencrypted_suffix,
                self.encrypted_suffix,
                self.unencrypted_regex,
                self.encrypted_regex,
            )
        ):
            return self
        return EncryptionRules(
            unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX,
            mac_only_encrypted=self.mac_only_encrypted,
        )


def should_encrypt(path: tuple[str, ...], rules: EncryptionRules) -> bool:
    """Whether the value at ``path`` (its chain of mapping keys) is encrypted."""
    encrypted = True
    if rules.unencrypted_suffix and any(p.endswith(rules.unencrypted_suffix) for p in path):
        encrypted = False
    if rules.encrypted_suffix:
        encrypted = any(p.endswith(rules.encrypted_suffix) for p in path)
    if rules.unencrypted_regex and any(re.search(rules.unencrypted_regex, p) for p in path):
        encrypted = False
    if rules.encrypted_regex:
        encrypted = any(re.search(rules.encrypted_regex, p) for p in path)
    return encrypted


def additional_data(path: tuple[str, ...]) -> bytes:
    """The AES-GCM additional data that binds a value to its place in the document."""
    return (":".join(path) + ":").encode()


def format_float(value: float) -> str:
    """A float as Go's ``strconv.FormatFloat(v, 'f', -1, 64)`` writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def value_bytes(value: object) -> bytes:
    """The bytes sops feeds to the MAC (and encrypts) for one scalar value."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(int(value)).encode()
    if isinstance(value, float):
        return format_float(float(value)).encode()
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return str(value).encode()
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat().encode()  # a parser's date, written as YAML writes it
    raise TypeError(
        f"a value of type {type(value).__name__} is not supported "
        "(quote timestamps and custom-tagged values)"
    )


#: A leaf visitor: (value, key path) -> the value to put in its place.
LeafVisitor = Callable[[Any, tuple[str, ...]], Any]


def walk_leaves(node: Any, visit: LeafVisitor, path: tuple[str, ...] = ()) -> Any:
    """Visit every non-null scalar in document order, replacing each with visit's result.

    Mappings and sequences are changed in place (so a round-trip YAML node keeps its
    comments and style); a null is left alone, as sops does.
    """
    if isinstance(node, MutableMapping):
        for key in list(node.keys()):
            if not isinstance(key, str):
                raise TypeError(f"key {key!r} under {':'.join(path) or 'the top'} is not a string")
            node[key] = walk_leaves(node[key], visit, (*path, key))
        return node
    if isinstance(node, Mapping):
        raise TypeError("read-only mapping")
    if isinstance(node, MutableSequence):
        for index, item in enumerate(node):
            node[index] = walk_leaves(item, visit, path)
        return node
    if node is None:
        return None
    return visit(node, path)


class MacAccumulator:
    """The running SHA-512 of a document's values; hexdigest in upper case like sops."""

    def __init__(self, rules: EncryptionRules) -> None:
        self._rules = rules.effective()
        self._hash = hashlib.sha512()
        if rules.mac_only_encrypted:
            self._hash.update(MAC_ONLY_ENCRYPTED_PREFIX)

    def add(self, plain_value: object, path: tuple[str, ...]) -> None:
        """Count one plain value (a no-op for unencrypted ones under mac_only_encrypted)."""
        if self._rules.mac_only_encrypted and not should_encrypt(path, self._rules):
            return
        self._hash.update(value_bytes(plain_value))

    def hexdigest(self) -> str:
        return self._hash.hexdigest().upper()
