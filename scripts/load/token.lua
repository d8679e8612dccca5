-- wrk: the OAuth2 password grant (argon2id per request).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=password&username=alice&password=" .. os.getenv("PASSWORD")
