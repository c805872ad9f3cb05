-- wrk script of the Gatehouse load harness (bench/main.go writes it next to the run).
-- It is configured through the environment:
--   BENCH_HEADERS  static request headers, "Name: value" lines
--   BENCH_TOKENS   a file of "EXPECTED<TAB>HEADER-VALUE" lines: each request takes the next
--                  line (threads start at different offsets), sends the value in
--                  BENCH_TOKEN_HEADER and tags the request with X-Request-Id "eEXPECTED-N";
--                  bench/upstream echoes it (X-Bench-Request-Id) and the gateway's refusal
--                  body repeats it (client_request_id), so response() checks each answer
--   BENCH_EXPECT   the status every response must have (rows without a tokens file)
--   BENCH_MAX      stop each thread after this many requests (0: run for the duration);
--                  each thread then prints "bench-thread-done"
-- done() prints "bench-status CODE COUNT", "bench-wrong COUNT" and "bench-untagged COUNT".

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function split_headers(s)
  local h = {}
  for line in string.gmatch(s or "", "[^\n]+") do
    local name, value = string.match(line, "^([^:]+):%s*(.*)$")
    if name then h[name] = value end
  end
  return h
end

function init(args)
  counts = {}
  wrong = 0
  untagged = 0
  sent = 0
  expect = tonumber(os.getenv("BENCH_EXPECT") or "0") or 0
  max = tonumber(os.getenv("BENCH_MAX") or "0") or 0
  local static = split_headers(os.getenv("BENCH_HEADERS"))
  if not static["Host"] then
    static["Host"] = wrk.host .. ":" .. wrk.port
  end
  static_req = wrk.format(nil, nil, static)
  local file = os.getenv("BENCH_TOKENS") or ""
  reqs = nil
  if file ~= "" then
    local header = os.getenv("BENCH_TOKEN_HEADER") or "Authorization"
    reqs = {}
    local n = 0
    for line in io.lines(file) do
      local exp, value = string.match(line, "^(%d+)\t(.*)$")
      if exp then
        n = n + 1
        local h = {}
        for k, v in pairs(static) do h[k] = v end
        h[header] = value
        h["X-Request-Id"] = "e" .. exp .. "-" .. n
        reqs[n] = wrk.format(nil, nil, h)
      end
    end
    nreqs = n
    -- Threads start far apart in the file, so they do not send the same tokens together.
    pos = math.floor(n * (id or 0) / 8)
  end
end

function request()
  sent = sent + 1
  if max > 0 and sent > max then
    if not stopped then
      -- wrk's main thread sleeps for the whole -d whatever the threads do: the harness
      -- interrupts it (SIGINT, which makes wrk report) once every thread said this.
      stopped = true
      io.write("bench-thread-done\n")
      io.flush()
    end
    wrk.thread:stop()
  end
  if reqs then
    pos = pos + 1
    if pos > nreqs then pos = 1 end
    return reqs[pos]
  end
  return static_req
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if reqs then
    -- An allowed request's tag comes back from bench/upstream (X-Bench-Request-Id), a
    -- refused one's in the gateway's problem body (client_request_id).
    local rid = headers["X-Bench-Request-Id"] or headers["x-bench-request-id"]
    local exp = rid and tonumber(string.match(rid, "^e(%d+)-"))
    if not exp and body then
      exp = tonumber(string.match(body, '"client_request_id":"e(%d+)-'))
    end
    if not exp then
      untagged = untagged + 1
    elseif exp ~= status then
      wrong = wrong + 1
    end
  elseif expect > 0 and status ~= expect then
    wrong = wrong + 1
  end
end

function done(summary, latency, requests)
  local total = {}
  local w, u = 0, 0
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for code, n in pairs(c or {}) do total[code] = (total[code] or 0) + n end
    w = w + (t:get("wrong") or 0)
    u = u + (t:get("untagged") or 0)
  end
  for code, n in pairs(total) do
    io.write(string.format("bench-status %d %d\n", code, n))
  end
  io.write(string.format("bench-wrong %d\n", w))
  io.write(string.format("bench-untagged %d\n", u))
end
