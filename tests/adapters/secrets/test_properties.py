"""Any document round-trips: random trees of every value type, in JSON and YAML."""

from __future__ import annotations

import json
import string
from typing import Any

import pyrage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from fleet.adapters.secrets import decrypt_text, encrypt_text

IDENTITY = pyrage.x25519.Identity.generate()
RECIPIENT = str(IDENTITY.to_public())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)


def trees(keys: st.SearchStrategy[str], leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.dictionaries(
        keys,
        st.recursive(
            leaves,
            lambda children: st.one_of(
                st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
            ),
            max_leaves=12,
        ),
        max_size=6,
    ).filter(lambda doc: "sops" not in doc)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(st.text(max_size=12), scalars))
def test_json_documents_round_trip(doc: dict[str, Any]) -> None:
    source = json.dumps(doc).encode()
    encrypted = encrypt_text(source, "json", [RECIPIENT], path="p.json")
    plain = decrypt_text(encrypted, "json", [str(IDENTITY)], path="p.json")
    assert json.loads(plain) == doc
    assert list(json.loads(plain)) == list(doc)


yaml_text = st.text(alphabet=string.ascii_letters + string.digits + " _-.:#'\"/\n", max_size=20)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    trees(
        st.text(alphabet=string.ascii_letters + string.digits + "_-.", min_size=1, max_size=10),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.floats(allow_nan=False, allow_infinity=False),
            yaml_text,
        ),
    )
)
def test_yaml_documents_round_trip(doc: dict[str, Any]) -> None:
    # JSON is YAML 1.2 (what sops and ruamel read); PyYAML would write 1.1 (0E0 unquoted).
    source = json.dumps(doc, indent=2).encode()
    encrypted = encrypt_text(source, "yaml", [RECIPIENT], path="p.yaml")
    plain = decrypt_text(encrypted, "yaml", [str(IDENTITY)], path="p.yaml")
    assert YAML(typ="safe").load(plain) == doc
