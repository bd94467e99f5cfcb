-- The invite accept from the link page: POST /i/accept, each request a different pending
-- invite, as its own logged-in invitee. BENCH_FILE has one line per invite:
-- "<session cookie value>\t<form body: csrf_token, token, relationship>". Thread t sends
-- lines BENCH_OFFSET + t, + T, + 2T…; a thread that runs past the end starts again
-- (those answers are 409, and "exhausted" says how many: make the pool bigger).
dofile("report.lua")

local lines, offset, threads, cookie_name

function init(args)
  lines = read_lines(os.getenv("BENCH_FILE"))
  offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
  threads = tonumber(os.getenv("BENCH_THREADS"))
  cookie_name = os.getenv("BENCH_COOKIE_NAME")
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  local i = offset + issued * threads + tid
  issued = issued + 1
  if i >= #lines then
    exhausted = exhausted + 1
    i = i % #lines
  end
  local cookie, body = string.match(lines[i + 1], "^([^\t]+)\t(.*)$")
  wrk.headers["Cookie"] = cookie_name .. "=" .. cookie
  return wrk.format("POST", "/i/accept", nil, body)
end
