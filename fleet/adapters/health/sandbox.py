"""Run one Lua health script on one object, in a sandbox that matches Argo CD's.

Each run gets a fresh LuaJIT state (lupa's ``luajit21``; about 0.1 ms to create), so
nothing a script does (globals, changed library tables) outlives it. lupa opens the whole
standard library and a bridge to Python; the script sees none of that. It runs in an
environment built here from a list of names:

- base functions without ``dofile``, ``loadfile``, ``getfenv``/``setfenv``,
  ``collectgarbage`` and the ``python`` bridge; ``print`` does nothing; ``load`` and
  ``loadstring`` compile source text only (never bytecode) into the same sandbox;
  ``require`` hands out only the libraries below (Argo CD preloads ``os`` the same way)
  and ``json`` (fleet.adapters.health.luajson, as Argo CD preloads gopher-json);
- ``string`` (without ``dump``, also taken off the table strings index), ``table``,
  ``math``, and ``os`` with ``time``, ``date``, ``clock`` and ``difftime`` only (Argo CD's
  own jetstream.nats.io/Consumer check calls ``os.difftime``);
- no ``io``, ``debug``, ``package``, ``jit``, ``ffi``, ``coroutine``.

Time: JIT compilation is switched off for the state (compiled loops skip hooks) and a
count hook checks a monotonic clock (read through LuaJIT's FFI, without the GIL) every
1000 instructions; past the deadline it raises, and keeps raising, an error no ``pcall``
in the script can keep (the sandbox's ``pcall``/``xpcall`` re-raise it). Memory: lupa's
allocator limit. A C function that never returns (a pathological pattern) is beyond the
hook: the caller runs this in a thread it can walk away from (fleet.adapters.health.checks).

The object reaches Lua as tables of plain values (numbers are doubles, as in Argo CD);
no Python object is ever handed to the script.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import lupa.luajit21 as luajit

from fleet.adapters.health.luajson import JSON_MODULE, MAX_DEPTH

#: Argo CD stops a health script after one second.
TIME_LIMIT = 1.0
#: Memory for one run (the object's tables included).
MEMORY_LIMIT = 64 * 1024 * 1024

_SETUP = r"""
local limit, json_source, json_depth = ...
jit.off()
jit.flush()
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } fleet_timespec;
int clock_gettime(int clock, fleet_timespec *out);
]]
local C, stamp = ffi.C, ffi.new("fleet_timespec")
local function now()
  C.clock_gettime(1, stamp)
  return tonumber(stamp.tv_sec) + tonumber(stamp.tv_nsec) * 1e-9
end
local sethook, error_, pcall_, xpcall_ = debug.sethook, error, pcall, xpcall
local loadstring_, setfenv_, type_, tostring_ = loadstring, setfenv, type, tostring
local concat = table.concat

string.dump = nil

local function copy(from, names)
  local into = {}
  for _, name in ipairs(names) do into[name] = from[name] end
  return into
end
local function copy_all(from)
  local into = {}
  for k, v in pairs(from) do into[k] = v end
  return into
end

local env = copy(_G, {
  "assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget", "rawset",
  "select", "tonumber", "tostring", "type", "unpack", "getmetatable", "setmetatable",
  "_VERSION",
})
env.string = copy_all(string)
env.table = copy_all(table)
env.math = copy_all(math)
env.os = {time = os.time, date = os.date, clock = os.clock, difftime = os.difftime}
env._G = env
env.print = function() end

local stopped = false
local STOP = "the health check ran longer than " .. tostring_(limit) .. " s and was stopped"
local function keep_stopped(...)
  if stopped then error_(STOP, 0) end
  return ...
end
env.pcall = function(...) return keep_stopped(pcall_(...)) end
env.xpcall = function(fn, handler, ...)
  local function handle(err)
    if stopped then return err end
    return handler(err)
  end
  return keep_stopped(xpcall_(fn, handle, ...))
end

local modules = {string = env.string, table = env.table, math = env.math, os = env.os}
env.require = function(name)
  if name == "json" and modules.json == nil then
    -- Built on first use, outside the script's environment (see luajson).
    modules.json = loadstring_(json_source, "=json")(json_depth)
  end
  local found = modules[name]
  if found == nil then
    error_("module '" .. tostring_(name) .. "' is not available to health checks", 2)
  end
  return found
end

local function compile(text, name)
  if type_(text) == "function" then
    local parts = {}
    while true do
      local part = text()
      if part == nil or part == "" then break end
      parts[#parts + 1] = part
    end
    text = concat(parts)
  end
  if type_(text) ~= "string" then return nil, "load takes source text" end
  if text:byte(1) == 27 then return nil, "binary chunks are not loaded" end
  local fn, err = loadstring_(text, name)
  if fn == nil then return nil, err end
  return setfenv_(fn, env)
end
env.load = function(text, name) return compile(text, name) end
env.loadstring = function(text, name) return compile(text, name) end

return function(script, chunkname, obj)
  local fn, err = loadstring_(script, chunkname)
  if fn == nil then return "syntax", err end
  setfenv_(fn, env)
  env.obj = obj
  local deadline = now() + limit
  sethook(function()
    if stopped or now() > deadline then
      stopped = true
      error_(STOP, 0)
    end
  end, "", 1000)
  local ok, result = pcall_(fn)
  if not ok and not stopped then
    -- An error value may be a table whose __tostring is the script's own code: turn it
    -- into text while the hook still watches the clock.
    local shown, text = pcall_(tostring_, result)
    result = shown and type_(text) == "string" and text or "an error that cannot be shown"
  end
  sethook()
  if stopped then return "timeout", STOP end
  if not ok then return "error", result end
  if type_(result) ~= "table" then return "type", type_(result) end
  local status, message = rawget(result, "status"), rawget(result, "message")
  if type_(message) == "number" then message = tostring_(message) end
  if type_(status) ~= "string" then status = nil end
  if type_(message) ~= "string" then message = nil end
  return "ok", status, message
end
"""

_CHECK_SYNTAX = r"""
local script, chunkname = ...
local fn, err = loadstring(script, chunkname)
if fn == nil then return err end
return nil
"""


#: What Lua calls the script in messages; replaced by the script's full name after, since
#: Lua cuts a chunk name longer than 60 characters down to its tail.
_CHUNK = "<health.lua>"


def _named(text: str | None, chunkname: str) -> str | None:
    return None if text is None else text.replace(f"{_CHUNK}:", f"{chunkname}:")


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a script did: ``ok`` (with its status and message, either may be None),
    ``syntax``/``error``/``timeout`` (with the error text) or ``type`` (what it
    returned instead of a table)."""

    outcome: str
    detail: str | None = None
    message: str | None = None


def _runtime() -> Any:
    return luajit.LuaRuntime(
        register_eval=False,
        register_builtins=False,
        unpack_returned_tuples=True,
        max_memory=MEMORY_LIMIT,
    )


def _to_lua(runtime: Any, value: Any) -> Any:
    """Plain Lua values for a JSON-like Python value (None inside a map is left out)."""
    if isinstance(value, Mapping):
        return runtime.table_from(
            {str(k): _to_lua(runtime, v) for k, v in value.items() if v is not None}
        )
    if isinstance(value, list | tuple):
        return runtime.table_from([_to_lua(runtime, v) for v in value])
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return str(value)


def run_script(
    script: str, chunkname: str, obj: Mapping[str, Any], limit: float = TIME_LIMIT
) -> RunResult:
    """Run ``script`` with ``obj`` as the global ``obj``; never raises for script faults."""
    try:
        runtime = _runtime()
        runner = runtime.execute(_SETUP, limit, JSON_MODULE, MAX_DEPTH)
        returned = runner(script, f"={_CHUNK}", _to_lua(runtime, obj))
    except luajit.LuaMemoryError:
        return RunResult("error", f"{chunkname}: not enough memory (limit {MEMORY_LIMIT} bytes)")
    except luajit.LuaError as error:
        return RunResult("error", _named(str(error), chunkname))
    outcome, *rest = returned if isinstance(returned, tuple) else (returned,)
    values = [*rest, None, None]
    if outcome == "ok":
        return RunResult("ok", values[0], values[1])
    return RunResult(str(outcome), _named(values[0], chunkname), values[1])


def syntax_error(script: str, chunkname: str) -> str | None:
    """The compiler's message if ``script`` is not valid Lua (LuaJIT 2.1), else None."""
    runtime = luajit.LuaRuntime(register_eval=False, register_builtins=False)
    found = runtime.execute(_CHECK_SYNTAX, script, f"={_CHUNK}")
    return _named(None if found is None else str(found), chunkname)
