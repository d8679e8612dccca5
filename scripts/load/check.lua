-- wrk: POST /v1/check with 10 checks (the caller asks about themself: documents by type and
-- attributes, and routes by path). TOKEN comes from the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local checks = {}
for i = 0, 9 do
  if i % 2 == 0 then
    checks[#checks + 1] = string.format(
      '{"object":{"type":"document","attributes":{"department":"eng","owner":"bob","classification":%d}},"action":"read"}',
      i % 4)
  else
    checks[#checks + 1] = string.format('{"object":{"path":"/api/documents/%d"},"action":"GET"}', i)
  end
end
wrk.body = '{"checks":[' .. table.concat(checks, ",") .. ']}'
