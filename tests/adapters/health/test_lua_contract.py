"""Argo CD's Lua health contract, as fleet runs it: one row, one behaviour.

Each script gets the object as ``obj`` and returns ``{status, message}``; anything else
(no table, no valid status, an error, a script that runs too long) is Unknown with a
reason that names the script.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from fleet.adapters.health.checks import INVALID_STATUS, LuaCheck, LuaHealthChecks
from fleet.adapters.health.loading import compiled
from fleet.model.health import Health, HealthStatus

H, P, D, S, M, U = (
    HealthStatus.HEALTHY,
    HealthStatus.PROGRESSING,
    HealthStatus.DEGRADED,
    HealthStatus.SUSPENDED,
    HealthStatus.MISSING,
    HealthStatus.UNKNOWN,
)

WIDGET: dict[str, Any] = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "web", "generation": 3},
    "spec": {"replicas": 3, "paused": False, "tags": ["a", "b"]},
    "status": {"phase": "Ready", "readyReplicas": 3, "conditions": [{"type": "Ready"}]},
}


def judge(script: str, obj: dict[str, Any] | None = None, **options: Any) -> Health:
    check = compiled("example.com/Widget", script, "widgets/health.lua")
    return LuaHealthChecks([[check]], **options).run(check, obj or WIDGET)


CONTRACT = [
    ("status and message", 'return {status = "Healthy", message = "all good"}', H, "all good"),
    ("every valid status: Suspended", 'return {status = "Suspended"}', S, ""),
    ("every valid status: Missing", 'return {status = "Missing"}', M, ""),
    ("every valid status: Degraded", 'return {status = "Degraded", message = "x"}', D, "x"),
    ("every valid status: Unknown", 'return {status = "Unknown"}', U, ""),
    (
        "the object is the global obj",
        "return {status = 'Progressing', message = obj.status.phase}",
        P,
        "Ready",
    ),
    (
        "numbers reach Lua as floats, and print without a fraction when whole",
        'return {status = "Healthy", message = type(obj.spec.replicas) .. " " .. '
        "obj.spec.replicas / 2}",
        H,
        "number 1.5",
    ),
    (
        "arrays are 1-based tables with a length",
        'return {status = "Healthy", message = #obj.spec.tags .. obj.spec.tags[1]}',
        H,
        "2a",
    ),
    (
        "booleans stay booleans",
        'return {status = obj.spec.paused and "Suspended" or "Healthy"}',
        H,
        "",
    ),
    ("a missing field is nil", 'return {status = obj.status.nothing == nil and "Healthy"}', H, ""),
    (
        "a table without status is Unknown, as in Argo CD",
        'return {message = "forgot"}',
        U,
        INVALID_STATUS,
    ),
    ("a status outside the six is Unknown", 'return {status = "Fine"}', U, INVALID_STATUS),
    ("a status in the wrong case is Unknown", 'return {status = "healthy"}', U, INVALID_STATUS),
    (
        "returning nothing is Unknown",
        "local x = 1",
        U,
        "expect table output from Lua script, not nil",
    ),
    (
        "returning a string is Unknown",
        'return "Healthy"',
        U,
        "expect table output from Lua script, not string",
    ),
    ("a numeric message is kept as text", 'return {status = "Healthy", message = 3}', H, "3"),
    (
        "goto works (LuaJIT 2.1)",
        'for i = 1, 3 do if i == 2 then goto out end end ::out:: return {status = "Healthy"}',
        H,
        "",
    ),
    (
        "the string, table, math and os libraries are there",
        'return {status = "Healthy", message = string.upper("a") .. table.concat({1, 2}, ",") '
        '.. math.floor(2.5) .. type(os.time()) .. type(os.date("!%Y")) .. type(os.clock())}',
        H,
        "A1,22numberstringnumber",
    ),
    ("string methods on values", 'return {status = "Healthy", message = ("abc"):sub(2)}', H, "bc"),
    (
        "os.difftime, and os.time of a table of numeric strings (as a matched timestamp)",
        'local y, m, d = string.match("2024-01-02", "(%d+)-(%d+)-(%d+)") '
        "local t = os.time{year = y, month = m, day = d, hour = 0} "
        'return {status = "Healthy", message = tostring(os.difftime(t + 30, t))}',
        H,
        "30",
    ),
    (
        "require of a library Argo CD preloads",
        'local os = require("os") return {status = "Healthy", message = type(os.time)}',
        H,
        "function",
    ),
    (
        "pcall catches a script's own error",
        'local ok = pcall(error, "boom") return {status = ok and "Degraded" or "Healthy"}',
        H,
        "",
    ),
    (
        "load compiles text into the same sandbox",
        'local f = load("return 1 + 1") return {status = "Healthy", message = f()}',
        H,
        "2",
    ),
    ("print does nothing (and does not fail)", 'print("hi") return {status = "Healthy"}', H, ""),
]


@pytest.mark.parametrize(
    ("script", "status", "message"),
    [row[1:] for row in CONTRACT],
    ids=[row[0] for row in CONTRACT],
)
def test_contract(script: str, status: HealthStatus, message: str) -> None:
    assert judge(script) == Health(status, message)


ERRORS = [
    (
        "a runtime error names the file and line",
        "local x = nil\nreturn x.y",
        "widgets/health.lua:2: attempt to index local 'x'",
    ),
    ("error() with a message", 'error("custom failure")', "widgets/health.lua:1: custom failure"),
    ("a syntax error names the file and line", "return {", "widgets/health.lua:1:"),
]


@pytest.mark.parametrize(
    ("script", "fragment"), [row[1:] for row in ERRORS], ids=[row[0] for row in ERRORS]
)
def test_errors_are_unknown_with_the_error(script: str, fragment: str) -> None:
    health = judge(script)
    assert health.status is U
    assert fragment in health.message


ESCAPES = [
    ("io.open", 'io.open("/etc/passwd")', "global 'io'"),
    ("os.execute", 'os.execute("id")', "field 'execute'"),
    ("os.exit", "os.exit(1)", "field 'exit'"),
    ("os.getenv", 'return {status = "Healthy", message = os.getenv("HOME")}', "field 'getenv'"),
    ("require of io", 'require("io")', "module 'io' is not available"),
    ("require of ffi", 'require("ffi")', "module 'ffi' is not available"),
    ("require of a file", 'require("some.module")', "is not available"),
    ("loadfile", 'loadfile("/etc/passwd")', "global 'loadfile'"),
    ("dofile", 'dofile("/etc/passwd")', "global 'dofile'"),
    ("load of text that does io", "load(\"io.open('/etc/passwd')\")()", "global 'io'"),
    (
        "loadstring of text that reaches os.execute",
        "loadstring(\"os.execute('id')\")()",
        "field 'execute'",
    ),
    ("load of bytecode", 'assert(load("\\27LJ\\2"))', "binary chunks are not loaded"),
    ("debug", "debug.getinfo(1)", "global 'debug'"),
    ("debug.sethook to lift the time limit", "debug.sethook()", "global 'debug'"),
    ("string.dump", "string.dump(print)", "field 'dump'"),
    (
        "string.dump through the strings' metatable",
        'getmetatable("").__index.dump(print)',
        "field 'dump'",
    ),
    ("collectgarbage", 'collectgarbage("stop")', "global 'collectgarbage'"),
    ("getfenv to reach the real globals", "getfenv(0).io.open('/etc/passwd')", "global 'getfenv'"),
    ("setfenv", "setfenv(1, {})", "global 'setfenv'"),
    ("the python bridge", "python.eval('1')", "global 'python'"),
    ("package.loadlib", 'package.loadlib("libc.so.6", "system")', "global 'package'"),
    ("jit", "jit.on()", "global 'jit'"),
    (
        "coroutine (its threads would escape the time limit)",
        "coroutine.create(print)",
        "global 'coroutine'",
    ),
    ("_G is the sandbox", "_G.io.open('/etc/passwd')", "field 'io'"),
]


@pytest.mark.parametrize(
    ("script", "fragment"), [row[1:] for row in ESCAPES], ids=[row[0] for row in ESCAPES]
)
def test_sandbox_escapes_are_refused(script: str, fragment: str) -> None:
    health = judge(script)
    assert health.status is U
    assert fragment in health.message


def test_globals_do_not_leak_between_runs() -> None:
    leaky = compiled(
        "example.com/Widget",
        'seen = (seen or 0) + 1 string.upper = nil return {status = "Healthy", message = seen}',
        "leaky.lua",
    )
    checks = LuaHealthChecks([[leaky]])
    assert checks.run(leaky, WIDGET) == Health(H, "1")
    assert checks.run(leaky, WIDGET) == Health(H, "1")
    assert judge('return {status = "Healthy", message = string.upper("x")}') == Health(H, "X")


LOOPS = [
    ("while true do end", "while true do end"),
    ("a counting loop the JIT would compile", "local i = 0 while true do i = i + 1 end"),
    ("a loop around pcall", "while true do pcall(function() while true do end end) end"),
    (
        "an error handler that loops",
        "while true do xpcall(function() while true do end end, function() while true do end end)"
        " end",
    ),
    ("recursion through pcall", "local function f() pcall(f) f() end f()"),
    (
        "an error whose __tostring loops, raised for the runner to print",
        "error(setmetatable({}, {__tostring = function() while true do end end}))",
    ),
]


@pytest.mark.parametrize("script", [row[1] for row in LOOPS], ids=[row[0] for row in LOOPS])
def test_a_script_is_stopped_after_its_time(script: str) -> None:
    started = time.monotonic()
    health = judge(script, limit=0.3)
    took = time.monotonic() - started
    assert health.status is U
    assert "widgets/health.lua" in health.message
    assert "stopped" in health.message or "stack overflow" in health.message
    assert took < 0.3 + 0.6


def test_a_stopped_script_is_set_aside_for_the_cooldown() -> None:
    now = [100.0]
    check = compiled("example.com/Widget", "while true do end", "loop.lua")
    checks = LuaHealthChecks([[check]], limit=0.2, cooldown=60.0, clock=lambda: now[0])
    first = checks.run(check, WIDGET)
    assert "stopped" in first.message
    started = time.monotonic()
    again = checks.run(check, WIDGET)
    assert time.monotonic() - started < 0.05  # not run: Unknown at once
    assert again == first
    now[0] += 61.0
    started = time.monotonic()
    checks.run(check, WIDGET)
    assert time.monotonic() - started >= 0.2  # run again after the cooldown


def test_a_script_stuck_in_c_code_is_abandoned_and_not_run_again() -> None:
    # A pattern that backtracks for seconds inside string.find: no hook fires there.
    # Seconds on any machine (2-4 s here): with 30 letters it took 0.5-1 s, and a
    # loaded machine that woke the waiter late found it finished (Healthy).
    script = (
        "local s = string.rep('a', 37) "
        "string.find(s, '(.-)(.-)(.-)(.-)(.-)(.-)(.-)b') return {status = 'Healthy'}"
    )
    check = compiled("example.com/Widget", script, "pattern.lua")
    checks = LuaHealthChecks([[check]], limit=0.2)
    started = time.monotonic()
    health = checks.run(check, WIDGET)
    assert time.monotonic() - started < 0.2 + 0.5 + 0.3
    assert health.status is U
    assert "pattern.lua: did not return" in health.message
    started = time.monotonic()
    assert checks.run(check, WIDGET).status is U
    assert time.monotonic() - started < 0.05
    for thread in threading.enumerate():  # leave no thread behind (it ends by itself)
        if thread.name.startswith("lua "):
            thread.join(30)


def test_memory_is_bounded() -> None:
    health = judge("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end")
    assert health.status is U
    assert "not enough memory" in health.message


def check(key: str, status: str) -> LuaCheck:
    return compiled(key, f'return {{status = "{status}", message = "{key}"}}', key)


def obj(api: str, kind: str) -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "x"}}


LOOKUP = [
    (
        "exact key",
        [[check("argoproj.io/Rollout", "Healthy")]],
        obj("argoproj.io/v1alpha1", "Rollout"),
        "argoproj.io/Rollout",
    ),
    (
        "core group: the kind alone",
        [[check("Service", "Healthy")]],
        obj("v1", "Service"),
        "Service",
    ),
    (
        "wildcard group",
        [[check("*.crossplane.io/*", "Healthy")]],
        obj("ec2.aws.crossplane.io/v1", "Instance"),
        "*.crossplane.io/*",
    ),
    (
        "exact before a wildcard written first",
        [[check("*.io/*", "Degraded"), check("argoproj.io/Rollout", "Healthy")]],
        obj("argoproj.io/v1alpha1", "Rollout"),
        "argoproj.io/Rollout",
    ),
    (
        "first matching wildcard in the order written",
        [[check("*.example.com/*", "Healthy"), check("*/*", "Degraded")]],
        obj("a.example.com/v1", "Thing"),
        "*.example.com/*",
    ),
    (
        "an earlier tier's wildcard before a later tier's exact key",
        [[check("*.io/*", "Degraded")], [check("argoproj.io/Rollout", "Healthy")]],
        obj("argoproj.io/v1alpha1", "Rollout"),
        "*.io/*",
    ),
    (
        "a later tier when earlier ones do not cover the kind",
        [[check("other.io/Thing", "Degraded")], [check("argoproj.io/Rollout", "Healthy")]],
        obj("argoproj.io/v1alpha1", "Rollout"),
        "argoproj.io/Rollout",
    ),
    (
        "no script: None (the engine's built-ins decide)",
        [[check("argoproj.io/Rollout", "Healthy")]],
        obj("apps/v1", "Deployment"),
        None,
    ),
    (
        "a wildcard group does not match the core group's bare key",
        [[check("*.k8s.io/*", "Healthy")]],
        obj("v1", "ConfigMap"),
        None,
    ),
]


@pytest.mark.parametrize(
    ("tiers", "live", "decided"), [row[1:] for row in LOOKUP], ids=[row[0] for row in LOOKUP]
)
def test_lookup(tiers: list[list[LuaCheck]], live: dict[str, Any], decided: str | None) -> None:
    verdict = LuaHealthChecks(tiers)(live)
    if decided is None:
        assert verdict is None
    else:
        assert verdict is not None
        assert verdict.health.message == decided
        assert verdict.decided_by == f"Lua {decided}"


def test_a_live_objects_verdict_is_kept_per_resource_version_for_a_minute() -> None:
    # os.clock() differs at every run: the same message means the script did not run.
    check = compiled(
        "example.com/Widget",
        "local t = os.clock() while os.clock() == t do end "
        'return {status = "Healthy", message = tostring(os.clock())}',
        "clock.lua",
    )
    now = [0.0]
    checks = LuaHealthChecks([[check]], clock=lambda: now[0])
    live = {**WIDGET, "metadata": {**WIDGET["metadata"], "uid": "u1", "resourceVersion": "7"}}
    first = checks.run(check, live)
    assert checks.run(check, live) == first
    changed = {**live, "metadata": {**live["metadata"], "resourceVersion": "8"}}
    assert checks.run(check, changed) != first
    now[0] += 61.0
    assert checks.run(check, live) != first
    assert checks.run(check, WIDGET) != checks.run(check, WIDGET)  # no version: never kept
