"""Real receivers on loopback: an HTTP server (aiohttp) and an SMTP server (aiosmtpd).

Both run in the test's own event loop (no threads) on a free port. The HTTP receiver
records every request and can be told to answer with given statuses first, or to hang
until the test ends. The SMTP server offers STARTTLS with a certificate from a private
CA (trustme), requires it before AUTH, and accepts one username and password.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import anyio
import trustme
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.gitservers import free_port as free_port  # re-exported for the tests


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class HttpReceiver:
    """Records requests; ``statuses`` are answered first (then 200), ``hang`` never answers."""

    port: int
    requests: list[Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    hang: bool = False
    answer: str = "ok"
    release: anyio.Event = field(default_factory=anyio.Event)
    arrived: anyio.Event = field(default_factory=anyio.Event)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            Request(request.path_qs, dict(request.headers), body, anyio.current_time())
        )
        self.arrived.set()
        self.arrived = anyio.Event()
        if self.hang:
            await self.release.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text=self.answer if status == 200 else "busy")

    async def wait_for(self, count: int, patience: float = 5.0) -> list[Request]:
        """Wait until at least ``count`` requests arrived; returns them all."""
        with anyio.fail_after(patience):
            while len(self.requests) < count:
                await self.arrived.wait()
        return self.requests


@asynccontextmanager
async def http_receiver(port: int = 0) -> AsyncIterator[HttpReceiver]:
    receiver = HttpReceiver(port=port)
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)  # no URLs in logs
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    receiver.port = int(runner.addresses[0][1])
    try:
        yield receiver
    finally:
        receiver.release.set()
        with anyio.CancelScope(shield=True):
            await runner.cleanup()


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None
    tls: bool


@dataclass
class SmtpServer:
    port: int
    ca_file: Path
    username: str
    password: str
    mails: list[Mail] = field(default_factory=list)
    arrived: anyio.Event = field(default_factory=anyio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        self.mails.append(
            Mail(
                envelope.mail_from or "",
                list(envelope.rcpt_tos),
                parsed,
                login,
                session.ssl is not None,
            )
        )
        self.arrived.set()
        self.arrived = anyio.Event()
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)

    async def wait_for(self, count: int, patience: float = 5.0) -> list[Mail]:
        with anyio.fail_after(patience):
            while len(self.mails) < count:
                await self.arrived.wait()
        return self.mails


@asynccontextmanager
async def smtp_server(
    tmp_path: Path, *, starttls: bool = True, username: str = "fleet", password: str = "pw-0123"
) -> AsyncIterator[SmtpServer]:
    """An SMTP server requiring STARTTLS before AUTH (or offering no TLS at all)."""
    ca = trustme.CA()
    ca_file = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    state = SmtpServer(0, ca_file, username, password)

    def factory() -> SMTP:
        return SMTP(
            state,
            hostname="smtp.test",
            tls_context=context if starttls else None,
            require_starttls=starttls,
            auth_require_tls=starttls,
            authenticator=state.authenticate,
        )

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        with anyio.CancelScope(shield=True):
            await server.wait_closed()
