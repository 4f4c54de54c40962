"""Rotating the data key and changing recipients keep the values; editing keeps the key."""

from __future__ import annotations

from collections.abc import Callable

import pyrage
import pytest
import yaml

from fleet.adapters.secrets import (
    SopsError,
    decrypt_text,
    encrypt_text,
    recipients_of,
    rotate_text,
    update_keys_text,
)
from fleet.adapters.secrets.sops.api import open_for_edit, reseal
from tests.adapters.secrets.conftest import AgeKey

SOURCE = b"# note\nkind: Secret\nstringData:\n  password: pw\n  count: 7\n"


def _data_key(encrypted: bytes, key: AgeKey) -> bytes:
    enc = yaml.safe_load(encrypted)["sops"]["age"][0]["enc"]
    plain: bytes = pyrage.decrypt(enc.encode(), [pyrage.x25519.Identity.from_str(key.identity)])
    return plain


def test_rotate_changes_the_data_key_not_the_values_nor_the_rule(key: AgeKey) -> None:
    before = encrypt_text(SOURCE, "yaml", [key.recipient], path="s", encrypted_regex="^stringData$")
    after = rotate_text(before, "yaml", [key.identity], path="s")
    assert _data_key(after, key) != _data_key(before, key)
    assert yaml.safe_load(after)["sops"]["encrypted_regex"] == "^stringData$"
    assert recipients_of(after, "yaml", path="s") == [key.recipient]
    assert decrypt_text(after, "yaml", [key.identity], path="s") == decrypt_text(
        before, "yaml", [key.identity], path="s"
    )


def test_updatekeys_reseals_the_same_data_key_for_new_recipients(
    make_key: Callable[[str], AgeKey],
) -> None:
    old, new = make_key("old"), make_key("new")
    before = encrypt_text(SOURCE, "yaml", [old.recipient], path="s")
    after = update_keys_text(before, "yaml", [old.identity], [new.recipient], path="s")
    assert recipients_of(after, "yaml", path="s") == [new.recipient]
    assert _data_key(after, new) == _data_key(before, old)
    assert yaml.safe_load(after)["stringData"] == yaml.safe_load(before)["stringData"]
    assert yaml.safe_load(decrypt_text(after, "yaml", [new.identity], path="s")) == (
        yaml.safe_load(SOURCE)
    )
    with pytest.raises(SopsError, match="no key for any recipient"):
        decrypt_text(after, "yaml", [old.identity], path="s")


def test_updatekeys_refuses_a_tampered_file(make_key: Callable[[str], AgeKey]) -> None:
    old, new = make_key("old"), make_key("new")
    doc = yaml.safe_load(encrypt_text(SOURCE, "yaml", [old.recipient], path="s"))
    doc["stringData"]["count"] = doc["stringData"]["password"]
    with pytest.raises(SopsError, match="MAC mismatch"):
        update_keys_text(
            yaml.safe_dump(doc).encode(), "yaml", [old.identity], [new.recipient], path="s"
        )


def test_reseal_after_edit_keeps_data_key_and_recipients(key: AgeKey) -> None:
    before = encrypt_text(SOURCE, "yaml", [key.recipient], path="s")
    plain, opened = open_for_edit(before, "yaml", [key.identity], path="s")
    assert b"password: pw" in plain
    after = reseal(plain.replace(b"pw", b"new-pw"), opened)
    assert _data_key(after, key) == _data_key(before, key)
    assert yaml.safe_load(after)["sops"]["age"] == yaml.safe_load(before)["sops"]["age"]
    decrypted = decrypt_text(after, "yaml", [key.identity], path="s")
    assert yaml.safe_load(decrypted)["stringData"]["password"] == "new-pw"
    assert decrypted.startswith(b"# note\n")


def test_edit_keeps_the_ciphertext_of_unchanged_values(key: AgeKey) -> None:
    """Like ``sops edit``: the Git diff of an edit shows only the values that changed."""
    source = b"a: one\nb: two\nnested:\n  c: 3\n"
    before = yaml.safe_load(encrypt_text(source, "yaml", [key.recipient], path="s"))
    plain, opened = open_for_edit(yaml.safe_dump(before).encode(), "yaml", [key.identity], path="s")
    after = yaml.safe_load(reseal(plain.replace(b"two", b"TWO"), opened))
    assert after["a"] == before["a"]
    assert after["nested"] == before["nested"]
    assert after["b"] != before["b"]
    # A fresh encryption of the same text draws new IVs for everything.
    fresh = yaml.safe_load(encrypt_text(source, "yaml", [key.recipient], path="s"))
    assert fresh["a"] != before["a"]


def test_multi_document_yaml_shares_one_mac(key: AgeKey) -> None:
    source = b"kind: Secret\nstringData:\n  a: x\n---\nkind: Secret\nstringData:\n  b: y\n"
    encrypted = encrypt_text(source, "yaml", [key.recipient], path="s.yaml")
    docs = list(yaml.safe_load_all(encrypted))
    assert len(docs) == 2
    assert docs[0]["sops"] == docs[1]["sops"]
    plain = decrypt_text(encrypted, "yaml", [key.identity], path="s.yaml")
    assert list(yaml.safe_load_all(plain)) == list(yaml.safe_load_all(source))
    # The MAC spans both documents: one of them alone does not verify.
    from fleet.adapters.secrets import decrypt_mapping

    with pytest.raises(SopsError, match="MAC mismatch"):
        decrypt_mapping(docs[1], [key.identity], path="s.yaml")
