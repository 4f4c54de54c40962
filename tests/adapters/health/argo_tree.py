"""Write a tree of health checks in Argo CD's ``resource_customizations`` layout.

``<group>/<kind>/health.lua`` with ``health_test.yaml`` and ``testdata/`` beside it, for
as many kinds as asked, plus a core-group kind and a wildcard directory. The scripts are
fleet's own, written in the idioms Argo CD's scripts use: ``obj.status ~= nil`` guards,
``ipairs``/``pairs`` over conditions, ``goto continue``, ``string.find``/``match``/
``sub``/``format``/``gmatch``/``lower``, ``table.insert``/``getn``/``concat``/``sort``,
``tonumber``/``type``/``pcall``, ``os.time``/``os.date`` (the UTC ``!`` form included),
``os.difftime`` and ``require("os")``. Each kind's cases know their expected verdicts, so
the tree is a test of the sandbox as much as of ``fleet health test``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

Case = tuple[str, dict[str, Any], str, str]  # file name, status, expected status, message

CONDITIONS = """\
local hs = {status = "Progressing", message = "waiting for conditions"}
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type ~= "Ready" and condition.type ~= "Stalled" then
      goto continue
    end
    if condition.type == "Stalled" and condition.status == "True" then
      return {status = "Degraded", message = string.format("stalled: %s", condition.reason or "?")}
    end
    if condition.status == "True" then
      hs.status = "Healthy"
      hs.message = condition.message or "ready"
    elseif condition.status == "False" then
      hs.status = "Degraded"
      hs.message = condition.message
    end
    ::continue::
  end
end
return hs
"""

PHASE = """\
local hs = {}
if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "no phase yet"
  return hs
end
local phase = string.lower(obj.status.phase)
if string.find(phase, "fail", 1, true) ~= nil then
  hs.status = "Degraded"
elseif phase:match("^run") or phase:sub(1, 4) == "pend" then
  hs.status = "Progressing"
elseif phase == "paused" then
  hs.status = "Suspended"
else
  hs.status = "Healthy"
end
hs.message = string.format("%s is %s", obj.metadata.name, phase)
return hs
"""

EXPIRY = """\
local os = require("os")
if obj.status == nil or type(obj.status.notAfter) ~= "string" then
  return {status = "Progressing", message = "not issued"}
end
local pattern = "^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z$"
local y, mo, d, h, mi, s = string.match(obj.status.notAfter, pattern)
if y == nil then
  return {status = "Degraded", message = "bad time " .. obj.status.notAfter}
end
local stamp = os.date("!%Y-%m-%dT%H:%M:%SZ")
if string.match(stamp, "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$") == nil then
  return {status = "Unknown", message = "os.date gave " .. stamp}
end
local expires = os.time({year = tonumber(y), month = tonumber(mo), day = tonumber(d),
  hour = tonumber(h), min = tonumber(mi), sec = tonumber(s)})
if os.difftime(expires, os.time()) <= 0 then
  return {status = "Degraded", message = string.format("expired on %s-%s-%s", y, mo, d)}
end
return {status = "Healthy", message = "valid until " .. os.date("!%Y", expires - 86400 * 2) .. "+"}
"""

LISTS = """\
local hs = {status = "Healthy", message = ""}
if obj.status == nil then
  return {status = "Progressing", message = "no status"}
end
local missing = {}
local wanted = obj.spec and obj.spec.members or ""
for name in string.gmatch(wanted, "[^,]+") do
  local found = false
  for _, member in ipairs(obj.status.members or {}) do
    if member == name then found = true end
  end
  if not found then table.insert(missing, name) end
end
if table.getn(missing) > 0 then
  table.sort(missing)
  return {status = "Progressing", message = "missing " .. table.concat(missing, ", ")}
end
local keys = {}
for key, value in pairs(obj.status.labels or {}) do
  table.insert(keys, key .. "=" .. tostring(value))
end
table.sort(keys)
hs.message = string.format("%d members; %s", #obj.status.members, table.concat(keys, " "))
return hs
"""

REPLICAS = """\
if obj.status == nil then
  return {status = "Progressing", message = "waiting for status"}
end
local ok, wanted = pcall(function() return tonumber(obj.spec.replicas) or 1 end)
if not ok then wanted = 1 end
local ready = obj.status.readyReplicas or 0
if type(ready) ~= "number" then
  return {status = "Degraded", message = "readyReplicas is a " .. type(ready)}
end
if ready < wanted then
  return {status = "Progressing", message = string.format("%d/%d ready (%d%%)", ready, wanted,
    math.floor(ready * 100 / wanted))}
end
return {status = "Healthy", message = ready .. "/" .. wanted .. " ready"}
"""


def _conditions(i: int) -> tuple[str, list[Case]]:
    ready = {
        "conditions": [
            {"type": "Synced", "status": "True"},
            {"type": "Ready", "status": "True", "message": f"up {i}"},
        ]
    }
    stalled = {"conditions": [{"type": "Stalled", "status": "True", "reason": "Quota"}]}
    failing = {"conditions": [{"type": "Ready", "status": "False", "message": "no nodes"}]}
    return CONDITIONS, [
        ("healthy", ready, "Healthy", f"up {i}"),
        ("stalled", stalled, "Degraded", "stalled: Quota"),
        ("degraded", failing, "Degraded", "no nodes"),
        ("no_status", {}, "Progressing", "waiting for conditions"),
    ]


def _phase(i: int) -> tuple[str, list[Case]]:
    name = f"obj-{i}"
    return PHASE, [
        ("failed", {"phase": "Failed"}, "Degraded", f"{name} is failed"),
        ("running", {"phase": "Running"}, "Progressing", f"{name} is running"),
        ("pending", {"phase": "Pending"}, "Progressing", f"{name} is pending"),
        ("paused", {"phase": "Paused"}, "Suspended", f"{name} is paused"),
        ("done", {"phase": "Succeeded"}, "Healthy", f"{name} is succeeded"),
    ]


def _expiry(i: int) -> tuple[str, list[Case]]:
    return EXPIRY, [
        ("valid", {"notAfter": "2999-06-30T12:00:00Z"}, "Healthy", "valid until 2999+"),
        ("expired", {"notAfter": "2001-01-31T00:00:00Z"}, "Degraded", "expired on 2001-01-31"),
        ("bad", {"notAfter": "soon"}, "Degraded", "bad time soon"),
        ("not_issued", {}, "Progressing", "not issued"),
    ]


def _lists(i: int) -> tuple[str, list[Case]]:
    full = {"members": ["a", "b", "c"], "labels": {"zone": "x", "tier": i}}
    return LISTS, [
        ("complete", full, "Healthy", f"3 members; tier={i} zone=x"),
        ("partial", {"members": ["b"]}, "Progressing", "missing a, c"),
        ("no_status", {}, "Progressing", "no status"),
    ]


def _replicas(i: int) -> tuple[str, list[Case]]:
    return REPLICAS, [
        ("ready", {"readyReplicas": 3}, "Healthy", "3/3 ready"),
        ("partly", {"readyReplicas": 1}, "Progressing", "1/3 ready (33%)"),
        ("odd", {"readyReplicas": "x"}, "Degraded", "readyReplicas is a string"),
    ]


KINDS: list[Callable[[int], tuple[str, list[Case]]]] = [
    _conditions,
    _phase,
    _expiry,
    _lists,
    _replicas,
]


def _object(api_version: str, kind: str, i: int, status: dict[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": f"obj-{i}", "namespace": "ns"},
        "spec": {"replicas": 3, "members": "a,b,c"},
    }
    if status:
        obj["status"] = status
    return obj


def _write_kind(directory: Path, api_version: str, kinds: list[str], i: int) -> int:
    script, cases = KINDS[i % len(KINDS)](i)
    (directory / "testdata").mkdir(parents=True)
    (directory / "health.lua").write_text(script)
    tests = []
    for n, (name, status, expected, message) in enumerate(cases):
        kind = kinds[n % len(kinds)]
        path = f"testdata/{name}.yaml"
        (directory / path).write_text(yaml.safe_dump(_object(api_version, kind, i, status)))
        tests.append({"healthStatus": {"status": expected, "message": message}, "inputPath": path})
    (directory / "health_test.yaml").write_text(yaml.safe_dump({"tests": tests}, sort_keys=False))
    return len(cases)


def write_argo_tree(root: Path, kinds: int) -> int:
    """``kinds`` checks under ``root`` (the last two: a core kind and a wildcard
    directory); returns how many test cases were written."""
    cases = 0
    for i in range(kinds - 2):
        group = f"g{i // 3}.example.io"
        kind = f"Thing{i}"
        cases += _write_kind(root / group / kind, f"{group}/v1", [kind], i)
    i = kinds - 2
    cases += _write_kind(root / "Widget", "v1", ["Widget"], i)  # the core group
    i = kinds - 1
    wild = root / "_.wild.example.io" / "_"
    cases += _write_kind(wild, "db.wild.example.io/v1", ["Table", "Index"], i)
    return cases
