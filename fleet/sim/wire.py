"""Request bodies in, JSON responses out: the encoding rules of the API server.

Bodies are limited to 3 MiB (the real server's limit, answered with 413), decoded from
JSON or YAML by ``Content-Type`` (whole objects also from Kubernetes protobuf, see
:mod:`fleet.sim.protobuf`; anything else is 415), and must hold one JSON object.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

from fleet.sim import errors, protobuf
from fleet.sim.store import dumps, loads

MAX_BODY = 3 * 1024 * 1024

JSON = "application/json"
YAML = "application/yaml"
APPLY_YAML = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"

_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


async def read_body(request: web.Request) -> bytes:
    """The raw body, refusing more than 3 MiB without reading it all."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.too_large()
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            raise errors.too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(request: web.Request) -> str:
    return request.content_type.lower() if request.headers.get("Content-Type") else JSON


def decode(raw: bytes, content_type: str) -> Any:
    """Parse a JSON or YAML body; malformed input is 400 BadRequest."""
    if not raw.strip():
        raise errors.bad_request("request body is empty")
    if content_type.endswith("json"):
        try:
            return loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise errors.bad_request(
                f"couldn't get version/kind; json parse error: {error}"
            ) from None
    if content_type.endswith("yaml"):
        if raw.lstrip()[:1] in (b"{", b"["):
            try:  # JSON is YAML, and kubectl and most clients send it: parse it fast
                return loads(raw)
            except ValueError:
                pass
        try:
            return yaml.load(raw, Loader=_YAML_LOADER)
        except yaml.YAMLError as error:
            raise errors.bad_request(
                f"error converting YAML to JSON: {error}".replace("\n", " ")
            ) from None
    raise errors.unsupported_media_type(content_type)


def decode_object(raw: bytes, content_type: str) -> dict[str, Any]:
    if protobuf.is_protobuf(content_type):
        return protobuf.decode_envelope(raw)
    if content_type not in (JSON, YAML):
        raise errors.unsupported_media_type(content_type)
    body = decode(raw, content_type)
    if not isinstance(body, dict):
        raise errors.bad_request("the body of the request was not a JSON object")
    return body


def respond(
    status: int, body: Any, content_type: str = JSON, warnings: list[str] | None = None
) -> web.Response:
    """A JSON answer; ``warnings`` become ``Warning: 299 - "..."`` headers, as the API
    server sends them (kubectl prints them)."""
    data = body if isinstance(body, bytes) else dumps(body)
    response = web.Response(status=status, body=data, headers={"Content-Type": content_type})
    for warning in warnings or ():
        response.headers.add("Warning", "299 - " + json.dumps(warning))
    return response


def error_response(error: errors.ApiError) -> web.Response:
    response = respond(error.code, error.status())
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def parse_bool(value: str | None) -> bool:
    """Go's strconv.ParseBool, which the API server uses for query flags."""
    if value is None:
        return False
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False", ""):
        return False
    raise errors.bad_request(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def list_bytes(
    kind: str,
    api_version: str,
    rv: int,
    items: list[bytes],
    continue_token: str = "",
    remaining: int | None = None,
) -> bytes:
    """A ``...List`` body assembled from stored object bytes without decoding them."""
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if continue_token:
        meta["continue"] = continue_token
    if remaining is not None:
        meta["remainingItemCount"] = remaining
    head = dumps({"kind": kind, "apiVersion": api_version, "metadata": meta})
    return head[:-1] + b',"items":[' + b",".join(items) + b"]}"
