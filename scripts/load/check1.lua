-- wrk: POST /v1/check with 1 check (the caller asks about themself, a document by type and
-- attributes). TOKEN comes from the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = '{"checks":[{"object":{"type":"document","attributes":{"department":"eng","owner":"bob","classification":1}},"action":"read"}]}'
