"""Where the daemon's API listens, as the daemon and its CLI both write it.

A module of its own, with no HTTP library behind it, so that the CLI can parse an
address without importing the server (aiohttp's server side costs a CLI call ~0.3 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ApiAddress:
    """``host:port`` or ``unix:/path/to/socket``."""

    host: str = "127.0.0.1"
    port: int = 8787
    unix_path: Path | None = None

    @classmethod
    def parse(cls, text: str) -> ApiAddress:
        if text.startswith("unix:"):
            return cls(unix_path=Path(text[5:]))
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"API address {text!r} is not host:port or unix:PATH")
        return cls(host=host.strip("[]") or "127.0.0.1", port=int(port))

    def __str__(self) -> str:
        return f"unix:{self.unix_path}" if self.unix_path else f"{self.host}:{self.port}"
