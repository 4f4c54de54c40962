"""The CLI's client for the daemon's HTTP API (TCP or unix socket)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from fleet.adapters.http.server import ApiAddress


class DaemonUnavailable(Exception):
    """The daemon could not be reached at its API address."""


class DaemonError(Exception):
    """The daemon answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DaemonClient:
    """``async with DaemonClient(address, token_file) as client: await client.get(...)``."""

    def __init__(
        self, address: ApiAddress, token_file: Path | None = None, timeout: float = 30.0
    ) -> None:
        self.address = address
        self.token_file = token_file
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> DaemonClient:
        connector: aiohttp.BaseConnector
        if self.address.unix_path is not None:
            connector = aiohttp.UnixConnector(path=str(self.address.unix_path))
        else:
            connector = aiohttp.TCPConnector()
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    def _url(self, path: str) -> str:
        if self.address.unix_path is not None:
            return f"http://fleet{path}"
        host = self.address.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.address.port}{path}"

    def _headers(self, write: bool) -> dict[str, str]:
        if not write or self.token_file is None:
            return {}
        try:
            token = self.token_file.read_text().strip()
        except OSError as error:
            raise DaemonError(
                0, f"cannot read API token file {self.token_file}: {error.strerror}"
            ) from None
        return {"Authorization": f"Bearer {token}"}

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        assert self._session is not None, "use DaemonClient as an async context manager"
        query = {k: str(v) for k, v in (params or {}).items() if v is not None and v != ""}
        try:
            async with self._session.request(
                method,
                self._url(path),
                params=query,
                json=body,
                headers=self._headers(method != "GET"),
            ) as response:
                text = await response.text()
                data = json.loads(text) if text and response.content_type.endswith("json") else text
                if response.status >= 400:
                    message = data.get("error") if isinstance(data, dict) else str(data)
                    raise DaemonError(response.status, str(message or response.reason))
                return data
        except (aiohttp.ClientConnectionError, OSError, TimeoutError) as error:
            raise DaemonUnavailable(
                f"cannot reach the fleet daemon at {self.address}: {error}"
            ) from None

    async def stream(self, path: str, params: Mapping[str, str]) -> AsyncIterator[Any]:
        """NDJSON lines of a streaming endpoint, as objects."""
        assert self._session is not None
        try:
            async with self._session.get(self._url(path), params=dict(params)) as response:
                if response.status >= 400:
                    raise DaemonError(response.status, await response.text())
                async for line in response.content:
                    if line.strip():
                        yield json.loads(line)
        except (aiohttp.ClientConnectionError, OSError) as error:
            raise DaemonUnavailable(
                f"cannot reach the fleet daemon at {self.address}: {error}"
            ) from None
