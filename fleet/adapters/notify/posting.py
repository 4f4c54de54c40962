"""POSTing a JSON body with aiohttp, turning every failure into a clear DeliveryError.

Shared by the JSON webhook and the Slack sender. Status codes decide retrying: 408, 425,
429 and 5xx may pass later; other 4xx will fail again. Redirects are not followed (a
signed body must not be forwarded to another host) and count as failures. Error texts
never contain the URL: it may be the credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp

from fleet.adapters.notify.delivery import DeliveryError, scrub

#: Statuses worth another attempt: the receiver is busy, throttling or broken for now.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may be secret, longest first, for scrubbing."""
    parts = urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return [url, tail, parts.path, parts.query]


class JsonPoster:
    """POSTs bodies over one aiohttp session, opened on first use (inside the event loop)."""

    def __init__(self, timeout: float, user_agent: str = "fleet-notifications") -> None:
        self.timeout = timeout
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """One POST; raises DeliveryError unless the answer is 2xx."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(trust_env=True)
        sent_headers = {
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            **headers,
        }
        secrets = url_secrets(url)
        try:
            async with self._session.post(
                url,
                data=body,
                headers=sent_headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as response:
                if 200 <= response.status < 300:
                    return
                answer = (await response.text(errors="replace")).strip()[:300]
                status = response.status
        except aiohttp.InvalidURL:
            raise DeliveryError("invalid URL", retryable=False) from None
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or type(exc.os_error).__name__
            raise DeliveryError(
                f"cannot connect to {exc.host}:{exc.port}: {reason}", retryable=True
            ) from None
        except TimeoutError:
            raise DeliveryError(f"no answer within {self.timeout:g}s", retryable=True) from None
        except aiohttp.ClientError as exc:
            raise DeliveryError(
                f"connection failed ({type(exc).__name__})", retryable=True
            ) from None
        retryable = status in RETRYABLE_STATUSES or status >= 500
        if 300 <= status < 400:
            answer = "redirected; fleet does not follow redirects, give the final URL"
        raise DeliveryError(
            scrub(f"HTTP {status}" + (f": {answer}" if answer else ""), secrets),
            retryable=retryable,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
