-- GET $BENCH_PATH with a different pre-minted bearer token on every request. The same
-- script drives the unauthenticated baseline (the header is sent and ignored), so the
-- two cases differ only in what the server does with the token.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local path = os.getenv("BENCH_PATH")
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[i] })
end
