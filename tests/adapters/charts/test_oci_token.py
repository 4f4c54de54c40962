"""The registry token flow (``WWW-Authenticate: Bearer realm=...``) in front of a real registry.

A small aiohttp server on loopback plays the token service and the gate: it answers
``/v2/...`` with a Bearer challenge unless the request carries the token its realm
issued (for the right basic credentials), and passes authorised requests on to a real
``docker-registry`` holding the charts. This is how Docker Hub, GHCR and Harbor ask.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from fleet.adapters.charts import ChartAuth, ChartError, ChartFetcher, ChartSpec
from tests.support.charts import Registry, package_chart, registry_missing

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(registry_missing() is not None, reason=registry_missing() or ""),
]

TOKEN = "issued-token-123"
USER, PASSWORD = "robot", "token-pass"


@pytest.fixture
async def gated(tmp_path: Path) -> AsyncIterator[tuple[str, list[str]]]:
    """(host:port of the gate, the scopes the token service was asked for)."""
    scopes: list[str] = []
    with Registry(tmp_path / "registry") as registry:
        registry.push_chart("charts/demo", "1.2.0", package_chart("demo", "1.2.0"))
        basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

        async def token(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") != basic:
                return web.Response(status=401)
            scopes.append(request.query.get("scope", ""))
            assert request.query.get("service") == "fleet-test"
            return web.json_response({"token": TOKEN})

        async def gate(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                realm = f"http://{request.host}/token"
                challenge = f'Bearer realm="{realm}",service="fleet-test"'
                return web.Response(status=401, headers={"WWW-Authenticate": challenge})
            url = f"http://{registry.host}{request.path_qs}"
            headers = {k: v for k, v in request.headers.items() if k in ("Accept",)}
            async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as up:
                body = await up.read()
                keep = ("Content-Type", "Docker-Content-Digest", "Link")
                return web.Response(
                    status=up.status,
                    body=body,
                    headers={k: v for k, v in up.headers.items() if k in keep},
                )

        app = web.Application()
        app.router.add_get("/token", token)
        app.router.add_get("/v2/{tail:.*}", gate)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"127.0.0.1:{port}", scopes
        finally:
            await runner.cleanup()


def spec(host: str, auth: ChartAuth | None = None) -> ChartSpec:
    return ChartSpec(
        source="registry",
        repository=f"oci://{host}/charts",
        chart="demo",
        version="^1",
        plain_http=True,
        auth=auth or ChartAuth(),
    )


async def test_a_bearer_challenge_is_answered_with_a_token_from_the_realm(
    gated: tuple[str, list[str]], tmp_path: Path
) -> None:
    host, scopes = gated
    (tmp_path / "user").write_text(USER)
    (tmp_path / "password").write_text(PASSWORD)
    auth = ChartAuth(username_file=tmp_path / "user", password_file=tmp_path / "password")
    revision = await ChartFetcher(tmp_path / "state").fetch(spec(host, auth))
    assert revision.version == "1.2.0"
    assert scopes[0] == "repository:charts/demo:pull"


async def test_the_realm_refusing_the_credentials_is_a_clear_error(
    gated: tuple[str, list[str]], tmp_path: Path
) -> None:
    host, _ = gated
    (tmp_path / "user").write_text(USER)
    (tmp_path / "password").write_text("not-it")
    auth = ChartAuth(username_file=tmp_path / "user", password_file=tmp_path / "password")
    with pytest.raises(ChartError, match="token service refused the credentials") as caught:
        await ChartFetcher(tmp_path / "state").fetch(spec(host, auth))
    assert "not-it" not in str(caught.value)
