"""Structured logs: one JSON object per line, or a readable line for people.

Every message passes through the same redaction as history before it is written, so a
library that puts a credential into an exception text cannot leak it through the log.
Extra fields given as ``log.info("...", extra={"fields": {...}})`` become JSON keys; a
field named like a secret (``token``, ``password``) has its value masked whatever it
looks like, and every other string field is redacted like a message.
Trace and span ids are added by the telemetry setup when tracing is on.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import PurePath
from typing import IO, Any

from opentelemetry import trace

from fleet.adapters.store.redaction import redact, redact_details

#: Added to every record by ``ContextFilter`` (trace ids, when tracing is on).
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def describe_error(error: BaseException, limit: int = 5) -> str:
    """``Type: message (at file:line in function)``, one per leaf of an exception group.

    A log line never carries a traceback (its frames' text can hold what redaction
    would not recognise), so this is all that is left of a bug: an exception group says
    only "unhandled errors in a TaskGroup (2 sub-exceptions)", which names neither the
    errors nor where they came from. The place is the innermost frame: file and line
    carry no data.
    """
    leaves = list(_leaves(error))
    described = [f"{type(leaf).__name__}: {leaf}{_where(leaf)}" for leaf in leaves[:limit]]
    if len(leaves) > limit:
        described.append(f"and {len(leaves) - limit} more")
    return "; ".join(described)


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    parts = PurePath(last.filename).parts
    for anchor in ("site-packages", "fleet"):
        if anchor in parts:
            start = parts.index(anchor) + (anchor == "site-packages")
            parts = parts[start:]
            break
    return f" (at {'/'.join(parts[-4:])}:{last.lineno} in {last.name})"


class RedactingFilter(logging.Filter):
    """Renders the message once, redacted, so no handler sees the raw text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message = f"{message}: {describe_error(record.exc_info[1])}"
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message)
        record.args = ()
        return True


class ContextFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` of the current span, so a line leads to its trace.

    Only inside a recording span (tracing on): with no exporter there is no trace to find.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = trace.format_trace_id(context.trace_id)
            record.span_id = trace.format_span_id(context.span_id)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(redact_details(fields))
        extra = {
            key: value
            for key, value in record.__dict__.items()
            if key not in _STANDARD and key != "fields" and not key.startswith("_")
        }
        entry.update(redact_details(extra))
        return json.dumps(entry, default=str)


class HumanFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            line += " " + " ".join(f"{k}={v}" for k, v in redact_details(fields).items())
        trace_id = getattr(record, "trace_id", None)
        if trace_id:
            line += f" trace_id={trace_id} span_id={getattr(record, 'span_id', '')}"
        return line


def configure_logging(
    level: str = "info", fmt: str = "human", stream: IO[str] | None = None
) -> None:
    """Route the root logger to ``stream`` (stderr) in the chosen format, redacted."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    handler.addFilter(RedactingFilter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that log request bodies at debug level stay quiet below warning.
    for noisy in ("aiohttp.access", "kubernetes_asyncio", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
