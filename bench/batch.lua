-- wrk script: POST each line of a file exactly once, split across threads.
--
-- args: lines_file out_prefix path threads
-- Each thread writes "<status> <body>" per response to <out_prefix>.<id> and,
-- when its share is answered, "<first> <last> <ok> <failed>" to
-- <out_prefix>.done.<id>: the monotonic times of its first request and its
-- last response, so the caller times the batch exactly. wrk itself only
-- stops at -d or SIGINT; run.py sends SIGINT once every thread is done.
-- A connection with nothing left to send parks: it sends the headers of a
-- request whose body never comes, so it adds no load while the rest finish.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

local mine = {}
local sent, seen, ok, failed = 0, 0, 0, 0
local first, out, prefix, path, filler
local json = { ["Content-Type"] = "application/json" }

function init(args)
  local threads = tonumber(args[4])
  local i = 0
  for line in io.lines(args[1]) do
    if i % threads == id - 1 then
      mine[#mine + 1] = line
    end
    i = i + 1
  end
  prefix, path = args[2], args[3]
  out = io.open(prefix .. "." .. id, "w")
  filler = "POST " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    .. "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
end

-- wrk (4.1) calls the first thread's request() once before the run, to check
-- the request, and throws that one away: answer it without using an item.
local checked = false

function request()
  if id == 1 and not checked then
    checked = true
    return wrk.format("POST", path, json, mine[1])
  end
  if sent < #mine then
    sent = sent + 1
    if sent == 1 then
      first = now()
    end
    return wrk.format("POST", path, json, mine[sent])
  end
  return filler
end

function response(status, headers, body)
  if seen >= #mine then
    return
  end
  seen = seen + 1
  if status == 200 or status == 201 then
    ok = ok + 1
  else
    failed = failed + 1
  end
  out:write(status, " ", body, "\n")
  if seen == #mine then
    local last = now()
    out:close()
    local done = io.open(prefix .. ".done." .. id, "w")
    done:write(string.format("%.6f %.6f %d %d\n", first, last, ok, failed))
    done:close()
    wrk.thread:stop()
  end
end
