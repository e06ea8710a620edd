-- POST /oauth/introspect (RFC 7662) as the bench's confidential client, cycling through
-- live access tokens of real users (an active answer reads the user's name from Redis).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local client = "&client_id=bench&client_secret=" .. os.getenv("CLIENT_SECRET")
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("POST", "/oauth/introspect",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, "token=" .. tokens[i] .. client)
end
