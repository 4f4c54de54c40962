"""What a person reads when a request to a cluster fails: one line, what and why.

The translation is a table (HTTP answers, transport failures); then real failures made
through the real client (a closed port, an untrusted certificate, an answer cut in the
middle) check that what the HTTP library raised never reaches the sentence, and that
its raw text is kept for history.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anyio
import pytest
from anyio.abc import SocketStream

from fleet.adapters.kube.client import ClusterClient, Limits
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.adapters.kube.errors import (
    KubeError,
    from_response,
    http_reason,
    one_line,
    transport_reason,
)
from fleet.model.refs import ObjectRef
from fleet.sim import SimFleet

REF = ObjectRef("", "ConfigMap", "default", "settings")
FORBIDDEN = (
    'configmaps "settings" is forbidden: User "system:serviceaccount:fleet:fleet" cannot '
    'patch resource "configmaps" in API group "" in the namespace "default"'
)


@pytest.mark.parametrize(
    ("status", "reason", "message", "retry_after", "sentence"),
    [
        (
            401,
            "Unauthorized",
            "Unauthorized",
            None,
            "the API server rejected fleet's credentials (401 Unauthorized); "
            "check the cluster's token",
        ),
        (403, "Forbidden", FORBIDDEN, None, f"forbidden (403 Forbidden): {FORBIDDEN}"),
        (
            404,
            "NotFound",
            'namespaces "web" not found',
            None,
            'not found (404 NotFound): namespaces "web" not found',
        ),
        (
            409,
            "Conflict",
            'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas',
            None,
            'conflict (409 Conflict): Apply failed with 1 conflict: conflict with "kubectl": '
            ".spec.replicas",
        ),
        (
            422,
            "Invalid",
            'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be '
            "greater than or equal to 0",
            None,
            'rejected as invalid (422 Invalid): Deployment.apps "web" is invalid: '
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            429,
            "TooManyRequests",
            "",
            3.0,
            "the API server is throttling requests (429 TooManyRequests); retry after 3s",
        ),
        (
            500,
            "InternalError",
            'Internal error occurred: failed calling webhook "validate.example.com"',
            None,
            "the API server failed (500 InternalError): Internal error occurred: failed "
            'calling webhook "validate.example.com"',
        ),
        (
            503,
            "ServiceUnavailable",
            "",
            None,
            "the API server failed (503 ServiceUnavailable)",
        ),
        (
            400,
            "BadRequest",
            "bad\n  multi-line\nmessage",
            None,
            "400 BadRequest: bad multi-line message",
        ),
    ],
)
def test_http_answers_read_as_sentences(
    status: int, reason: str, message: str, retry_after: float | None, sentence: str
) -> None:
    assert http_reason(status, reason, message, retry_after) == sentence
    error = KubeError("prod", status, reason, message, retry_after=retry_after)
    assert str(error) == f"prod: {sentence}"
    assert "\n" not in str(error)


PAYLOAD = (
    "Response payload is not completed: <TransferEncodingError: 400, message='Not enough "
    "data for satisfy transfer length header.'>"
)


def _cert_error() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate in certificate chain"
    return error


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (aiohttp.ClientPayloadError(PAYLOAD), "the connection was cut in the middle of an answer"),
        (
            aiohttp.ServerDisconnectedError(),
            "the API server closed the connection without answering",
        ),
        (TimeoutError(), "timed out waiting for the API server"),
        (
            aiohttp.ServerTimeoutError("Timeout on reading data from socket"),
            "timed out waiting for the API server",
        ),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "connection refused"),
        (
            ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
            "the connection was reset",
        ),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "no route to the host"),
        (
            _cert_error(),
            "TLS: the API server's certificate is not trusted "
            "(self-signed certificate in certificate chain)",
        ),
        (ValueError("odd\nthing"), "ValueError: odd thing"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else "",
)
def test_transport_failures_read_as_a_few_words(error: BaseException, sentence: str) -> None:
    assert transport_reason(error) == sentence


def test_a_page_instead_of_a_status_keeps_its_words_and_its_raw_text() -> None:
    body = b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>"
    error = from_response("prod", 502, body)
    assert error.message == "502 Bad Gateway"
    assert str(error) == "prod: the API server failed (502 BadGateway): 502 Bad Gateway"
    assert "nginx" in error.raw


def test_one_line_folds_and_cuts() -> None:
    assert one_line("a\n\n b\tc") == "a b c"
    assert one_line("x" * 400, 20) == "x" * 17 + "..."


# -- real failures through the real client --------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _failure(endpoint: ClusterEndpoint) -> KubeError:
    async with await ClusterClient.connect(endpoint, limits=Limits(request_timeout=5.0)) as client:
        with pytest.raises(KubeError) as caught:
            await client.get("v1", REF)
    return caught.value


@pytest.mark.anyio
async def test_connection_refused() -> None:
    endpoint = ClusterEndpoint("edge", server=f"http://127.0.0.1:{_closed_port()}")
    error = await _failure(endpoint)
    assert str(error) == "edge: unreachable: connection refused"
    assert error.raw, "what aiohttp said is kept for history"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimFleet]:
    async with SimFleet.start(tmp_path / "sim", names=["one"], controllers=False) as fleet:
        yield fleet


@pytest.mark.anyio
async def test_an_untrusted_certificate(sim: SimFleet, tmp_path: Path) -> None:
    cluster = sim.clusters["one"]
    token = tmp_path / "token"
    token.write_text(cluster.token)
    # No CA file: the simulator's own CA is not among the system's.
    error = await _failure(ClusterEndpoint("one", server=cluster.url, token_file=token))
    assert error.unreachable
    assert error.message.startswith("TLS: the API server's certificate is not trusted"), error
    assert "Cannot connect" in error.raw or "certificate" in error.raw


@pytest.mark.anyio
async def test_an_answer_cut_in_the_middle() -> None:
    """The failure the issue quotes: a chunked answer that stops half way."""

    async def answer_half(stream: SocketStream) -> None:
        async with stream:
            await stream.receive()
            await stream.send(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b'Transfer-Encoding: chunked\r\n\r\n40\r\n{"kind": "APIResourceList"'
            )

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, answer_half)
        error = await _failure(ClusterEndpoint("edge", server=f"http://127.0.0.1:{port}"))
        tasks.cancel_scope.cancel()
    assert str(error) == "edge: unreachable: the connection was cut in the middle of an answer"
    assert "AnswerCut" in error.raw or "payload" in error.raw.lower()


def test_a_proxy_page_keeps_its_text_when_the_answer_has_headers() -> None:
    """The page's text went missing whenever headers came with it (the lean pool always
    passes them): the Retry-After lookup overwrote it."""
    page = b"<html><body><h1>502 Bad Gateway</h1>upstream reset</body></html>"
    error = from_response("edge", 502, page, {"Content-Type": "text/html"})
    assert error.message == "502 Bad Gateway upstream reset"
    assert "upstream reset" in error.raw
    assert error.retry_after is None
