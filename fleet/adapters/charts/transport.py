"""HTTP for chart sources: one aiohttp session per fetch, bounded reads, credentials from files.

Credentials are read from their files for each fetch (a rotated token is picked up at
the next poll) and sent only to the repository's own origin: an archive URL or a blob
redirect on another host gets no ``Authorization`` header (aiohttp drops it on a
cross-origin redirect too). A CA file replaces the system's trust store for the
source. Every body is read against a cap, so a server streaming forever or sending a
huge file costs one error, not the daemon's memory. Nothing here logs a header.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from yarl import URL

from fleet.adapters.charts.specs import ChartError, ChartRejected, ChartSpec, ChartUnreachable


def read_secret(spec: ChartSpec, path: Path, field: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise spec.error(
            ChartError, f"auth.{field}: cannot read {path}: {type(error).__name__}"
        ) from None


def basic_credentials(spec: ChartSpec) -> tuple[str, str] | None:
    """(user, password) from usernameFile/passwordFile, or (tokenUsername, token)."""
    auth = spec.auth
    if auth.username_file is not None and auth.password_file is not None:
        return (
            read_secret(spec, auth.username_file, "usernameFile"),
            read_secret(spec, auth.password_file, "passwordFile"),
        )
    if auth.token_file is not None:
        return auth.token_username, read_secret(spec, auth.token_file, "tokenFile")
    return None


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def repository_header(spec: ChartSpec) -> str | None:
    """The Authorization header for an HTTP chart repository: basic, or the token as bearer."""
    auth = spec.auth
    if auth.token_file is not None:
        return "Bearer " + read_secret(spec, auth.token_file, "tokenFile")
    credentials = basic_credentials(spec)
    return basic_header(*credentials) if credentials else None


def same_origin(a: URL, b: URL) -> bool:
    return (a.scheme, a.host, a.explicit_port or a.port) == (
        b.scheme,
        b.host,
        b.explicit_port or b.port,
    )


@asynccontextmanager
async def session_for(spec: ChartSpec) -> AsyncIterator[aiohttp.ClientSession]:
    ssl_context: ssl.SSLContext | bool = True
    if spec.auth.ca_file is not None:
        try:
            ssl_context = ssl.create_default_context(cafile=str(spec.auth.ca_file))
        except (OSError, ssl.SSLError) as error:
            raise spec.error(
                ChartError, f"chart.caFile: cannot use {spec.auth.ca_file}: {error}"
            ) from None
    limits = spec.limits
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=limits.connect_timeout, sock_read=limits.read_timeout
    )
    connector = aiohttp.TCPConnector(ssl=ssl_context, limit=4)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, trust_env=False
    ) as session:
        yield session


async def read_capped(
    response: aiohttp.ClientResponse, cap: int, what: str, spec: ChartSpec
) -> bytes:
    """The body, or an error once it passes ``cap`` bytes (declared or streamed)."""
    declared = response.content_length
    if declared is not None and declared > cap:
        raise spec.error(ChartRejected, f"{what} is {declared} bytes, more than {cap} allowed")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > cap:
            raise spec.error(ChartRejected, f"{what} is more than {cap} bytes allowed")
        chunks.append(chunk)
    return b"".join(chunks)


def unreachable(spec: ChartSpec, url: URL, error: Exception) -> ChartError:
    """A network failure, described without anything the URL's query might hold."""
    shown = str(url.with_query(None).with_user(None))
    detail = str(error) or type(error).__name__
    if isinstance(error, TimeoutError):
        detail = "no answer within the timeout"
    return spec.error(ChartUnreachable, f"cannot reach {shown}: {detail}")
