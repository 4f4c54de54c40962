"""The render process: ``python -m fleet.adapters.render.child``, one job at a time.

It announces itself with a ``ready`` frame once Helm and Kustomize are loaded, then reads
length-prefixed pickled :class:`~fleet.adapters.render.work.RenderJob` frames on stdin
and answers each with one frame on stdout: ``("ok", Rendered)``, ``("error",
RenderError)``, ``("crash", traceback)`` for a bug, or ``("memory", message)`` after
which it exits (an allocation that failed may have left a library in a bad state).
Before each job it sets its own limits:

- ``RLIMIT_CPU``: the CPU time used so far plus the job's allowance; past it the kernel
  ends the process (SIGXCPU), which the parent reports as the CPU-time limit;
- ``RLIMIT_DATA``: the memory the process may allocate (heap, Go's arenas, thread
  stacks); past it Python raises MemoryError and Go aborts with "out of memory".

``RLIMIT_DATA`` rather than ``RLIMIT_AS``: the Go runtimes of Helm and Kustomize reserve
about 1.7 GB of address space they never touch, which an address-space limit would count.
Helm and Kustomize are loaded once, before the first job, so that a job pays only for
its own work. The process ends when stdin closes (the parent exited or retired it).
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import resource
import struct
import sys
import traceback
from collections.abc import Iterator
from typing import BinaryIO

from fleet.adapters.render.errors import RenderError
from fleet.adapters.render.work import RenderJob, run_job

HEADER = struct.Struct(">Q")
#: The first frame of a render process: loaded and waiting for jobs.
READY = b"ready"


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame, or None at the end of the stream."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (length,) = HEADER.unpack(header)
    payload = stream.read(length)
    return payload if len(payload) == length else None


def write_frame(stream: BinaryIO, payload: bytes) -> None:
    stream.write(HEADER.pack(len(payload)) + payload)
    stream.flush()


def _preload() -> None:
    """Load the Go libraries now, outside any job's CPU and memory allowance."""
    with contextlib.suppress(ImportError):
        import helm_python  # noqa: F401
    try:
        from fleet.adapters.render.work import backend_named

        backend_named("auto")
    except RenderError:
        pass  # no Kustomize here: a job that needs one says so


def _set_limits(cpu_seconds: float, memory_bytes: int) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    cpu_soft = math.ceil(used + cpu_seconds)
    if cpu_hard != resource.RLIM_INFINITY:
        cpu_soft = min(cpu_soft, cpu_hard)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_soft, cpu_hard))
    _, data_hard = resource.getrlimit(resource.RLIMIT_DATA)
    data_soft = (
        memory_bytes if data_hard == resource.RLIM_INFINITY else min(memory_bytes, data_hard)
    )
    resource.setrlimit(resource.RLIMIT_DATA, (data_soft, data_hard))


@contextlib.contextmanager
def _quiet_if_secret(job: RenderJob) -> Iterator[None]:
    """A job with decrypted inputs writes nothing to stderr (a file on disk, kept by the
    parent): Helm's and Kustomize's warnings may quote values."""
    if not job.replacements:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _answer(job: RenderJob) -> tuple[str, object]:
    try:
        with _quiet_if_secret(job):
            return "ok", run_job(job)
    except RenderError as error:
        return "error", error
    except MemoryError:
        return "memory", "MemoryError"
    except RecursionError:
        return "error", RenderError("input nested too deeply to render", path=job.request.path)
    except Exception:  # a bug, not bad input: the parent raises it as one
        return "crash", traceback.format_exc()


def main() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a killed render leaves no core file
    _preload()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the frames
    write_frame(stdout, READY)  # the parent starts a job's clock from here
    while (frame := read_frame(stdin)) is not None:
        job: RenderJob = pickle.loads(frame)
        _set_limits(job.limits.cpu_seconds, job.limits.memory_bytes)
        kind, value = _answer(job)
        try:
            payload = pickle.dumps((kind, value), protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            kind, payload = "memory", pickle.dumps(("memory", "MemoryError"))
        write_frame(stdout, payload)
        if kind == "memory":
            return


if __name__ == "__main__":
    main()
