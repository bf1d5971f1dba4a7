-- Runs one Argo CD customization script as Argo CD does: `obj` is a global, the script's
-- return value is the result. Prints {"ok": result} or {"error": message} as JSON.
local write, format, byte, gsub = io.write, string.format, string.byte, string.gsub

local function encode(v)
  local t = type(v)
  if v == nil then
    return "null"
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "number" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then
      return format("%d", v)
    end
    return format("%.17g", v)
  elseif t == "string" then
    return '"' .. gsub(v, '[%c"\\]', function(c)
      if c == '"' then return '\\"' end
      if c == "\\" then return "\\\\" end
      return format("\\u%04x", byte(c))
    end) .. '"'
  elseif t == "table" then
    -- A table with keys 1..n is a JSON array; an empty table is an object (the Promotion
    -- schema has no empty arrays: the operator omits them).
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    local parts = {}
    if n > 0 and #v == n then
      for i = 1, n do parts[i] = encode(v[i]) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for i, k in ipairs(keys) do parts[i] = encode(k) .. ":" .. encode(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  error("cannot encode a " .. t)
end

-- What Argo CD opens for these scripts: the base and table libraries and os.time/os.date;
-- no string, math or io library, so a script that needs one fails here as it would there.
local function sandbox(obj)
  return {
    obj = obj,
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
    pcall = pcall, select = select, tonumber = tonumber, tostring = tostring,
    type = type, unpack = unpack,
    table = table,
    os = {time = os.time, date = os.date},
  }
end

function promote_run(path, obj)
  local chunk, err = loadfile(path)
  if chunk == nil then
    write(encode({error = err}), "\n")
    return
  end
  setfenv(chunk, sandbox(obj))
  local ok, result = pcall(chunk)
  if ok then
    write(encode({ok = result}), "\n")
  else
    write(encode({error = tostring(result)}), "\n")
  end
end
