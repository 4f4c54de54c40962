"""The pure SOPS rules: which values are encrypted, the bytes the MAC covers."""

from __future__ import annotations

import hashlib

import pytest

from fleet.engine.sopstree import (
    EncryptionRules,
    MacAccumulator,
    additional_data,
    format_float,
    should_encrypt,
    value_bytes,
    walk_leaves,
)

DEFAULT = EncryptionRules().effective()


@pytest.mark.parametrize(
    ("path", "rules", "expected"),
    [
        (("password",), DEFAULT, True),
        (("user_unencrypted",), DEFAULT, False),
        (("block_unencrypted", "inner"), DEFAULT, False),
        (("stringData", "password"), EncryptionRules(encrypted_regex="^(data|stringData)$"), True),
        (("metadata", "name"), EncryptionRules(encrypted_regex="^(data|stringData)$"), False),
        ((), EncryptionRules(encrypted_regex="^data$"), False),
        (("password_enc",), EncryptionRules(encrypted_suffix="_enc"), True),
        (("password",), EncryptionRules(encrypted_suffix="_enc"), False),
        (("a_enc", "b"), EncryptionRules(encrypted_suffix="_enc"), True),
        (("public",), EncryptionRules(unencrypted_regex="^pub"), False),
        (("private",), EncryptionRules(unencrypted_regex="^pub"), True),
        (("x_plain",), EncryptionRules(unencrypted_suffix="_plain"), False),
        (("x_unencrypted",), EncryptionRules(unencrypted_suffix="_plain"), True),
    ],
)
def test_should_encrypt(path: tuple[str, ...], rules: EncryptionRules, expected: bool) -> None:
    assert should_encrypt(path, rules.effective()) is expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (1.5, "1.5"),
        (1234.56789, "1234.56789"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "0.00000015"),
        (-2.25, "-2.25"),
        (0.1, "0.1"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_floats_are_written_like_go(value: float, text: str) -> None:
    assert format_float(value) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, b"True"),
        (False, b"False"),
        (42, b"42"),
        (-7, b"-7"),
        ("héllo", "héllo".encode()),
        (b"\x00\xff", b"\x00\xff"),
        (2.5, b"2.5"),
    ],
)
def test_value_bytes(value: object, expected: bytes) -> None:
    assert value_bytes(value) == expected


def test_additional_data_joins_the_path_with_a_trailing_colon() -> None:
    assert additional_data(("a", "b")) == b"a:b:"
    assert additional_data(()) == b":"


def test_rules_allow_only_one_selector() -> None:
    both = EncryptionRules(encrypted_regex="x", unencrypted_suffix="_u")
    assert both.problem() == "only one of unencrypted_suffix, encrypted_regex may be set"
    assert EncryptionRules(encrypted_regex="(").problem() is not None
    assert EncryptionRules(encrypted_regex="^data$").problem() is None


def test_walk_visits_scalars_in_order_sequences_share_the_parent_path() -> None:
    seen: list[tuple[object, tuple[str, ...]]] = []
    doc = {"a": 1, "list": ["x", {"k": True}], "n": None, "b": {"c": "d"}}

    def visit(value: object, path: tuple[str, ...]) -> object:
        seen.append((value, path))
        return f"<{value}>"

    walk_leaves(doc, visit)
    assert seen == [
        (1, ("a",)),
        ("x", ("list",)),
        (True, ("list", "k")),
        ("d", ("b", "c")),
    ]
    assert doc == {"a": "<1>", "list": ["<x>", {"k": "<True>"}], "n": None, "b": {"c": "<d>"}}


def test_mac_is_sha512_of_values_and_mac_only_encrypted_changes_it() -> None:
    full = MacAccumulator(EncryptionRules())
    for value, path in (("s", ("a",)), (1, ("b",)), ("p", ("c_unencrypted",))):
        full.add(value, (*path,))
    assert full.hexdigest() == hashlib.sha512(b"s1p").hexdigest().upper()

    only = MacAccumulator(EncryptionRules(mac_only_encrypted=True))
    for value, path in (("s", ("a",)), (1, ("b",)), ("p", ("c_unencrypted",))):
        only.add(value, path)
    expected = hashlib.sha512(hashlib.sha256(b"sops").digest() + b"s1").hexdigest().upper()
    assert only.hexdigest() == expected


def test_a_parsed_date_counts_as_its_iso_text_other_types_are_refused() -> None:
    import datetime as dt

    assert value_bytes(dt.date(2001, 1, 2)) == b"2001-01-02"
    with pytest.raises(TypeError, match="quote timestamps"):
        value_bytes(dt.datetime(2001, 1, 2, 3, 4, 5))
    with pytest.raises(TypeError, match="type object is not supported"):
        value_bytes(object())
