-- POST /auth/refresh from a pool of live refresh tokens, one family per token: each
-- response's successor goes to the back of the pool, so no token is ever presented twice
-- and no request benefits from the grace window. (wrk's `done` runs in another Lua state,
-- so the pool cannot be saved: the harness logs in afresh for every run.)
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local pool, first, last = {}, 1, 0
for line in io.lines(os.getenv("TOKENS")) do last = last + 1; pool[last] = line end
request = function()
  local token = pool[first]
  if token then pool[first] = nil; first = first + 1 else token = "exhausted.pool" end
  return wrk.format("POST", "/auth/refresh", { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end
response = function(status, headers, body)
  local successor = body:match('"refresh_token":"([^"]+)"')
  if successor then last = last + 1; pool[last] = successor end
end
