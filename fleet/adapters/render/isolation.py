"""Render processes: a small pool of workers that run renders under hard limits.

A render reads untrusted files with PyYAML, Helm's and Kustomize's Go libraries; in the
daemon's own process a hostile commit could hold the event loop, eat the host's memory,
or spin a template loop for ever, and it would do so again after every restart. So each
render runs in a worker process (``child.py``) that sets its own CPU-time and memory
limits before each job, and the parent kills it when the render overruns its wall-clock
timeout or its answer is larger than the render limits allow. A worker that broke a limit
is replaced; the others keep rendering, and the daemon's event loop only waits.

Workers are started on demand, up to ``size``, and kept for the next render (starting
one and loading Helm and Kustomize takes about 0.3 s; a warm render of a small overlay
takes a few milliseconds). The pool is synchronous and thread-safe: the renderer calls
:meth:`RenderPool.run` from a worker thread. Workers are their own process group, so a
``kubectl kustomize`` they started dies with them, and they end when the parent does
(their stdin closes). The render cache stays in the parent.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import fleet
from fleet.adapters.render.child import HEADER, READY
from fleet.adapters.render.errors import RenderError
from fleet.adapters.render.limits import LimitExceededError, size_text
from fleet.adapters.render.sandbox import display, normalize_app_path
from fleet.adapters.render.work import Rendered, RenderJob

#: Bytes of a dead worker's stderr kept to explain its death.
_STDERR_KEPT = 4096
#: A worker's stderr file is emptied between jobs once it is larger than this.
_STDERR_MAX = 1 << 20
#: Frame overhead allowed above the render limit: pickled objects are larger than YAML.
_ANSWER_FACTOR = 8
#: How often a waiting render checks whether its caller gave up, in seconds.
_CHECK_EVERY = 0.2
#: Longest start of a render process (Python, Helm and Kustomize loading), in seconds.
_START = 60.0
_MEMORY_SIGNS = ("out of memory", "MemoryError", "cannot allocate memory")


def default_size() -> int:
    """Workers in a pool when not configured: the cores, at least 2, at most 4."""
    return max(2, min(4, os.cpu_count() or 2))


class RenderPool:
    """Up to ``size`` render processes, each running one job at a time."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size or default_size()
        self._idle: list[_Worker] = []
        self._count = 0
        self._closed = False
        self._changed = threading.Condition()
        #: Workers started and workers replaced after breaking a limit or dying.
        self.started = 0
        self.retired = 0

    def run(self, job: RenderJob, abandoned: threading.Event | None = None) -> Rendered:
        """Render ``job`` in a worker; blocks. Raises the render's error, or a
        :class:`LimitExceededError` when the worker broke a limit and was stopped.
        Setting ``abandoned`` (the caller was cancelled) kills the worker at once."""
        worker = self._take()
        healthy = False
        try:
            answer = worker.call(job, abandoned or threading.Event())
            healthy = answer[0] in ("ok", "error")
        finally:
            self._give_back(worker, healthy)
        kind, value = answer
        if kind == "ok":
            assert isinstance(value, Rendered)
            return value
        if isinstance(value, BaseException):
            raise value
        raise RuntimeError(f"render process failed:\n{value}")

    def close(self) -> None:
        """Stop every idle worker; busy ones stop when their job ends."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._changed.notify_all()
        for worker in idle:
            worker.stop()

    def _take(self) -> _Worker:
        with self._changed:
            while not self._idle and self._count >= self.size:
                self._changed.wait()
            if self._idle:
                return self._idle.pop()
            self._count += 1
            self.started += 1
        try:
            return _Worker()
        except BaseException:
            with self._changed:
                self._count -= 1
                self._changed.notify()
            raise

    def _give_back(self, worker: _Worker, healthy: bool) -> None:
        keep = healthy and worker.alive()
        with self._changed:
            if keep and not self._closed:
                self._idle.append(worker)
            else:
                self._count -= 1
                self.retired += not healthy
                keep = False
            self._changed.notify()
        if not keep:
            worker.stop()


class _Worker:
    """One render process and the pipes to it."""

    def __init__(self) -> None:
        # Closed in stop(); it outlives this call, so no with-block.
        self.stderr: IO[bytes] = tempfile.TemporaryFile(prefix="fleet-render-")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fleet.adapters.render.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=_child_environment(),
            start_new_session=True,
            close_fds=True,
        )
        assert self.process.stdout is not None
        try:
            hello = _read_frame(self.process.stdout.fileno(), time.monotonic() + _START, 64)
        except (TimeoutError, _TooLarge):
            hello = None
        if hello != READY:
            told = os.pread(self.stderr.fileno(), _STDERR_KEPT, 0).decode(errors="replace")
            self.kill()
            self.stop()
            raise RenderError(f"a render process did not start: {told.strip()[:500]}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def call(self, job: RenderJob, abandoned: threading.Event) -> tuple[str, Any]:
        """Send ``job``; its answer, or ``("limit", LimitExceededError)`` once stopped."""
        self._trim_stderr()
        started_at = os.fstat(self.stderr.fileno()).st_size
        limits = job.limits
        payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        try:
            self.process.stdin.write(HEADER.pack(len(payload)) + payload)
            self.process.stdin.flush()
        except BrokenPipeError:
            return "died", self._death(job, started_at)
        deadline = time.monotonic() + limits.timeout_seconds
        most = limits.max_rendered_bytes * _ANSWER_FACTOR + (16 << 20)
        try:
            frame = _read_frame(self.process.stdout.fileno(), deadline, most, abandoned)
        except _Abandoned:
            self.kill()
            return "died", RenderError("the render was cancelled", path=_where(job))
        except TimeoutError:
            self.kill()
            return "limit", LimitExceededError(
                f"the render took longer than {limits.timeout_seconds:g}s and was stopped "
                "(setting render.timeout)",
                path=_where(job),
            )
        except _TooLarge as error:
            self.kill()
            return "limit", LimitExceededError(
                f"the render's answer is {size_text(error.size)}, over the render limits "
                "(setting render.max_rendered_size)",
                path=_where(job),
            )
        if frame is None:
            return "died", self._death(job, started_at)
        kind, value = pickle.loads(frame)
        if kind == "memory":
            self.kill()
            return "limit", _memory_error(job)
        return kind, value

    def _death(self, job: RenderJob, stderr_from: int) -> RenderError:
        """Why the worker ended in the middle of ``job``, as the error to report."""
        self.kill()
        code = self.process.returncode
        told = os.pread(self.stderr.fileno(), _STDERR_KEPT, stderr_from).decode(errors="replace")
        if code == -signal.SIGXCPU:
            return LimitExceededError(
                f"the render used more than {job.limits.cpu_seconds:g}s of CPU time and was "
                "stopped (setting render.cpu_time)",
                path=_where(job),
            )
        if any(sign in told for sign in _MEMORY_SIGNS):
            return _memory_error(job)
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        first = next((line for line in told.splitlines() if line.strip()), "")
        detail = f": {first.strip()[:300]}" if first else ""
        return RenderError(
            f"the render process ended unexpectedly ({how}){detail}", path=_where(job)
        )

    def _trim_stderr(self) -> None:
        descriptor = self.stderr.fileno()
        if os.fstat(descriptor).st_size > _STDERR_MAX:
            os.ftruncate(descriptor, 0)
            os.lseek(descriptor, 0, os.SEEK_SET)  # the child shares this offset

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """End the worker: close its stdin, give it a moment, then kill it."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()


class _Abandoned(Exception):
    """The caller gave up on the render."""


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _read_frame(
    descriptor: int, deadline: float, most: int, abandoned: threading.Event | None = None
) -> bytes | None:
    """One frame from ``descriptor`` before ``deadline``; None at end of stream."""
    poller = select.poll()
    poller.register(descriptor, select.POLLIN | select.POLLHUP)
    buffer = bytearray()
    wanted = HEADER.size
    header_read = False
    while len(buffer) < wanted:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if not poller.poll(min(remaining, _CHECK_EVERY) * 1000):
            if abandoned is not None and abandoned.is_set():
                raise _Abandoned
            continue
        chunk = os.read(descriptor, min(wanted - len(buffer), 1 << 20))
        if not chunk:
            return None
        buffer += chunk
        if not header_read and len(buffer) >= HEADER.size:
            (length,) = HEADER.unpack(buffer[: HEADER.size])
            if length > most:
                raise _TooLarge(length)
            wanted = HEADER.size + length
            header_read = True
    return bytes(buffer[HEADER.size :])


def _memory_error(job: RenderJob) -> LimitExceededError:
    return LimitExceededError(
        f"the render needed more than {size_text(job.limits.memory_bytes)} of memory and was "
        "stopped (setting render.memory)",
        path=_where(job),
    )


def _where(job: RenderJob) -> str:
    try:
        return display(normalize_app_path(job.request.path))
    except RenderError:
        return job.request.path


def _child_environment() -> dict[str, str]:
    """What a render process needs, and nothing of the daemon's (tokens, proxies)."""
    package_root = str(Path(fleet.__file__).resolve().parents[1])
    python_path = [package_root, *filter(None, os.environ.get("PYTHONPATH", "").split(":"))]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join(python_path),
        "HOME": "/nonexistent",
        "KUBECONFIG": os.devnull,
        "LANG": "C.UTF-8",
        "GOTRACEBACK": "none",
    }
    for name in ("TMPDIR", "XDG_RUNTIME_DIR"):  # XDG_RUNTIME_DIR: see memtree.py
        if name in os.environ:
            env[name] = os.environ[name]
    return env


_shared: RenderPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> RenderPool:
    """The process-wide pool used by renderers given none; stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RenderPool()
            atexit.register(_shared.close)
        return _shared
