"""Email over SMTP with aiosmtplib: STARTTLS (or implicit TLS), optional login from files.

STARTTLS is *required* when configured: a server that does not offer it fails the
delivery rather than receiving the message (and the password) in plain text. Each
notification is one connection (alerts are rare, and a long-lived connection would
time out between them). SMTP replies decide retrying: 4xx is temporary, 5xx final.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Literal

import aiosmtplib

from fleet.adapters.notify.delivery import DeliveryError, read_secret, scrub
from fleet.adapters.notify.messages import Notification

TlsMode = Literal["starttls", "tls", "none"]


def email_message(
    notification: Notification, sender: str, to: Sequence[str], subject_prefix: str
) -> EmailMessage:
    """The mail for ``notification``: the headline as subject, the plain text as body."""
    message = EmailMessage()
    subject = " ".join(f"{subject_prefix} {notification.headline}".split())
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(notification.at)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "fleet.invalid"
    message["Message-ID"] = make_msgid("fleet", domain=domain)
    message["X-Fleet-Event"] = notification.kind
    message["X-Fleet-Delivery"] = notification.id
    message.set_content(notification.text())
    return message


class EmailSender:
    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        tls: TlsMode,
        ca_file: Path | None,
        username_file: Path | None,
        password_file: Path | None,
        sender: str,
        to: Sequence[str],
        subject_prefix: str,
        timeout: float,
    ) -> None:
        self._name = name
        self.host, self.port, self.tls, self.ca_file = host, port, tls, ca_file
        self._username_file, self._password_file = username_file, password_file
        self.sender, self.to, self.subject_prefix = sender, list(to), subject_prefix
        self.timeout = timeout

    @property
    def name(self) -> str:
        return self._name

    async def send(self, notification: Notification) -> None:
        message = email_message(notification, self.sender, self.to, self.subject_prefix)
        username = password = None
        if self._username_file is not None and self._password_file is not None:
            username = await read_secret(self._username_file, "SMTP username")
            password = await read_secret(self._password_file, "SMTP password")
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            tls_context=self._tls_context() if self.tls != "none" else None,
            timeout=self.timeout,
        )
        try:
            async with client:
                if username is not None and password is not None:
                    await client.login(username, password)
                await client.send_message(message)
        except DeliveryError:
            raise
        except Exception as exc:
            error = _delivery_error(exc, self.host, self.port, self.timeout)
            raise DeliveryError(
                scrub(str(error), [password, username]), retryable=error.retryable
            ) from None

    def _tls_context(self) -> ssl.SSLContext:
        try:
            if self.ca_file is not None:
                return ssl.create_default_context(cafile=str(self.ca_file))
            return ssl.create_default_context()
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(
                f"cannot load the CA file {self.ca_file}: {exc}", retryable=False
            ) from None

    async def aclose(self) -> None:
        """Nothing to release: every message uses its own connection."""


def _delivery_error(exc: Exception, host: str, port: int, timeout: float) -> DeliveryError:
    """What an aiosmtplib (or socket, or TLS) error means for retrying."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(
            f"recipients refused: {text}", retryable=all(400 <= c < 500 for c in codes)
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        what = "login refused" if isinstance(exc, aiosmtplib.SMTPAuthenticationError) else "SMTP"
        return DeliveryError(f"{what}: {exc.code} {exc.message}", retryable=400 <= exc.code < 500)
    if isinstance(exc, TimeoutError):
        return DeliveryError(f"{host}:{port}: no answer within {timeout:g}s", retryable=True)
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(f"{host}:{port}: TLS failed: {exc.reason or exc}", retryable=False)
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
        return DeliveryError(f"{host}:{port}: cannot connect: {exc}", retryable=True)
    if isinstance(exc, aiosmtplib.SMTPException):
        return DeliveryError(f"{host}:{port}: {exc}", retryable=False)
    return DeliveryError(f"{host}:{port}: {type(exc).__name__}: {exc}", retryable=True)
