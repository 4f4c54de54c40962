"""The ``json`` module health scripts can ``require``, as Argo CD preloads one.

Argo CD's Lua runtime preloads gopher-json, and its own HorizontalPodAutoscaler check
reads the conditions kept as a JSON string in an annotation with ``json.decode``. This
is a module of the same shape, written in Lua so it runs inside the sandbox, under its
time hook and memory limit, with no bridge to Python:

- ``json.decode(text)`` returns the value (objects and arrays as tables, numbers as
  Lua numbers, ``null`` as nil, so a null inside an array is left out as gopher-json's
  append does), or ``nil, message`` when ``text`` is not JSON;
- ``json.encode(value)`` returns the text, or ``nil, message``: an empty table is
  ``[]``, a table with keys 1..n an array, a table with string keys an object (keys
  sorted, as Go's encoder sorts them); mixed keys, sparse arrays, a table met twice
  and values JSON has no form for are refused with gopher-json's messages.

Nesting deeper than :data:`MAX_DEPTH` is refused rather than left to overflow the stack.
"""

from __future__ import annotations

#: Deepest nesting decode and encode accept (Go's decoder stops at 10000).
MAX_DEPTH = 1000

#: Lua source of the module: a chunk taking the nesting limit, returning the table.
JSON_MODULE = r"""
local max_depth = ...
local byte, sub, find = string.byte, string.sub, string.find
local char, format = string.char, string.format
local concat, sort, floor, huge = table.concat, table.sort, math.floor, math.huge
local type_, pairs_, tostring_, tonumber_ = type, pairs, tostring, tonumber
local error_, pcall_ = error, pcall
local tojson_nil = {}

local function fail(text, at, what)
  error_({json = format("%s at offset %d", what, at - 1)}, 0)
end

local function skip(text, at)
  local _, last = find(text, "^[ \t\r\n]*", at)
  return last + 1
end

local function utf8(code)
  if code < 0x80 then return char(code) end
  if code < 0x800 then return char(0xC0 + floor(code / 0x40), 0x80 + code % 0x40) end
  if code < 0x10000 then
    return char(0xE0 + floor(code / 0x1000), 0x80 + floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
  end
  return char(0xF0 + floor(code / 0x40000), 0x80 + floor(code / 0x1000) % 0x40,
    0x80 + floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
end

local escapes = {
  ['"'] = '"', ["\\"] = "\\", ["/"] = "/",
  b = "\b", f = "\f", n = "\n", r = "\r", t = "\t",
}

local function read_string(text, at)
  local parts, start = {}, at + 1
  while true do
    local stop = find(text, '["\\%c]', start)
    if stop == nil then fail(text, at, "unterminated string") end
    parts[#parts + 1] = sub(text, start, stop - 1)
    local c = sub(text, stop, stop)
    if c == '"' then return concat(parts), stop + 1 end
    if c ~= "\\" then fail(text, stop, "control character in string") end
    local e = sub(text, stop + 1, stop + 1)
    if e == "u" then
      local code = tonumber_(sub(text, stop + 2, stop + 5), 16)
      if code == nil or not find(sub(text, stop + 2, stop + 5), "^%x%x%x%x$") then
        fail(text, stop, "invalid \\u escape")
      end
      start = stop + 6
      if code >= 0xD800 and code < 0xDC00 and sub(text, start, start + 1) == "\\u" then
        local low = tonumber_(sub(text, start + 2, start + 5), 16)
        if low ~= nil and low >= 0xDC00 and low < 0xE000 then
          code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
          start = start + 6
        end
      end
      if code >= 0xD800 and code < 0xE000 then code = 0xFFFD end
      parts[#parts + 1] = utf8(code)
    else
      local plain = escapes[e]
      if plain == nil then fail(text, stop, "invalid escape") end
      parts[#parts + 1] = plain
      start = stop + 2
    end
  end
end

local read_value

local function read_array(text, at, depth)
  local out, n = {}, 0
  at = skip(text, at + 1)
  if sub(text, at, at) == "]" then return out, at + 1 end
  while true do
    local value
    value, at = read_value(text, at, depth)
    if value ~= tojson_nil then n = n + 1; out[n] = value end
    at = skip(text, at)
    local c = sub(text, at, at)
    if c == "]" then return out, at + 1 end
    if c ~= "," then fail(text, at, "expected ',' or ']' in array") end
    at = skip(text, at + 1)
  end
end

local function read_object(text, at, depth)
  local out = {}
  at = skip(text, at + 1)
  if sub(text, at, at) == "}" then return out, at + 1 end
  while true do
    if sub(text, at, at) ~= '"' then fail(text, at, "expected a string key in object") end
    local key, value
    key, at = read_string(text, at)
    at = skip(text, at)
    if sub(text, at, at) ~= ":" then fail(text, at, "expected ':' after object key") end
    value, at = read_value(text, skip(text, at + 1), depth)
    if value ~= tojson_nil then out[key] = value end
    at = skip(text, at)
    local c = sub(text, at, at)
    if c == "}" then return out, at + 1 end
    if c ~= "," then fail(text, at, "expected ',' or '}' in object") end
    at = skip(text, at + 1)
  end
end

local literals = {t = {"true", true}, f = {"false", false}, n = {"null", tojson_nil}}

read_value = function(text, at, depth)
  local c = sub(text, at, at)
  if c == "" then fail(text, at, "unexpected end of JSON input") end
  if c == "{" or c == "[" then
    if depth >= max_depth then fail(text, at, "nesting deeper than " .. max_depth) end
    if c == "{" then return read_object(text, at, depth + 1) end
    return read_array(text, at, depth + 1)
  end
  if c == '"' then return read_string(text, at) end
  local literal = literals[c]
  if literal ~= nil then
    if sub(text, at, at + #literal[1] - 1) ~= literal[1] then fail(text, at, "invalid literal") end
    return literal[2], at + #literal[1]
  end
  local _, last = find(text, "^-?%d+%.?%d*[eE]?[-+]?%d*", at)
  if last == nil then fail(text, at, "invalid character '" .. c .. "'") end
  local number = sub(text, at, last)
  if find(number, "^-?0%d") then fail(text, at, "invalid number") end
  local value = tonumber_(number)
  if value == nil or value == huge or value == -huge then fail(text, at, "invalid number") end
  return value, last + 1
end

local json = {}

function json.decode(text)
  if type_(text) == "number" then text = tostring_(text) end
  if type_(text) ~= "string" then
    error_("bad argument #1 to decode (string expected, got " .. type_(text) .. ")", 2)
  end
  local ok, value, at = pcall_(read_value, text, skip(text, 1), 0)
  if ok then
    at = skip(text, at)
    if at <= #text then
      return nil, format("invalid character after top-level value at offset %d", at - 1)
    end
    if value == tojson_nil then return nil end
    return value
  end
  if type_(value) == "table" and value.json ~= nil then return nil, value.json end
  error_(value, 0)
end

local function quote(s)
  return '"' .. s:gsub('[%c"\\<>&]', function(c)
    local plain = {['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t"}
    return plain[c] or format("\\u%04x", byte(c))
  end) .. '"'
end

local function number_text(n)
  if n ~= n or n == huge or n == -huge then
    error_({json = "unsupported value: " .. tostring_(n)}, 0)
  end
  if n == floor(n) and n > -1e21 and n < 1e21 then return format("%.0f", n) end
  local size = n < 0 and -n or n
  -- Go writes the shortest digits that read back the same, without an exponent
  -- between 1e-6 and 1e21.
  local plain = size >= 1e-6 and size < 1e21
  for digits = 1, 17 do
    local candidate = plain and format("%." .. (digits + 6) .. "f", n)
      or format("%." .. digits .. "g", n)
    if tonumber_(candidate) == n then
      if plain then return (candidate:gsub("0+$", "")) end
      return (candidate:gsub("e([-+])0(%d)$", "e%1%2"))
    end
  end
  return format("%.17g", n)
end

local write
local MIXED = "cannot encode mixed or invalid key types"

local function write_table(t, seen, depth)
  -- Like gopher-json, a table met twice is refused, even when it is not a cycle.
  if seen[t] then error_({json = "cannot encode recursively nested tables to JSON"}, 0) end
  if depth >= max_depth then error_({json = "nesting deeper than " .. max_depth}, 0) end
  seen[t] = true
  local first = next(t)
  local out = {}
  if first == nil then
    out = "[]"
  elseif type_(first) == "number" then
    local count = 0
    for k in pairs_(t) do
      if type_(k) ~= "number" then error_({json = MIXED}, 0) end
      count = count + 1
    end
    for i = 1, count do
      if t[i] == nil then error_({json = "cannot encode sparse array"}, 0) end
      out[i] = write(t[i], seen, depth + 1)
    end
    out = "[" .. concat(out, ",") .. "]"
  elseif type_(first) == "string" then
    local keys = {}
    for k in pairs_(t) do
      if type_(k) ~= "string" then error_({json = MIXED}, 0) end
      keys[#keys + 1] = k
    end
    sort(keys)
    for i, k in ipairs(keys) do out[i] = quote(k) .. ":" .. write(t[k], seen, depth + 1) end
    out = "{" .. concat(out, ",") .. "}"
  else
    error_({json = MIXED}, 0)
  end
  return out
end

write = function(value, seen, depth)
  local kind = type_(value)
  if kind == "nil" then return "null" end
  if kind == "boolean" then return value and "true" or "false" end
  if kind == "number" then return number_text(value) end
  if kind == "string" then return quote(value) end
  if kind == "table" then return write_table(value, seen, depth) end
  error_({json = "cannot encode " .. kind .. " to JSON"}, 0)
end

function json.encode(value)
  local ok, text = pcall_(write, value, {}, 0)
  if ok then return text end
  if type_(text) == "table" and text.json ~= nil then return nil, text.json end
  error_(text, 0)
end

return json
"""
