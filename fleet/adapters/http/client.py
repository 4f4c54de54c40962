"""The CLI's client for the daemon's HTTP API (TCP or unix socket).

Built on the standard library's ``http.client``, not aiohttp: a ``fleet status`` makes
one or two small requests, and importing aiohttp (with asyncio behind it) cost more than
the rest of the command together. The methods are ``async`` so that commands are written
once, as coroutines; the I/O inside them blocks, which suits a CLI that does one thing
at a time (fleet.cli.connect drives such a coroutine without an event loop when the
command needs none). Every request carries the API token when one is configured: with
scoped tokens the daemon asks for one on reads too.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fleet.adapters.http.address import ApiAddress


class DaemonUnavailable(Exception):
    """The daemon could not be reached at its API address (or the connection broke)."""


class DaemonError(Exception):
    """The daemon answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (``unix:/run/fleet/api.sock``)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("fleet", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class DaemonClient:
    """``async with DaemonClient(address, token_file) as client: await client.request(...)``."""

    def __init__(
        self, address: ApiAddress, token_file: Path | None = None, timeout: float = 30.0
    ) -> None:
        self.address = address
        self.token_file = token_file
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    async def __aenter__(self) -> DaemonClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self.address.unix_path is not None:
                self._connection = _UnixConnection(self.address.unix_path, self.timeout)
            else:
                self._connection = http.client.HTTPConnection(
                    self.address.host, self.address.port, timeout=self.timeout
                )
        return self._connection

    def _headers(self, body: bytes | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.token_file is not None:
            try:
                token = self.token_file.read_text().strip()
            except OSError as error:
                raise DaemonError(
                    0, f"cannot read API token file {self.token_file}: {error.strerror}"
                ) from None
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        body: Mapping[str, Any] | None,
    ) -> http.client.HTTPResponse:
        query = {k: str(v) for k, v in (params or {}).items() if v is not None and v != ""}
        target = f"{path}?{urlencode(query)}" if query else path
        payload = json.dumps(body).encode() if body is not None else None
        headers = self._headers(payload)
        # A kept-alive connection the daemon has closed since fails on first use: one
        # fresh connection is tried before the daemon is called unreachable.
        for attempt in (1, 2):
            reused = self._connection is not None
            connection = self._connect()
            try:
                connection.request(method, target, body=payload, headers=headers)
                return connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2 or not reused:
                    raise DaemonUnavailable(
                        f"the fleet daemon at {self.address} closed the connection"
                    ) from None
            except (OSError, http.client.HTTPException) as error:
                self.close()
                raise DaemonUnavailable(
                    f"cannot reach the fleet daemon at {self.address}: {_reason(error)}"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        response = self._send(method, path, params, body)
        try:
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise DaemonUnavailable(
                f"the connection to the fleet daemon at {self.address} broke: {_reason(error)}"
            ) from None
        text = raw.decode("utf-8", "replace")
        is_json = (response.getheader("Content-Type") or "").split(";")[0].endswith("json")
        data: Any = text
        if text and is_json:
            try:
                data = json.loads(text)
            except ValueError:
                data = text
        if response.status >= 400:
            message = data.get("error") if isinstance(data, dict) else str(data)
            raise DaemonError(response.status, str(message or response.reason))
        return data

    async def stream(self, path: str, params: Mapping[str, str]) -> AsyncIterator[Any]:
        """NDJSON lines of a streaming endpoint, as objects.

        A stream that breaks (the daemon stopped, the read deadline passed with nothing
        to read) raises DaemonUnavailable; the caller decides whether to reconnect.
        """
        response = self._send("GET", path, params, None)
        if response.status >= 400:
            raise DaemonError(response.status, response.read().decode("utf-8", "replace"))
        try:
            while True:
                try:
                    line = response.readline()
                except (OSError, http.client.HTTPException) as error:
                    raise DaemonUnavailable(
                        f"the event stream from {self.address} broke: {_reason(error)}"
                    ) from None
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)
        finally:
            # A stream is never reused: its connection ends with it.
            self.close()


def _reason(error: BaseException) -> str:
    """A few words for a socket error (``[Errno 111] Connection refused`` -> the words)."""
    if isinstance(error, socket.timeout | TimeoutError):
        return "timed out"
    strerror = getattr(error, "strerror", None)
    return str(strerror or error or type(error).__name__)
