"""What an API server's HTTP/1.1 answer is to fleet's own client, and how one fails to come.

Shared by the request pool (``http1``) and the streamed answers of watches (``linefeed``);
``errors.transport_reason`` turns each failure into a readable reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class ConnectionBroken(ConnectionError):
    """The connection ended, or the answer could not be read, before it was complete."""


class ClosedWithoutAnswer(ConnectionBroken):
    """The server closed the connection before a byte of the answer arrived."""


class AnswerCut(ConnectionBroken):
    """The connection ended part way through the answer."""


class UnreadableAnswer(ConnectionBroken):
    """What came back is not an HTTP/1.1 answer this client reads."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    #: Header names in lower case; a repeated header keeps its last value.
    headers: Mapping[str, str]
    body: bytes
