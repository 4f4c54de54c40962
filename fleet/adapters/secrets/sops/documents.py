"""A document of each format: split from and joined with its sops block, crypted in place.

A ``Document`` hides how each format stores its body and metadata so that the
operations (decrypt, encrypt, rotate, update keys) are written once in ``api``.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Protocol

from fleet.adapters.secrets.errors import SopsError
from fleet.adapters.secrets.sops import comments, formats
from fleet.adapters.secrets.sops.cipher import (
    Comment,
    ValueCryptoError,
    decrypt_raw,
    decrypt_value,
    encrypt_raw,
    encrypt_value,
    is_encrypted_value,
)
from fleet.adapters.secrets.sops.formats import DotenvEntry, Format
from fleet.adapters.secrets.sops.metadata import SOPS_KEY, SopsMetadata
from fleet.adapters.secrets.sops.tree import decrypt_tree, encrypt_tree, verify_mac
from fleet.engine.sopstree import (
    EncryptionRules,
    MacAccumulator,
    additional_data,
    should_encrypt,
)


class Document(Protocol):
    """One parsed file of one format."""

    def split(self, data: bytes, path: str) -> tuple[Any, object]: ...
    def join(self, body: Any, block: Mapping[str, Any]) -> bytes: ...
    def load_plain(self, data: bytes, path: str) -> Any: ...
    def dump_plain(self, body: Any) -> bytes: ...
    def decrypt(self, body: Any, meta: SopsMetadata, key: bytes, path: str) -> Any: ...
    def encrypt(self, body: Any, rules: EncryptionRules, key: bytes, path: str) -> str: ...


def _pop_block(doc: Any, path: str, kind: str) -> object:
    if not isinstance(doc, MutableMapping) or SOPS_KEY not in doc:
        raise SopsError(path, f"sops metadata not found: the {kind} file has no top-level 'sops'")
    return doc.pop(SOPS_KEY)


def _plain_mapping(doc: Any, path: str, kind: str) -> Any:
    if not isinstance(doc, Mapping):
        raise SopsError(path, f"the {kind} document is not a mapping at the top")
    if SOPS_KEY in doc:
        raise SopsError(path, "the file is already encrypted (it has a top-level 'sops' key)")
    return doc


class YamlDocument:
    """One YAML document, or several (``---``) sharing one sops block and one MAC."""

    def split(self, data: bytes, path: str) -> tuple[Any, object]:
        loaded = formats.load_yaml(data, path)
        if not isinstance(loaded, formats.YamlDocuments):
            return loaded, _pop_block(loaded, path, "YAML")
        blocks = [_pop_block(doc, path, f"YAML document {n}") for n, doc in enumerate(loaded, 1)]
        return loaded, blocks[0]  # sops reads the first document's; it writes the same in all

    def join(self, body: Any, block: Mapping[str, Any]) -> bytes:
        for doc in body if isinstance(body, formats.YamlDocuments) else [body]:
            doc[SOPS_KEY] = formats.yaml_block(block)
        return formats.dump_yaml(body)

    def load_plain(self, data: bytes, path: str) -> Any:
        loaded = formats.load_yaml(data, path)
        for doc in loaded if isinstance(loaded, formats.YamlDocuments) else [loaded]:
            _plain_mapping(doc, path, "YAML")
        return loaded

    def dump_plain(self, body: Any) -> bytes:
        return formats.dump_yaml(body)

    def decrypt(self, body: Any, meta: SopsMetadata, key: bytes, path: str) -> Any:
        decrypt_tree(body, meta, key, path)
        for doc in body if isinstance(body, formats.YamlDocuments) else [body]:
            comments.rewrite_comments(doc, comments.decrypter(key))
            formats.literal_multiline(doc)
        return body

    def encrypt(self, body: Any, rules: EncryptionRules, key: bytes, path: str) -> str:
        _, mac = encrypt_tree(body, rules, key, path)
        for doc in body if isinstance(body, formats.YamlDocuments) else [body]:
            comments.rewrite_comments(doc, comments.encrypter(rules, key))
        return mac


class JsonDocument:
    def split(self, data: bytes, path: str) -> tuple[Any, object]:
        doc = formats.load_json(data, path)
        return doc, _pop_block(doc, path, "JSON")

    def join(self, body: Any, block: Mapping[str, Any]) -> bytes:
        body[SOPS_KEY] = dict(block)
        return formats.dump_json(body)

    def load_plain(self, data: bytes, path: str) -> Any:
        return _plain_mapping(formats.load_json(data, path), path, "JSON")

    def dump_plain(self, body: Any) -> bytes:
        return formats.dump_json(body)

    def decrypt(self, body: Any, meta: SopsMetadata, key: bytes, path: str) -> Any:
        return decrypt_tree(body, meta, key, path)

    def encrypt(self, body: Any, rules: EncryptionRules, key: bytes, path: str) -> str:
        return encrypt_tree(body, rules, key, path)[1]


class DotenvDocument:
    """A list of entries; comments are encrypted at the top-level path like sops does."""

    def split(self, data: bytes, path: str) -> tuple[Any, object]:
        entries = formats.load_dotenv(data, path)
        prefix = formats.DOTENV_SOPS_PREFIX
        pairs = {
            e.key[len(prefix) :]: e.value
            for e in entries
            if e.key is not None and e.key.startswith(prefix)
        }
        if "mac" not in pairs:
            raise SopsError(path, "sops metadata not found: the dotenv file has no sops_mac")
        body = [e for e in entries if e.key is None or not e.key.startswith(prefix)]
        return body, formats.unflatten_block(pairs, path)

    def join(self, body: Any, block: Mapping[str, Any]) -> bytes:
        pairs = [DotenvEntry(k, v) for k, v in formats.flatten_block(block)]
        return formats.dump_dotenv([*body, *pairs])

    def load_plain(self, data: bytes, path: str) -> Any:
        entries = formats.load_dotenv(data, path)
        if any(e.key is not None and e.key.startswith(formats.DOTENV_SOPS_PREFIX) for e in entries):
            raise SopsError(path, "the file is already encrypted (it has sops_ keys)")
        return entries

    def dump_plain(self, body: Any) -> bytes:
        return formats.dump_dotenv(body)

    def _values(self, body: list[DotenvEntry], path: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for entry in body:
            if entry.key is None:
                continue
            if entry.key in values:
                raise SopsError(path, f"dotenv key {entry.key!r} appears twice")
            values[entry.key] = entry.value
        return values

    def _put_back(self, body: list[DotenvEntry], values: Mapping[str, Any]) -> None:
        for entry in body:
            if entry.key is not None:
                value = values[entry.key]
                entry.value = value if isinstance(value, str) else _scalar_text(value)

    def decrypt(self, body: Any, meta: SopsMetadata, key: bytes, path: str) -> Any:
        values = decrypt_tree(self._values(body, path), meta, key, path)
        self._put_back(body, values)
        for entry in body:
            if entry.key is None and is_encrypted_value(entry.value):
                try:
                    plain = decrypt_value(entry.value, key, additional_data(()))
                except ValueCryptoError:
                    continue  # sops too keeps a comment it cannot open
                if isinstance(plain, Comment):
                    entry.value = plain.text
        return body

    def encrypt(self, body: Any, rules: EncryptionRules, key: bytes, path: str) -> str:
        values, mac = encrypt_tree(self._values(body, path), rules, key, path)
        self._put_back(body, values)
        if should_encrypt((), rules.effective()):
            for entry in body:
                if entry.key is None and entry.value:
                    entry.value = encrypt_value(Comment(entry.value), key, additional_data(()))
        return mac


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class BinaryDocument:
    """Any bytes, stored as one ``str`` value under ``data`` in a JSON file."""

    _aad = additional_data(("data",))

    def split(self, data: bytes, path: str) -> tuple[Any, object]:
        doc = formats.load_json(data, path)
        block = _pop_block(doc, path, "binary (JSON)")
        if not isinstance(doc.get("data"), str):
            raise SopsError(path, "binary sops file has no string 'data'")
        return doc, block

    def join(self, body: Any, block: Mapping[str, Any]) -> bytes:
        return formats.dump_json({"data": body["data"], SOPS_KEY: dict(block)})

    def load_plain(self, data: bytes, path: str) -> Any:
        return {"data": data}

    def dump_plain(self, body: Any) -> bytes:
        value = body["data"]
        return value if isinstance(value, bytes) else str(value).encode()

    def decrypt(self, body: Any, meta: SopsMetadata, key: bytes, path: str) -> Any:
        rules = meta.rules.effective()
        mac = MacAccumulator(rules)
        text = body["data"]
        plain = text.encode()
        if should_encrypt(("data",), rules) and text:
            try:
                plain, _ = decrypt_raw(text, key, self._aad)
            except ValueCryptoError as exc:
                raise SopsError(path, f"value at data: {exc}") from None
        mac.add(plain, ("data",))
        verify_mac(meta, key, mac.hexdigest(), path)
        body["data"] = plain
        return body

    def encrypt(self, body: Any, rules: EncryptionRules, key: bytes, path: str) -> str:
        mac = MacAccumulator(rules.effective())
        plain: bytes = body["data"]
        mac.add(plain, ("data",))
        body["data"] = encrypt_raw(plain, "str", key, self._aad) if plain else ""
        return mac.hexdigest()


DOCUMENTS: dict[str, Document] = {
    "yaml": YamlDocument(),
    "json": JsonDocument(),
    "dotenv": DotenvDocument(),
    "binary": BinaryDocument(),
}


def document_for(fmt: Format | str, path: str) -> Document:
    try:
        return DOCUMENTS[fmt]
    except KeyError:
        raise SopsError(
            path, f"unknown format {fmt!r} (one of {', '.join(formats.FORMATS)})"
        ) from None
