"""``fleet run`` as a user runs it, for end-to-end tests: a real process, its HTTP API.

:class:`FleetDaemon` starts ``python -m fleet run`` as a subprocess (so SIGTERM, SIGHUP
and SIGKILL are real), with a fleet config and settings written for the test (short
intervals, a bearer token file, a webhook secret file, JSON logs to a file), and talks to
it over its HTTP API on loopback, the way the CLI and a forge's push webhook do.

Everything waits by polling with a deadline (:func:`eventually`); nothing sleeps longer
than it must. The waiting helpers take a ``timeout`` (ruff's ASYNC109 is silenced for
them): they poll and, on expiry, say what they waited for and what they saw last, which a
bare ``fail_after`` cannot.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import anyio
import yaml
from anyio.abc import Process

from tests.support.gitservers import free_port

T = TypeVar("T")
JSON = dict[str, Any]
#: What the daemon logs when it catches a bug in itself (as opposed to bad input).
INTERNAL_ERRORS = ("reconcile failed", "internal error", "failed; trying again", "Traceback")


# -- waiting ---------------------------------------------------------------------------


class NotYet(AssertionError):
    """Raised by :func:`eventually` when the condition never held."""


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,  # noqa: ASYNC109
    what: str,
    interval: float = 0.1,
    explain: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    last: T | None = None
    with anyio.move_on_after(timeout):
        while True:
            last = await probe()
            if last:
                return last
            await anyio.sleep(interval)
    extra = f"\n{explain()}" if explain is not None else ""
    raise NotYet(f"after {timeout}s still not: {what}\nlast seen: {last!r}{extra}")


# -- the daemon ------------------------------------------------------------------------


class ApiAnswer:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body

    def __repr__(self) -> str:
        return f"ApiAnswer({self.status}, {self.body!r})"


class FleetDaemon:
    """``fleet run`` in a subprocess, with its files in ``directory``."""

    def __init__(self, directory: Path, config: JSON, **settings: Any) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.config_path = directory / "fleet.yaml"
        self.settings_path = directory / "settings.yaml"
        self.state_dir = directory / "state"
        self.log_path = directory / "daemon.log"
        self.token = secrets.token_hex(16)
        self.webhook_secret = secrets.token_hex(16)
        (directory / "api-token").write_text(self.token + "\n")
        (directory / "webhook-secret").write_text(self.webhook_secret + "\n")
        for name in ("api-token", "webhook-secret"):
            (directory / name).chmod(0o600)
        self.port = free_port()
        self.settings: JSON = {
            "state_dir": str(self.state_dir),
            "api_address": f"127.0.0.1:{self.port}",
            "api_token_file": str(directory / "api-token"),
            "webhook_secret_file": str(directory / "webhook-secret"),
            "poll_interval": "1s",
            "log_format": "json",
            "shutdown_timeout": "10s",
        }
        self.settings.update(settings)
        self.write_config(config)
        self.settings_path.write_text(yaml.safe_dump(self.settings))
        self.process: Process | None = None
        self._log: Any = None
        self._session: aiohttp.ClientSession | None = None
        self.starts = 0

    # -- files -------------------------------------------------------------------------

    def write_config(self, config: JSON | str) -> None:
        self.config = config
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        self.config_path.write_text(text)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_records(self) -> list[JSON]:
        records = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
        return records

    def internal_errors(self) -> list[str]:
        """Log lines that show a bug rather than bad input: anything not logged as JSON
        (a traceback on stderr), and errors the daemon caught from its own code."""
        found = []
        for line in self.log_text().splitlines():
            if line.startswith("--- start") or not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                found.append(line)
                continue
            message = str(record.get("message", "")) if isinstance(record, dict) else line
            if any(mark in message for mark in INTERNAL_ERRORS):
                found.append(line)
        return found

    def log_tail(self, lines: int = 40) -> str:
        return "daemon log (tail):\n" + "\n".join(self.log_text().splitlines()[-lines:])

    # -- process -----------------------------------------------------------------------

    async def start(self, *, wait_ready: bool = True) -> None:
        assert self.process is None or self.process.returncode is not None
        self._log = self.log_path.open("ab")
        self._log.write(f"--- start {self.starts + 1}\n".encode())
        self._log.flush()
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"}
        # With config_source in the settings the fleet config comes from Git: no file.
        local = [] if "config_source" in self.settings else ["--config", str(self.config_path)]
        self.process = await anyio.open_process(
            [
                sys.executable,
                "-m",
                "fleet",
                "run",
                *local,
                "--settings",
                str(self.settings_path),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            env=env,
            cwd=str(self.directory),
            umask=0o002,  # permissive: fleet must keep its state private by itself
        )
        self.starts += 1
        if wait_ready:
            await self.wait_ready()

    async def wait_ready(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        async def ready() -> bool:
            self._check_alive()
            answer = await self.request("GET", "/readyz", expect=None)
            return answer.status == 200

        await eventually(ready, timeout=timeout, what="daemon ready", explain=self.log_tail)

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.returncode is not None:
            raise AssertionError(
                f"the daemon exited with {self.process.returncode}\n{self.log_tail()}"
            )

    def send(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def stop(self, timeout: float = 15.0) -> int | None:  # noqa: ASYNC109
        """SIGTERM, then SIGKILL if it does not end in time; its exit code."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.terminate()
            try:
                with anyio.fail_after(timeout):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await self._closed()
        return self.process.returncode

    async def kill(self) -> None:
        """kill -9."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()
        await self._closed()

    async def _closed(self) -> None:
        assert self.process is not None
        await self.process.aclose()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def aclose(self) -> None:
        await self.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- HTTP --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        expect: int | None = 200,
    ) -> ApiAnswer:
        """One request; with ``expect`` None, any answer (a refused connection: status 0).

        Sent with the daemon's token unless ``headers`` are given (``{}``: anonymous).
        """
        if headers is None:
            headers = self.auth()
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30), trust_env=False
            )
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._session.request(
                method, self.url + path, params=query, json=body, data=data, headers=headers
            ) as response:
                text = await response.text()
                try:
                    parsed: Any = json.loads(text)
                except ValueError:
                    parsed = text
                answer = ApiAnswer(response.status, parsed)
        except aiohttp.ClientConnectionError as error:
            if expect is None:
                return ApiAnswer(0, str(error))
            raise
        if expect is not None and answer.status != expect:
            raise AssertionError(f"{method} {path}: expected {expect}, got {answer}")
        return answer

    async def get(self, path: str, **params: Any) -> Any:
        # Reads need a token too once the API has tokens (fleet.adapters.http.access).
        return (await self.request("GET", path, params=params, headers=self.auth())).body

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def sync(self, app: str = "web", expect: int = 202, **body: Any) -> Any:
        answer = await self.request(
            "POST", f"/api/v1/apps/{app}/sync", body=body, headers=self.auth(), expect=expect
        )
        return answer.body

    async def push_webhook(self, repository: str = "", secret: str | None = None) -> ApiAnswer:
        """fleet's generic push webhook, signed with the daemon's secret (or ``secret``)."""
        # A delivery id makes each body unique: a body already received is a replay (409).
        delivery = secrets.token_hex(8)
        payload = json.dumps(
            {"repository": repository, "ref": "refs/heads/main", "delivery": delivery}
        ).encode()
        key = (secret if secret is not None else self.webhook_secret).encode()
        signature = hmac.new(key, payload, hashlib.sha256).hexdigest()
        return await self.request(
            "POST",
            "/webhooks/generic",
            data=payload,
            headers={
                "X-Fleet-Signature": f"sha256={signature}",
                "Content-Type": "application/json",
            },
            expect=None,
        )

    # -- reading state -----------------------------------------------------------------

    async def status(self) -> list[JSON]:
        result: list[JSON] = await self.get("/api/v1/status")
        return result

    async def status_of(self, cluster: str, app: str = "web") -> JSON:
        for row in await self.status():
            if row["app"] == app and row["cluster"] == cluster:
                return row
        raise AssertionError(f"no status row for {app} on {cluster}")

    async def history(self, **params: Any) -> list[JSON]:
        params.setdefault("limit", 200)
        result: list[JSON] = await self.get("/api/v1/history", **params)
        return result

    async def detail(self, sync_id: int) -> JSON:
        result: JSON = await self.get(f"/api/v1/history/{sync_id}")
        return result

    async def events(self, **params: Any) -> list[JSON]:
        params.setdefault("limit", 1000)
        result: list[JSON] = await self.get("/api/v1/events", **params)
        return result

    async def wait_converged(
        self,
        clusters: list[str],
        revision: str,
        timeout: float = 30.0,  # noqa: ASYNC109
        app: str = "web",
    ) -> list[JSON]:
        """Every cluster Synced and Healthy at ``revision``; their status rows."""

        async def converged() -> list[JSON] | None:
            self._check_alive()
            rows = {r["cluster"]: r for r in await self.status() if r["app"] == app}
            done = [
                rows[c]
                for c in clusters
                if c in rows
                and rows[c]["revision"] == revision
                and rows[c]["sync"] == "Synced"
                and rows[c]["health"] == "Healthy"
                and not rows[c]["operation"]
            ]
            return done if len(done) == len(clusters) else None

        last_rows: list[JSON] = []

        async def converged_rows() -> list[JSON] | None:
            last_rows[:] = await self.status()
            return await converged()

        def explain() -> str:
            rows = "\n".join(json.dumps(r, default=str) for r in last_rows)
            return f"status:\n{rows}\n{self.log_tail()}"

        return await eventually(
            converged_rows,
            timeout=timeout,
            what=f"{app} synced and healthy at {revision[:10]} on {', '.join(clusters)}",
            explain=explain,
        )

    async def wait_sync(
        self,
        cluster: str,
        revision: str,
        *,
        result: str | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109
        after_id: int = 0,
        app: str = "web",
        trigger: str | None = None,
    ) -> JSON:
        """The first finished sync of ``revision`` on ``cluster`` newer than ``after_id``."""

        async def finished() -> JSON | None:
            self._check_alive()
            rows = await self.history(app=app, cluster=cluster)
            for row in sorted(rows, key=lambda r: r["id"]):
                if (
                    row["id"] > after_id
                    and row["revision"] == revision
                    and row["result"] != "Running"
                    and (trigger is None or row["trigger"] == trigger)
                ):
                    return row
            return None

        row = await eventually(
            finished,
            timeout=timeout,
            what=f"a finished sync of {revision[:10]} on {cluster}",
            explain=self.log_tail,
        )
        if result is not None:
            assert row["result"] == result, f"sync {row} is not {result}\n{self.log_tail()}"
        return row

    async def wait_event(
        self,
        kind: str,
        timeout: float = 15.0,  # noqa: ASYNC109
        after_id: int = 0,
        **match: Any,
    ) -> JSON:
        async def found() -> JSON | None:
            self._check_alive()
            for event in await self.events(since=after_id):
                if event["kind"] == kind and all(event.get(k) == v for k, v in match.items()):
                    return event
            return None

        return await eventually(
            found, timeout=timeout, what=f"an event {kind} {match}", explain=self.log_tail
        )

    async def last_event_id(self) -> int:
        events = await self.events()
        return max((int(e["id"]) for e in events), default=0)

    async def last_sync_id(self) -> int:
        rows = await self.history()
        return max((int(r["id"]) for r in rows), default=0)
