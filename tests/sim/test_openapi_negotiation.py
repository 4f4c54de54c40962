"""``/openapi/v2`` and ``/openapi/v3``: which form each ``Accept`` gets, and the v2
protobuf read back field by field (gnostic's numbers) against the JSON form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleet.sim import openapi_proto
from fleet.sim.openapi_proto import JSON, V2_PROTOBUF, V2_PROTOBUF_ASKED, negotiate
from tests.sim.conftest import Sim

pytestmark = pytest.mark.anyio


async def fetch(sim: Sim, path: str, accept: str) -> tuple[int, str, bytes]:
    response = await sim.api.rest_client.pool_manager.get(
        sim.cluster.url + path,
        headers={"Accept": accept, "Authorization": f"Bearer {sim.cluster.token}"},
    )
    async with response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """A protobuf message as (field number, value): varints as int, the rest as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.append((number, varint()))
        elif wire == 2:
            size = varint()
            out.append((number, data[pos : pos + size]))
            pos += size
        elif wire == 1:
            out.append((number, data[pos : pos + 8]))
            pos += 8
        else:
            raise AssertionError(f"unexpected wire type {wire}")
    return out


def one(message: bytes, number: int) -> bytes:
    values = [v for n, v in fields(message) if n == number]
    assert len(values) == 1, (number, values)
    assert isinstance(values[0], bytes), (number, values)
    return values[0]


def many(message: bytes, number: int) -> list[bytes]:
    return [v for n, v in fields(message) if n == number and isinstance(v, bytes)]


def named(message: bytes, number: int) -> dict[str, bytes]:
    """``repeated Named...`` (name 1, value 2) entries as a dict."""
    return {one(entry, 1).decode(): one(entry, 2) for entry in many(message, number)}


async def test_v2_protobuf_carries_what_the_json_form_says(sim: Sim) -> None:
    status, media, body = await fetch(sim, "/openapi/v2", JSON)
    assert (status, media) == (200, JSON)
    document: dict[str, Any] = json.loads(body)
    status, media, proto = await fetch(sim, "/openapi/v2", V2_PROTOBUF_ASKED)
    assert (status, media) == (200, V2_PROTOBUF)

    assert one(proto, 1) == b"2.0"  # swagger
    paths = named(one(proto, 8), 2)  # Paths.path, NamedPathItem
    assert list(paths) == list(document["paths"])
    item = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = one(item, 8)  # PathItem.patch
    assert one(patch, 5) == b"patchDeployment"  # operation_id
    query_names = []
    for item_bytes in many(patch, 8):  # ParametersItem -> Parameter -> NonBodyParameter
        query = one(one(one(item_bytes, 1), 2), 3)  # query_parameter_sub_schema
        assert one(query, 2) == b"query"
        query_names.append(one(query, 4).decode())
    assert "fieldValidation" in query_names
    extensions = named(patch, 13)  # vendor_extension: NamedAny, value Any.yaml (2)
    gvk = json.loads(one(extensions["x-kubernetes-group-version-kind"], 2))
    assert gvk == {"group": "apps", "version": "v1", "kind": "Deployment"}

    definitions = named(one(proto, 9), 1)
    assert list(definitions) == list(document["definitions"])
    deployment = definitions["io.k8s.api.apps.v1.Deployment"]
    assert many(one(deployment, 22), 1) == [b"object"]  # TypeItem.value
    listed = json.loads(one(named(deployment, 31)["x-kubernetes-group-version-kind"], 2))
    assert listed == [{"group": "apps", "kind": "Deployment", "version": "v1"}]


@pytest.mark.parametrize(
    ("path", "accept", "status", "media"),
    [
        ("/openapi/v2", "", 200, JSON),
        ("/openapi/v2", "*/*", 200, JSON),
        ("/openapi/v2", V2_PROTOBUF, 200, V2_PROTOBUF),
        ("/openapi/v2", f"{V2_PROTOBUF_ASKED}, {JSON}", 200, V2_PROTOBUF),
        ("/openapi/v2", "application/xml", 406, JSON),
        ("/openapi/v3", "application/json, */*", 200, JSON),
        ("/openapi/v3/apis/apps/v1", openapi_proto.V3_PROTOBUF, 406, JSON),
        ("/openapi/v3/apis/apps/v1", f"{openapi_proto.V3_PROTOBUF}, {JSON};q=0.5", 200, JSON),
    ],
)
async def test_each_accept_gets_its_form_or_406(
    sim: Sim, path: str, accept: str, status: int, media: str
) -> None:
    got_status, got_media, body = await fetch(sim, path, accept)
    assert (got_status, got_media) == (status, media)
    if status == 406:
        assert json.loads(body)["reason"] == "NotAcceptable"


@pytest.mark.parametrize(
    ("accept", "offers", "chosen"),
    [
        ("", ("a/x", "a/y"), "a/x"),
        ("a/y", ("a/x", "a/y"), "a/y"),
        ("a/y;q=0.5, a/x", ("a/x", "a/y"), "a/x"),
        ("a/*", ("b/x", "a/y"), "a/y"),
        ("*/*;q=0.1, a/y", ("a/x", "a/y"), "a/y"),
        ("a/x;q=0", ("a/x",), None),
        ("c/z", ("a/x",), None),
        ("A/X", ("a/x",), "a/x"),
    ],
)
def test_negotiate(accept: str, offers: tuple[str, ...], chosen: str | None) -> None:
    assert negotiate(accept, offers) == chosen


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"$ref": "#/definitions/a"}, b"\x0a\x0f#/definitions/a"),
        ({"type": "string"}, b"\xb2\x01\x08\x0a\x06string"),
        ({"additionalProperties": False}, b"\xaa\x01\x02\x10\x00"),
        ({"x-a": True}, b"\xfa\x01\x0d\x0a\x03x-a\x12\x06\x12\x04true"),
    ],
)
def test_schema_encoding(schema: dict[str, Any], expected: bytes) -> None:
    document = {"swagger": "2.0", "definitions": {"d": schema}}
    encoded = openapi_proto.v2_document(document)
    definitions = named(one(encoded, 9), 1)
    assert definitions["d"] == expected


def test_a_key_without_a_protobuf_field_is_refused() -> None:
    with pytest.raises(ValueError, match="discriminator"):
        openapi_proto.v2_document({"definitions": {"d": {"discriminator": "kind"}}})
