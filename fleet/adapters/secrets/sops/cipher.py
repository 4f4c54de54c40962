"""One SOPS value: ``ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]``.

sops encrypts each scalar alone with the document's 32-byte data key, a fresh 32-byte
IV and the value's key path as additional data; the type tag says how to read the
plain text back (``str``, ``int``, ``float``, ``bool``, ``bytes``, ``comment``).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fleet.engine.sopstree import value_bytes

IV_SIZE = 32
TAG_SIZE = 16
DATA_KEY_SIZE = 32

_ENCRYPTED = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")

_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


#: IVs seen while decrypting, by (additional data, type, plain bytes): ``sops edit`` reuses
#: them so a value that did not change keeps its ciphertext and the Git diff shows only
#: real changes. Reusing an IV is safe only for the very same key, data and plain text,
#: which is exactly what the lookup key guarantees; the stash is set for edits only.
IvStash = dict[tuple[bytes, str, bytes], bytes]
_STASH: ContextVar[IvStash | None] = ContextVar("sops_iv_stash", default=None)


@contextmanager
def iv_stash(stash: IvStash) -> Iterator[IvStash]:
    """Record IVs while decrypting, and reuse them while encrypting, within the block."""
    token = _STASH.set(stash)
    try:
        yield stash
    finally:
        _STASH.reset(token)


class ValueCryptoError(Exception):
    """A value could not be decrypted; the caller adds the file and the key path."""


@dataclass(frozen=True)
class Comment:
    """A comment's text (without the leading ``#``), a value sops can encrypt."""

    text: str


def is_encrypted_value(value: object) -> bool:
    return isinstance(value, str) and _ENCRYPTED.match(value) is not None


def _type_tag(value: object) -> str:
    if isinstance(value, Comment):
        return "comment"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, str):
        return "str"
    raise ValueCryptoError(f"a value of type {type(value).__name__} cannot be encrypted")


def encrypt_value(value: object, key: bytes, aad: bytes) -> str:
    """The ENC[...] form of a plain scalar; the empty string stays empty, as in sops."""
    if (isinstance(value, str | bytes) and len(value) == 0) or value == Comment(""):
        return ""
    tag_name = _type_tag(value)
    plain = value.text.encode() if isinstance(value, Comment) else value_bytes(value)
    return encrypt_raw(plain, tag_name, key, aad)


def encrypt_raw(plain: bytes, tag_name: str, key: bytes, aad: bytes) -> str:
    """The ENC[...] form of raw bytes under a given type tag (binary files use ``str``)."""
    stash = _STASH.get()
    iv = stash.get((aad, tag_name, plain)) if stash is not None else None
    if iv is None:
        iv = os.urandom(IV_SIZE)
    sealed = AESGCM(key).encrypt(iv, plain, aad)
    data, tag = sealed[:-TAG_SIZE], sealed[-TAG_SIZE:]
    b64 = base64.b64encode
    return (
        f"ENC[AES256_GCM,data:{b64(data).decode()},iv:{b64(iv).decode()},"
        f"tag:{b64(tag).decode()},type:{tag_name}]"
    )


def decrypt_value(text: str, key: bytes, aad: bytes) -> object:
    """The plain scalar of an ENC[...] string, typed by its tag."""
    if text == "":
        return ""
    plain, type_name = decrypt_raw(text, key, aad)
    return _typed(plain, type_name)


def decrypt_raw(text: str, key: bytes, aad: bytes) -> tuple[bytes, str]:
    """The plain bytes of an ENC[...] string and its type tag."""
    match = _ENCRYPTED.match(text)
    if match is None:
        raise ValueCryptoError("value is not in sops' ENC[AES256_GCM,...] form")
    try:
        data, iv, tag = (base64.b64decode(match.group(i), validate=True) for i in (1, 2, 3))
    except (binascii.Error, ValueError) as exc:
        raise ValueCryptoError(f"value has bad base64 ({exc})") from None
    type_name = match.group(4)
    if not iv or len(tag) != TAG_SIZE:
        raise ValueCryptoError("value has an empty IV or a tag that is not 16 bytes")
    try:
        plain = AESGCM(key).decrypt(iv, data + tag, aad)
    except InvalidTag:
        raise ValueCryptoError(
            "MAC mismatch: the value does not authenticate (tampered, moved, or another key)"
        ) from None
    stash = _STASH.get()
    if stash is not None:
        stash[(aad, type_name, plain)] = iv
    return plain, type_name


def _typed(plain: bytes, type_name: str) -> object:
    if type_name == "bytes":
        return plain
    try:
        text = plain.decode()
    except UnicodeDecodeError:
        raise ValueCryptoError(f"a {type_name} value is not UTF-8") from None
    if type_name == "str":
        return text
    if type_name == "comment":
        return Comment(text)
    if type_name in ("int", "int64"):
        try:
            return int(text, 10)
        except ValueError:
            raise ValueCryptoError(f"{text!r} is not an integer") from None
    if type_name == "float":
        try:
            return float(text)
        except ValueError:
            raise ValueCryptoError(f"{text!r} is not a float") from None
    if type_name == "bool":
        if text in _GO_TRUE:
            return True
        if text in _GO_FALSE:
            return False
        raise ValueCryptoError(f"{text!r} is not a boolean")
    raise ValueCryptoError(f"unknown value type {type_name!r}")
