"""fleet's SOPS files: every format and value type round-trips; rules pick what is
encrypted; the output follows the format (checked by hand, without fleet's decryptor)."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pyrage
import pytest
import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fleet.adapters.secrets import decrypt_text, encrypt_text, is_encrypted
from tests.adapters.secrets.conftest import AgeKey

YAML_PLAIN = b"""\
# Database credentials
apiVersion: v1
kind: Secret
metadata:
  name: db  # the name
stringData:
  password: hunter2
  port: 5432
  ratio: 0.25
  big: 1e+20
  enabled: true
  disabled: false
  nothing:
  empty: ''
  user_unencrypted: admin
  multi: |
    line one
    line two
  list:
  - first
  - 2
  - nested: yes
zeta: last
"""


def _values(doc: object) -> object:
    return yaml.safe_load(doc) if isinstance(doc, bytes) else doc


def test_yaml_round_trip_keeps_values_types_order_and_comments(key: AgeKey) -> None:
    encrypted = encrypt_text(YAML_PLAIN, "yaml", [key.recipient], path="db.yaml")
    text = encrypted.decode()
    for secret in ("hunter2", "5432", "0.25", "line one", "Database credentials", "the name"):
        assert secret not in text
    assert "user_unencrypted: admin" in text  # the default rule
    assert "empty: ''" in text
    for tag in ("str", "int", "float", "bool", "comment"):
        assert f"type:{tag}]" in text
    assert is_encrypted(yaml.safe_load(encrypted))

    plain = decrypt_text(encrypted, "yaml", [key.identity], path="db.yaml")
    assert _values(plain) == _values(YAML_PLAIN)
    assert list(yaml.safe_load(plain)) == ["apiVersion", "kind", "metadata", "stringData", "zeta"]
    assert list(yaml.safe_load(plain)["stringData"]) == list(
        yaml.safe_load(YAML_PLAIN)["stringData"]
    )
    assert plain.startswith(b"# Database credentials\n")
    assert b"name: db # the name\n" in plain


def test_json_round_trip_keeps_types_and_order(key: AgeKey) -> None:
    source = {"b": "two", "a": 1, "f": 2.5, "t": True, "n": None, "l": [1, "x"], "o": {"z": 0}}
    encrypted = encrypt_text(json.dumps(source).encode(), "json", [key.recipient], path="s.json")
    parsed = json.loads(encrypted)
    assert list(parsed) == ["b", "a", "f", "t", "n", "l", "o", "sops"]
    assert parsed["n"] is None
    assert parsed["a"].endswith("type:int]")
    plain = json.loads(decrypt_text(encrypted, "json", [key.identity], path="s.json"))
    assert plain == source
    assert list(plain) == list(source)


def test_dotenv_round_trip_with_comments_and_newlines(key: AgeKey) -> None:
    source = b"# the database\nDB_PASSWORD=s3cr3t\nMULTI=a\\nb\nEMPTY=\nTOKEN_unencrypted=visible\n"
    encrypted = encrypt_text(source, "dotenv", [key.recipient], path="db.env")
    text = encrypted.decode()
    assert "s3cr3t" not in text
    assert "the database" not in text
    assert "TOKEN_unencrypted=visible" in text
    assert re.search(r"^sops_age__list_0__map_recipient=age1", text, re.M)
    assert re.search(r"^sops_mac=ENC\[", text, re.M)
    assert decrypt_text(encrypted, "dotenv", [key.identity], path="db.env") == source


def test_binary_round_trip_of_arbitrary_bytes(key: AgeKey) -> None:
    source = bytes(range(256)) * 3
    encrypted = encrypt_text(source, "binary", [key.recipient], path="blob.bin")
    assert set(json.loads(encrypted)) == {"data", "sops"}
    assert decrypt_text(encrypted, "binary", [key.identity], path="blob.bin") == source


def test_any_of_several_recipients_decrypts(make_key) -> None:  # type: ignore[no-untyped-def]
    first, second = make_key("first"), make_key("second")
    encrypted = encrypt_text(b"a: b\n", "yaml", [first.recipient, second.recipient], path="x")
    for identity in (first.identity, second.identity):
        assert yaml.safe_load(decrypt_text(encrypted, "yaml", [identity], path="x")) == {"a": "b"}


@pytest.mark.parametrize(
    ("options", "encrypted_keys", "plain_keys"),
    [
        ({"encrypted_regex": "^(data|stringData)$"}, {"password"}, {"name", "kind"}),
        ({"encrypted_suffix": "_secret"}, {"token_secret"}, {"password", "name", "kind"}),
        ({"unencrypted_suffix": "_public"}, {"password", "name", "kind"}, {"id_public"}),
        ({"unencrypted_regex": "^(kind|name)$"}, {"password"}, {"name", "kind"}),
    ],
)
def test_rules_choose_which_values_are_encrypted(
    key: AgeKey, options: dict[str, str], encrypted_keys: set[str], plain_keys: set[str]
) -> None:
    source = (
        b"kind: Secret\nmetadata:\n  name: db\nstringData:\n  password: pw\n"
        b"token_secret: tk\nid_public: pub\n"
    )
    encrypted = encrypt_text(source, "yaml", [key.recipient], path="s.yaml", **options)  # type: ignore[arg-type]
    doc = yaml.safe_load(encrypted)
    flat = {
        "kind": doc["kind"],
        "name": doc["metadata"]["name"],
        "password": doc["stringData"]["password"],
        "token_secret": doc["token_secret"],
        "id_public": doc["id_public"],
    }
    for name in encrypted_keys:
        assert str(flat[name]).startswith("ENC[AES256_GCM"), name
    for name in plain_keys:
        assert not str(flat[name]).startswith("ENC["), name
    ((option, value),) = options.items()
    assert doc["sops"][option] == value
    assert yaml.safe_load(decrypt_text(encrypted, "yaml", [key.identity], path="s")) == (
        yaml.safe_load(source)
    )


def test_only_one_rule_may_be_given(key: AgeKey) -> None:
    from fleet.adapters.secrets import SopsError

    with pytest.raises(SopsError, match="only one of"):
        encrypt_text(
            b"a: b\n",
            "yaml",
            [key.recipient],
            path="s.yaml",
            encrypted_regex="^a$",
            unencrypted_suffix="_u",
        )


def test_output_follows_the_sops_format_checked_by_hand(key: AgeKey) -> None:
    """Decrypt fleet's output with AES-GCM, age and SHA-512 directly, as sops would."""
    encrypted = encrypt_text(
        b"outer:\n  inner: hello\ncount: 3\nflag: false\n", "yaml", [key.recipient], path="s"
    )
    doc = yaml.safe_load(encrypted)
    sops = doc["sops"]
    assert sops["version"]
    assert sops["unencrypted_suffix"] == "_unencrypted"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", sops["lastmodified"])
    enc = sops["age"][0]["enc"]
    assert enc.startswith("-----BEGIN AGE ENCRYPTED FILE-----")
    data_key = pyrage.decrypt(enc.encode(), [pyrage.x25519.Identity.from_str(key.identity)])
    assert len(data_key) == 32

    def open_value(text: str, aad: bytes) -> tuple[bytes, str]:
        match = re.fullmatch(r"ENC\[AES256_GCM,data:(.*),iv:(.*),tag:(.*),type:(.*)\]", text)
        assert match
        data, iv, tag = (base64.b64decode(match.group(i)) for i in (1, 2, 3))
        assert len(iv) == 32
        assert len(tag) == 16
        return AESGCM(data_key).decrypt(iv, data + tag, aad), match.group(4)

    assert open_value(doc["outer"]["inner"], b"outer:inner:") == (b"hello", "str")
    assert open_value(doc["count"], b"count:") == (b"3", "int")
    assert open_value(doc["flag"], b"flag:") == (b"False", "bool")
    mac, mac_type = open_value(sops["mac"], sops["lastmodified"].encode())
    assert mac_type == "str"
    assert mac.decode() == hashlib.sha512(b"hello3False").hexdigest().upper()


def test_comments_are_encrypted_under_the_path_sops_files_them_under(key: AgeKey) -> None:
    """sops files a comment under the mapping (or list) it sits in: top-level comments get
    ``:`` as additional data, the one above a nested mapping's first key ``b:``."""
    source = b"# top\na: 1 # eol a\n# before b\nb:\n  # inner first\n  c: 2\nl:\n- x # in list\n"
    encrypted = encrypt_text(source, "yaml", [key.recipient], path="s")
    doc = yaml.safe_load(encrypted)
    data_key = pyrage.decrypt(
        doc["sops"]["age"][0]["enc"].encode(), [pyrage.x25519.Identity.from_str(key.identity)]
    )
    opened: dict[str, bytes] = {}
    for match in re.finditer(
        r"#ENC\[AES256_GCM,data:(.*?),iv:(.*?),tag:(.*?),type:comment\]", encrypted.decode()
    ):
        data, iv, tag = (base64.b64decode(match.group(i)) for i in (1, 2, 3))
        for aad in (b":", b"b:", b"l:"):
            try:
                text = AESGCM(data_key).decrypt(iv, data + tag, aad).decode()
            except InvalidTag:  # the wrong additional data does not open it
                continue
            opened[text] = aad
    assert opened == {
        " top": b":",
        " eol a": b":",
        " before b": b":",
        " inner first": b"b:",
        " in list": b"l:",
    }
