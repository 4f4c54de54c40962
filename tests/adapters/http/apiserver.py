"""The daemon's real HTTP API on a loopback port, over the CLI tests' fake daemon, with a
real audit store (SQLite), and a small client that says who it is."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anyio
from aiohttp import web

from fleet.adapters.http.routes import ApiAccess
from fleet.adapters.http.server import build_app
from fleet.adapters.http.webhooks import Push
from fleet.adapters.store import AsyncHistoryStore
from fleet.config.api_tokens import ApiToken
from tests.cli.fakedaemon import FakeDaemon
from tests.cli.harness import seed

WEBHOOK_SECRET = b"hook-s3cret"


@dataclass
class PushingDaemon(FakeDaemon):
    """The fake daemon with a webhook secret, remembering the pushes it was given."""

    pushes: list[Push] = field(default_factory=list)

    def webhook_secrets(self, forge: str) -> list[bytes]:
        return [WEBHOOK_SECRET]

    async def push(self, push: Push) -> dict[str, Any]:
        self.pushes.append(push)
        return {"sources": ["platform"]}


@dataclass
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass
class Api:
    url: str
    fake: PushingDaemon
    audit: AsyncHistoryStore
    session: aiohttp.ClientSession

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        async with self.session.request(
            method, self.url + path, params=params, json=body, data=data, headers=sent
        ) as response:
            text = await response.text()
            try:
                parsed: Any = json.loads(text)
            except ValueError:
                parsed = text
            return Answer(response.status, parsed, dict(response.headers))


def token_file(directory: Path, name: str, value: str) -> Path:
    path = directory / f"{name}.token"
    path.write_text(value + "\n")
    return path


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def github_delivery(body: dict[str, Any], delivery: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    signature = hmac.new(WEBHOOK_SECRET, raw, hashlib.sha256).hexdigest()
    return raw, {
        "X-Hub-Signature-256": f"sha256={signature}",
        "X-GitHub-Delivery": delivery,
        "Content-Type": "application/json",
    }


@asynccontextmanager
async def serve_api(tmp_path: Path, tokens: list[ApiToken], **access: Any) -> AsyncIterator[Api]:
    """``build_app`` with ``tokens`` on 127.0.0.1:0; the audit log in a real SQLite file."""
    async with (
        await AsyncHistoryStore.open(tmp_path / "history.sqlite3") as store,
        anyio.create_task_group() as tasks,
        aiohttp.ClientSession() as session,
    ):
        fake = PushingDaemon(tasks)
        seed(fake)
        app = build_app(fake, ApiAccess.with_tokens(tokens, **access), store)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield Api(f"http://127.0.0.1:{port}", fake, store, session)
        finally:
            await runner.cleanup()
            tasks.cancel_scope.cancel()
