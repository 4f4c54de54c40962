"""The client's JSON: the same bodies and objects as kubernetes_asyncio's json path."""

from __future__ import annotations

import datetime
import json
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes_asyncio.client import ApiClient

from fleet.adapters.kube.wire import decode, encode


class _Library:
    """ApiClient's own ``sanitize_for_serialization``, without a session to build."""

    PRIMITIVE_TYPES = ApiClient.PRIMITIVE_TYPES
    sanitize_for_serialization = ApiClient.sanitize_for_serialization


def library_body(body: Any) -> bytes:
    """What ``RESTClientObject.request`` sends after ``ApiClient.__call_api``."""
    return json.dumps(_Library().sanitize_for_serialization(body)).encode()


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {
        "replicas": 3,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.27",
                        "env": [{"name": "GREETING", "value": "grüß dich ✓"}],
                        "resources": {"limits": {"cpu": 0.5, "memory": "64Mi"}},
                    }
                ]
            }
        },
    },
}

BODIES = [
    DEPLOYMENT,
    {"data": {"empty": "", "quote": 'a "b" \\ c\n', "control": "\x00\x1f"}},
    {"float": 1.5, "negative zero": -0.0, "big": 10**30, "int64": 2**63 - 1},
    {"tuple": (1, "two", None), "bools": [True, False]},
    {"date": datetime.date(2024, 2, 29)},
    {"time": datetime.datetime(2024, 2, 29, 12, 30, 1, 5)},
    {"aware": datetime.datetime(2024, 2, 29, 12, 30, tzinfo=datetime.UTC)},
    {1: "integer key", "unicode \u2603": "\U0001f600"},
    {"surrogate": "\ud800"},
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_a_body_reads_back_as_the_library_would_have_sent_it(body: Any) -> None:
    assert json.loads(encode(body)) == json.loads(library_body(body))


def test_a_read_only_mapping_is_sent_as_the_dict_it_holds() -> None:
    # The library takes any non-dict for a generated model and fails on it; a plain
    # mapping is what fleet means, so it goes as its dict.
    inner = {"a": [1, {"b": 2}]}
    assert json.loads(encode({"m": MappingProxyType(inner)})) == {"m": inner}


def test_what_cannot_be_encoded_is_refused_as_before() -> None:
    with pytest.raises(TypeError):
        encode({"set": {1, 2}})


ANSWERS = [
    b'{"kind":"Status","code":409}',
    b'{"a": [1, 2.5, -0.0, true, null, "\\u00e9\\ud83d\\ude00"]}',
    b'{"unsigned": 18446744073709551615, "negative": -9223372036854775808}',
    b'{"nan": NaN, "inf": Infinity}',
    b'{"lone": "\\ud800"}',
    b'{"dup": 1, "dup": 2}',
    '{"text": "caf\u00e9"}'.encode(),
]


@pytest.mark.parametrize("raw", ANSWERS, ids=range(len(ANSWERS)))
def test_an_answer_reads_as_json_loads_reads_it(raw: bytes) -> None:
    ours, theirs = decode(raw), json.loads(raw)
    assert repr(ours) == repr(theirs)  # repr: NaN != NaN, and 1 == 1.0


def test_an_integer_past_64_bits_reads_as_its_float() -> None:
    # No API server writes one (it decodes numbers into int64 or float64); were one
    # sent, it reads as the number the server itself would have kept.
    assert decode(b"[123456789012345678901234567890]") == [1.2345678901234568e29]


def test_a_broken_answer_is_a_value_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        decode(b'{"cut": ')


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(_DOCUMENTS)
def test_any_object_goes_through_encode_and_decode_unchanged(document: Any) -> None:
    assert repr(decode(encode(document))) == repr(json.loads(library_body(document)))
