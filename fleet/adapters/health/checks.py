"""Fleet-wide Lua health checks: finding the script for an object, and running it safely.

:class:`LuaHealthChecks` is what the engine gets as its ``custom_health`` callable: it
answers None for kinds no script covers (the engine then uses its built-ins) and a
verdict naming the script for the rest. Scripts are tried in tiers (the inline ones,
then each directory in order), exact keys before wildcards within a tier, as Argo CD
tries its ConfigMap entries before its built-in tree.

Argo CD's contract, kept here: a table with a valid ``status`` is the verdict; a table
without one (or with a status outside Healthy, Progressing, Degraded, Suspended,
Missing, Unknown) is Unknown "Lua returned an invalid health status"; anything but a
table, a runtime error or a syntax error is Unknown with the error, which names the
file; a script still running after one second is stopped and its object is Unknown.

A live object's verdict is kept for a minute per (script, uid, resourceVersion), so the
comparisons that run at every watch event do not run every script again; a verdict
from a run the time limit stopped is not kept (the script is set aside instead).

Bounding the caller: each run happens in a thread the caller waits for at most the time
limit plus a little. A script the count hook stopped is put aside for ``cooldown``
seconds: objects it covers are Unknown at once meanwhile, so a looping script costs the
daemon one second per cooldown, not one per object. A run that does not return even
then (a C function that never yields to the hook, such as a pathological pattern) is
abandoned in its thread, and its script is put aside until its text changes (scripts are
known by their text, across reloads too).

Keeping the event loop free: with ``inline=False`` (the daemon) a call never runs a
script. The runtime hands :meth:`LuaHealthChecks.judge_all` the objects it is about to
judge, in a worker thread, before it calls the engine; the engine's calls then read the
verdicts ready for those versions. An object nobody prepared (a rare path) is Unknown
"being evaluated" while a background thread judges it for the next look.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleet.adapters.health.sandbox import TIME_LIMIT, RunResult, run_script
from fleet.config.health_checks import is_wildcard, key_matches
from fleet.engine.health import HealthVerdict
from fleet.model.health import Health, HealthStatus

INVALID_STATUS = "Lua returned an invalid health status"
#: Seconds a script that ran out of time is not run again.
COOLDOWN = 300.0
#: Seconds past the time limit the caller waits for a run's thread.
GRACE = 0.5
#: Verdicts kept per (script, object uid, resourceVersion), and for how many seconds (a
#: script may read the clock, as a certificate's expiry check does).
CACHE_SIZE = 4096
CACHE_SECONDS = 60.0
#: Background threads judging objects nobody prepared (``inline=False`` only).
BACKGROUND_RUNS = 2


@dataclass(frozen=True, slots=True)
class LuaCheck:
    """One script: the key it covers (``group/Kind``, maybe a wildcard) and where it
    came from, as people should read it (a file path, or the config field)."""

    key: str
    script: str
    origin: str
    #: Set when the script does not compile: every object it covers is Unknown with it.
    syntax_error: str | None = None

    @property
    def wildcard(self) -> bool:
        return is_wildcard(self.key)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.script.encode()).hexdigest()


def object_key(obj: Mapping[str, Any]) -> str:
    """Argo CD's key of an object: ``group/Kind``, or ``Kind`` for the core group."""
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.rpartition("/")[0]  # as ObjectRef.of reads it, without the copy
    kind = str(obj.get("kind", ""))
    return f"{group}/{kind}" if group else kind


@dataclass
class _SetAside:
    until: float
    reason: str


@dataclass
class LuaHealthChecks:
    """The engine's custom health callable, over tiers of :class:`LuaCheck`."""

    tiers: Sequence[Sequence[LuaCheck]]
    limit: float = TIME_LIMIT
    cooldown: float = COOLDOWN
    clock: Callable[[], float] = time.monotonic
    #: Whether a call may run a script itself (a command) or only reads verdicts
    #: prepared off the event loop (the daemon; see :meth:`judge_all`).
    inline: bool = True
    _found: dict[str, LuaCheck | None] = field(default_factory=dict)
    _cache: OrderedDict[tuple[str, str, str], tuple[float, Health]] = field(
        default_factory=OrderedDict
    )
    _aside: dict[str, _SetAside] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _background: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(BACKGROUND_RUNS)
    )
    _running: set[tuple[str, str, str] | None] = field(default_factory=set)

    def with_tiers(self, tiers: Sequence[Sequence[LuaCheck]]) -> LuaHealthChecks:
        """The same limits over other scripts; scripts set aside stay aside (they are
        known by their text), verdicts kept stay kept."""
        fresh = LuaHealthChecks(tiers, self.limit, self.cooldown, self.clock, self.inline)
        with self._lock:
            fresh._aside = dict(self._aside)
            fresh._cache = OrderedDict(self._cache)
        return fresh

    def find(self, key: str) -> LuaCheck | None:
        """The script covering ``key``: first tier that has one, exact before wildcard."""
        with self._lock:
            if key in self._found:
                return self._found[key]
        found: LuaCheck | None = None
        for tier in self.tiers:
            exact = [c for c in tier if not c.wildcard and c.key == key]
            wild = [c for c in tier if c.wildcard and key_matches(c.key, key)]
            if exact or wild:
                found = (exact or wild)[0]
                break
        with self._lock:
            self._found[key] = found
        return found

    def __call__(self, obj: Mapping[str, Any]) -> HealthVerdict | None:
        if not any(self.tiers):
            return None  # no script loaded: every kind has its built-in rule
        check = self.find(object_key(obj))
        if check is None:
            return None
        health = self.run(check, obj) if self.inline else self._ready(check, obj)
        return HealthVerdict(health, f"Lua {check.origin}")

    def _known(self, check: LuaCheck, obj: Mapping[str, Any]) -> Health | None:
        """The verdict without running anything: syntax error, set aside, or kept."""
        if check.syntax_error is not None:
            return Health(HealthStatus.UNKNOWN, check.syntax_error)
        key = _version_key(check, obj, not self.inline)
        now = self.clock()
        with self._lock:
            aside = self._aside.get(check.digest)
            if aside is not None and aside.until > now:
                return Health(HealthStatus.UNKNOWN, aside.reason)
            cached = self._cache.get(key) if key is not None else None
            if cached is not None and cached[0] > now:
                return cached[1]
        return None

    def unjudged(self, objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The objects a script covers whose verdict is not ready (cheap: no Lua)."""
        waiting: list[Mapping[str, Any]] = []
        for obj in objects:
            check = self.find(object_key(obj))
            if check is not None and self._known(check, obj) is None:
                waiting.append(obj)
        return waiting

    def judge_all(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Judge ``objects`` and keep the verdicts (blocks: call it in a worker thread)."""
        for obj in objects:
            check = self.find(object_key(obj))
            if check is not None:
                self.run(check, obj)

    def _ready(self, check: LuaCheck, obj: Mapping[str, Any]) -> Health:
        known = self._known(check, obj)
        if known is not None:
            return known
        key = _version_key(check, obj, not self.inline)
        with self._lock:
            start = key not in self._running and self._background.acquire(blocking=False)
            if start and key is not None:
                self._running.add(key)
        if start:

            def work() -> None:
                try:
                    self.run(check, obj)
                finally:
                    with self._lock:
                        self._running.discard(key)
                    self._background.release()

            threading.Thread(target=work, name=f"lua {check.key}", daemon=True).start()
        return Health(HealthStatus.UNKNOWN, f"{check.origin}: being evaluated")

    def run(self, check: LuaCheck, obj: Mapping[str, Any]) -> Health:
        """The health ``check`` gives ``obj`` (never raises)."""
        known = self._known(check, obj)
        if known is not None:
            return known
        key = _version_key(check, obj, not self.inline)
        now = self.clock()
        health = self._judge(check, obj)
        with self._lock:
            aside = self._aside.get(check.digest)
            if key is not None and (aside is None or aside.until <= self.clock()):
                self._cache[key] = (now + CACHE_SECONDS, health)
                self._cache.move_to_end(key)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return health

    def _judge(self, check: LuaCheck, obj: Mapping[str, Any]) -> Health:
        result = self._run_bounded(check, obj)
        if result is None:
            reason = (
                f"{check.origin}: did not return {self.limit + GRACE:g} s after it started "
                "(stuck outside Lua code); not run again until its text changes"
            )
            self._set_aside(check, float("inf"), reason)
            return Health(HealthStatus.UNKNOWN, reason)
        if result.outcome == "timeout":
            reason = (
                f"{check.origin}: {result.detail}; objects it covers are Unknown for "
                f"{self.cooldown:g} s"
            )
            self._set_aside(check, self.clock() + self.cooldown, reason)
            return Health(HealthStatus.UNKNOWN, reason)
        return verdict_of(result)

    def _set_aside(self, check: LuaCheck, until: float, reason: str) -> None:
        with self._lock:
            self._aside[check.digest] = _SetAside(until, reason)

    def _run_bounded(self, check: LuaCheck, obj: Mapping[str, Any]) -> RunResult | None:
        box: list[RunResult] = []

        def work() -> None:
            box.append(run_script(check.script, check.origin, obj, self.limit))

        worker = threading.Thread(target=work, name=f"lua {check.key}", daemon=True)
        worker.start()
        worker.join(self.limit + GRACE)
        return box[0] if box else None


def _version_key(
    check: LuaCheck, obj: Mapping[str, Any], by_content: bool
) -> tuple[str, str, str] | None:
    """(script, uid, resourceVersion) for a live object; for one without a version,
    (script, "content", digest of the object) if ``by_content`` (a prepared verdict must
    be found again), else None (not kept)."""
    metadata = obj.get("metadata")
    if isinstance(metadata, Mapping):
        uid, version = metadata.get("uid"), metadata.get("resourceVersion")
        if uid and version:
            return (check.digest, str(uid), str(version))
    if not by_content:
        return None
    text = json.dumps(obj, sort_keys=True, default=str).encode()
    return (check.digest, "content", hashlib.sha256(text).hexdigest())


def verdict_of(result: RunResult) -> Health:
    """Argo CD's reading of what a script returned."""
    if result.outcome == "ok":
        try:
            status = HealthStatus(result.detail) if result.detail is not None else None
        except ValueError:
            status = None
        if status is None:
            return Health(HealthStatus.UNKNOWN, INVALID_STATUS)
        return Health(status, result.message or "")
    if result.outcome == "type":
        return Health(
            HealthStatus.UNKNOWN, f"expect table output from Lua script, not {result.detail}"
        )
    return Health(HealthStatus.UNKNOWN, result.detail or result.outcome)
