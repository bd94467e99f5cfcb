-- The permission toggle, as htmx sends it: POST /connections/<id>/permissions/<code>.
-- BENCH_FILE lists the targets ("path" per line: one connection and one permission code);
-- thread t takes the targets t, t+T, t+2T… in turn, and each target alternates OFF
-- (confirmed, as after the confirmation step) and ON, so every request is a real write.
-- BENCH_CSRF is the session's CSRF token; every target starts ON.
dofile("report.lua")

local mine, state = {}, {}
local csrf = os.getenv("BENCH_CSRF")

function init(args)
  local all = read_lines(os.getenv("BENCH_FILE"))
  local threads = tonumber(os.getenv("BENCH_THREADS"))
  for i = tid + 1, #all, threads do table.insert(mine, all[i]) end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  local k = issued % #mine + 1
  issued = issued + 1
  local on = state[k] or false          -- false: the next change turns it OFF
  state[k] = not on
  local body
  if on then
    body = "csrf_token=" .. csrf .. "&enabled=on&back=group"
  else
    body = "csrf_token=" .. csrf .. "&enabled=off&confirmed=1&back=group"
  end
  return wrk.format("POST", mine[k], nil, body)
end
