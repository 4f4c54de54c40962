"""Bad input: tampering, wrong keys, malformed sops blocks and key files all name the file."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from fleet.adapters.secrets import (
    SopsError,
    decrypt_mapping,
    decrypt_text,
    encrypt_text,
    is_encrypted,
    load_identities,
)
from tests.adapters.secrets.conftest import AgeKey

SOURCE = b"stringData:\n  password: hunter2\n  user: admin\nreplicas: 3\n"


def _encrypted(key: AgeKey, **options: object) -> dict:  # type: ignore[type-arg]
    data = encrypt_text(SOURCE, "yaml", [key.recipient], path="s", **options)  # type: ignore[arg-type]
    loaded: dict = yaml.safe_load(data)  # type: ignore[type-arg]
    return loaded


def _decrypt(doc: dict, identities: list[str]) -> dict:  # type: ignore[type-arg]
    plain: dict = json.loads(  # type: ignore[type-arg]
        decrypt_text(json.dumps(doc).encode(), "json", identities, path="secret.json")
    )
    return plain


def test_a_changed_ciphertext_is_a_mac_mismatch_naming_the_file_and_key(key: AgeKey) -> None:
    doc = _encrypted(key)
    value = doc["stringData"]["password"]
    data = re.search(r"data:([^,]*),", value)
    assert data
    raw = base64.b64decode(data.group(1))
    tampered = bytes([raw[0] ^ 1]) + raw[1:]
    doc["stringData"]["password"] = value.replace(
        data.group(1), base64.b64encode(tampered).decode(), 1
    )
    with pytest.raises(
        SopsError, match=r"^secret\.json: value at stringData:password: MAC mismatch"
    ):
        _decrypt(doc, [key.identity])


def test_a_value_moved_to_another_key_does_not_open(key: AgeKey) -> None:
    doc = _encrypted(key)
    doc["stringData"]["user"] = doc["stringData"]["password"]
    with pytest.raises(SopsError, match="MAC mismatch"):
        _decrypt(doc, [key.identity])


def test_a_removed_value_fails_the_mac(key: AgeKey) -> None:
    doc = _encrypted(key)
    del doc["replicas"]
    with pytest.raises(SopsError, match="MAC mismatch: the file's values were changed"):
        _decrypt(doc, [key.identity])


def test_a_changed_unencrypted_value_fails_the_mac_unless_mac_only_encrypted(key: AgeKey) -> None:
    strict = _encrypted(key, encrypted_regex="^stringData$")
    assert strict["replicas"] == 3
    strict["replicas"] = 30
    with pytest.raises(SopsError, match="MAC mismatch"):
        _decrypt(strict, [key.identity])

    loose = _encrypted(key, encrypted_regex="^stringData$", mac_only_encrypted=True)
    assert loose["sops"]["mac_only_encrypted"] is True
    loose["replicas"] = 30
    assert _decrypt(loose, [key.identity])["replicas"] == 30
    loose["stringData"]["user"] = loose["stringData"]["password"]
    with pytest.raises(SopsError, match="MAC mismatch"):
        _decrypt(loose, [key.identity])


def test_a_tampered_mac_is_refused(key: AgeKey) -> None:
    doc = _encrypted(key)
    doc["sops"]["lastmodified"] = "2020-01-01T00:00:00Z"  # the MAC's additional data
    with pytest.raises(SopsError, match="MAC mismatch: the stored MAC cannot be opened"):
        _decrypt(doc, [key.identity])


def test_an_encrypted_value_replaced_by_plain_text_is_refused(key: AgeKey) -> None:
    doc = _encrypted(key)
    doc["stringData"]["password"] = "plain"
    with pytest.raises(SopsError, match=r"value at stringData:password: .*ENC"):
        _decrypt(doc, [key.identity])


def test_wrong_key_names_the_recipients_and_the_key_held(
    make_key: Callable[[str], AgeKey],
) -> None:
    prod, dev = make_key("prod"), make_key("dev")
    doc = _encrypted(prod)
    with pytest.raises(SopsError) as caught:
        _decrypt(doc, [dev.identity])
    message = str(caught.value)
    assert message.startswith("secret.json: no key for any recipient")
    assert prod.recipient in message
    assert dev.recipient in message
    assert prod.identity not in message
    assert dev.identity not in message


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: s.pop("mac"), "malformed sops block: 'mac' is missing"),
        (lambda s: s.pop("lastmodified"), "'lastmodified' is missing"),
        (lambda s: s.update(age="x"), "'age' is not a list"),
        (lambda s: s.update(age=[{"recipient": "age1x"}]), "'enc' is missing"),
        (lambda s: s.update(age=[]), "no age recipient in the sops block"),
        (lambda s: s.update(age=[], kms=[{"arn": "arn:x"}]), r"key types: kms"),
        (lambda s: s.update(age=[], pgp=[{"fp": "AB", "enc": "x"}]), r"key types: pgp"),
        (lambda s: s.update(pgp=[{"fp": "AB"}]), r"'enc' is missing"),
        (lambda s: s.update(encrypted_regex="^a$"), "only one of"),
        (lambda s: s.update(mac="garbage"), "MAC mismatch"),
        (lambda s: s.update(key_groups=[{}, {}]), "Shamir"),
        (lambda s: s.update(encrypted_comment_regex="x"), "does not support"),
    ],
)
def test_malformed_sops_blocks(
    key: AgeKey,
    change: Callable[[dict], object],
    problem: str,  # type: ignore[type-arg]
) -> None:
    doc = _encrypted(key)
    change(doc["sops"])
    with pytest.raises(SopsError, match=problem) as caught:
        _decrypt(doc, [key.identity])
    assert str(caught.value).startswith("secret.json: ")


def test_a_sops_block_that_is_not_a_mapping(key: AgeKey) -> None:
    with pytest.raises(SopsError, match="'sops' is not a mapping"):
        decrypt_text(b"a: b\nsops: 3\n", "yaml", [key.identity], path="x.yaml")
    with pytest.raises(SopsError, match="sops metadata not found"):
        decrypt_text(b"a: b\n", "yaml", [key.identity], path="x.yaml")
    with pytest.raises(SopsError, match=r"x\.yaml: invalid YAML"):
        decrypt_text(b"a: [\n", "yaml", [key.identity], path="x.yaml")


def test_is_encrypted() -> None:
    assert is_encrypted({"a": 1, "sops": {"mac": "ENC[...]"}})
    assert is_encrypted({"a": 1, "sops": {"lastmodified": "x", "age": []}})  # damaged: fails
    assert not is_encrypted({"a": 1, "sops": {"enabled": True}})  # an app's own "sops" key
    assert not is_encrypted({"a": 1, "sops": "yes"})
    assert not is_encrypted({"a": 1})
    assert not is_encrypted(["sops"])


def test_decrypt_mapping_of_a_rendered_manifest_without_comments(key: AgeKey) -> None:
    source = b"# header\nkind: Secret\nstringData:\n  # the password\n  password: pw # eol\n"
    encrypted = encrypt_text(source, "yaml", [key.recipient], path="s.yaml")
    rendered = yaml.safe_load(encrypted)  # what a renderer hands over: no comments
    plain = decrypt_mapping(rendered, [key.identity], path="app/Secret/db")
    assert plain == {"kind": "Secret", "stringData": {"password": "pw"}}


def test_key_files(tmp_path: Path, key: AgeKey) -> None:
    assert load_identities([key.key_file]) == [key.identity]

    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n\n")
    with pytest.raises(SopsError, match=rf"^{empty}: age key file holds no"):
        load_identities([empty])

    missing = tmp_path / "missing.txt"
    with pytest.raises(SopsError, match=rf"^{missing}: cannot read age key file"):
        load_identities([missing])

    garbage = tmp_path / "garbage.txt"
    garbage.write_text("# fine\nnot a key\n")
    with pytest.raises(SopsError, match=rf"^{garbage}:2: line is not an age identity"):
        load_identities([garbage])

    broken = tmp_path / "broken.txt"
    broken.write_text(key.identity[:-3] + "AAA\n")
    with pytest.raises(SopsError, match="malformed age identity"):
        load_identities([broken])


def test_unreadable_key_file(tmp_path: Path) -> None:
    """A directory stands in for an unreadable file (permissions do not stop root)."""
    with pytest.raises(SopsError, match=rf"^{tmp_path}: cannot read age key file: Is a directory"):
        load_identities([tmp_path])
    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SopsError, match=rf"^{binary}: cannot read age key file"):
        load_identities([binary])


@pytest.mark.parametrize(
    ("source", "fmt", "problem"),
    [
        (b"a: &x 1\nb: *x\n", "yaml", r"^f:2: YAML aliases \(\*name\) are not supported"),
        (b"base: {c: 1}\nx:\n  <<: {c: 1}\n", "yaml", r"^f: YAML merge keys \(<<\)"),
        (b'{"a": 1, "a": 2}', "json", r"^f: JSON object has the key 'a' twice"),
        (
            b"a: 1\na: 2\n",
            "yaml",
            r"^f: invalid YAML at line 2, column 1: found duplicate key \"a\"$",
        ),
        (b"1: x\n", "yaml", r"^f: key 1 under the top is not a string"),
        (b"- a\n", "yaml", r"^f: the YAML document is not a mapping"),
        (
            b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
            "yaml",
            r"^f: the document nests \[ and \{ deeper than 64 levels",
        ),
        (b"a: [\n", "yaml", r"^f: invalid YAML at line 2, column 1: "),
        (b"\xff\xfe", "yaml", r"^f: YAML file is not UTF-8"),
        (b"NOEQUALS\n", "dotenv", r"^f:1: dotenv line has no '='"),
        (b"sops: {}\n", "yaml", r"^f: the file is already encrypted"),
    ],
)
def test_hostile_plain_input_is_refused_with_the_file_named(
    key: AgeKey, source: bytes, fmt: str, problem: str
) -> None:
    with pytest.raises(SopsError, match=problem):
        encrypt_text(source, fmt, [key.recipient], path="f")  # type: ignore[arg-type]


def test_timestamps_are_kept_as_the_text_they_were_written_as(key: AgeKey) -> None:
    source = b"when: 2001-12-14 21:59:43.10 -5\nday_unencrypted: 2001-01-01\n"
    encrypted = encrypt_text(source, "yaml", [key.recipient], path="f")
    plain = yaml.safe_load(decrypt_text(encrypted, "yaml", [key.identity], path="f"))
    assert plain == {"when": "2001-12-14 21:59:43.10 -5", "day_unencrypted": "2001-01-01"}
