"""The ``json`` module health scripts can ``require``, shaped like Argo CD's gopher-json."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.adapters.health.sandbox import run_script

ROUND_TRIP = """
local json = require("json")
local value, err = json.decode(obj.text)
if err ~= nil then return {status = "Degraded", message = err} end
local text, err2 = json.encode(value)
return {status = "Healthy", message = text or err2}
"""


def run(script: str, obj: dict[str, Any] | None = None) -> tuple[str, str | None, str | None]:
    result = run_script(script, "test.lua", obj or {})
    return result.outcome, result.detail, result.message


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ('{"b": [1, 2.5, "x"], "a": {"c": true}}', '{"a":{"c":true},"b":[1,2.5,"x"]}'),
        ("[]", "[]"),
        ("{}", "[]"),  # gopher-json writes any empty table as an array
        ("[1, null, 3]", "[1,3]"),  # a null in an array is left out
        ('{"a": null, "b": 1}', '{"b":1}'),
        ('"caf\\u00e9 \\ud83d\\ude00"', '"café 😀"'),
        ('"<a & b>"', '"\\u003ca \\u0026 b\\u003e"'),  # Go escapes HTML characters
        ('"tab\\there\\nline"', '"tab\\there\\nline"'),
        ("123456789012", "123456789012"),
        ("-0.000001", "-0.000001"),
        ("1.5e-7", "1.5e-7"),
        ("2.5e22", "2.5e+22"),
        ("  true ", "true"),
    ],
)
def test_decode_then_encode(text: str, encoded: str) -> None:
    assert run(ROUND_TRIP, {"text": text}) == ("ok", "Healthy", encoded)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[1,", "unexpected end of JSON input"),
        ("01", "invalid number"),
        ("1e400", "invalid number"),
        ("nul", "invalid literal"),
        ('{"a" 1}', "expected ':'"),
        ("[1] x", "after top-level value"),
        ("[" * 2000, "nesting deeper than"),
    ],
)
def test_decode_refuses_what_is_not_json(text: str, error: str) -> None:
    outcome, status, message = run(ROUND_TRIP, {"text": text})
    assert (outcome, status) == ("ok", "Degraded")
    assert message is not None
    assert error in message


@pytest.mark.parametrize(
    ("build", "error"),
    [
        ("local t = {}; t.self = t; return t", "cannot encode recursively nested tables to JSON"),
        ("return {1, nil, 3}", "cannot encode sparse array"),
        ("return {1, a = 2}", "cannot encode mixed or invalid key types"),
        ("return {f = print}", "cannot encode function to JSON"),
    ],
)
def test_encode_refuses_what_json_cannot_hold(build: str, error: str) -> None:
    script = (
        'local json = require("json")\n'
        f"local value = (function() {build} end)()\n"
        "local text, err = json.encode(value)\n"
        'return {status = "Degraded", message = tostring(text) .. "|" .. tostring(err)}\n'
    )
    assert run(script) == ("ok", "Degraded", f"nil|{error}")


def test_a_script_reads_conditions_kept_as_json_in_an_annotation() -> None:
    # The shape of Argo CD's HorizontalPodAutoscaler check, written for this test.
    script = """
local json = require("json")
local kept = obj.metadata.annotations["example.com/conditions"]
for _, condition in ipairs(json.decode(kept)) do
  if condition.reason == "Stuck" then
    return {status = "Degraded", message = condition.message}
  end
end
return {status = "Healthy", message = ""}
"""
    obj = {
        "metadata": {
            "annotations": {
                "example.com/conditions": '[{"reason":"Fine"},{"reason":"Stuck","message":"x\'s"}]'
            }
        }
    }
    assert run(script, obj) == ("ok", "Degraded", "x's")


def test_the_module_is_not_a_way_out_of_the_sandbox() -> None:
    script = """
local json = require("json")
local seen = {}
for k, v in pairs(json) do seen[#seen + 1] = k .. ":" .. type(v) end
table.sort(seen)
local reached = tostring(io) .. " " .. tostring(debug)
return {status = "Healthy", message = table.concat(seen, " ") .. " " .. reached}
"""
    assert run(script) == ("ok", "Healthy", "decode:function encode:function nil nil")


def test_a_script_decoding_forever_is_still_stopped() -> None:
    script = """
local json = require("json")
local text = "[" .. string.rep("1,", 100000) .. "1]"
while true do json.decode(text) end
"""
    result = run_script(script, "test.lua", {}, limit=0.3)
    assert result.outcome == "timeout"
