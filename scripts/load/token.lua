-- wrk: the OAuth2 password grant (argon2id per request), rotating over the USERS accounts
-- load1..loadN that scripts/load.sh registered (one account hammered by 32 connections would
-- only measure the per-account throttle, which counts attempts in flight).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local users = tonumber(os.getenv("USERS"))
local password = os.getenv("PASSWORD")
local n = math.random(users)
request = function()
  n = n % users + 1
  return wrk.format(nil, nil, nil,
    "grant_type=password&username=load" .. n .. "&password=" .. password)
end
