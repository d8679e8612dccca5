#!/usr/bin/env python3
"""Measures Warden latencies against a running server started with --demo:
  WARDEN_ADMIN_PASSWORD=change-me-now target/release/warden serve --demo --listen 127.0.0.1:8080
  python3 scripts/latency.py [http://127.0.0.1:8080] [N]
Reports p50/p95 of: login (argon2id), a protected read (JWT verify + route and object checks),
an admin edit (add a rule, then delete it), and whether the first request after an edit's
response already sees the edit (it must: the snapshot is swapped before the response)."""
import http.client, json, statistics, sys, time, urllib.parse

base = urllib.parse.urlparse(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 50
conn = http.client.HTTPConnection(base.hostname, base.port)

def call(method, path, body=None, token=None, form=False):
    headers = {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if body is not None:
        if form:
            body = urllib.parse.urlencode(body)
            headers["content-type"] = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(body)
            headers["content-type"] = "application/json"
    t = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None), time.perf_counter() - t

def report(name, samples):
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    print(f"{name:44} n={len(ms):4}  p50={statistics.median(ms):8.2f} ms  p95={p95:8.2f} ms")

def login(user, pw):
    return call("POST", "/v1/auth/token", {"grant_type": "password", "username": user, "password": pw}, form=True)

logins = []
for _ in range(N):
    status, body, dt = login("alice", "demo-password")
    assert status == 200, body
    logins.append(dt)
alice = body["access_token"]
report("login (password grant, argon2id verify)", logins)

reads = []
for _ in range(N * 4):
    status, _, dt = call("GET", "/api/documents/1", token=alice)
    assert status == 200
    reads.append(dt)
report("GET /api/documents/1 (authn + 2 decisions)", reads)

_, body, _ = login("admin", "change-me-now")
admin = body["access_token"]
edits, seen_first = [], 0
rule = {"subject": "user:alice", "object": "document", "action": "read", "scope": "documents:read",
        "condition": "r.obj.department == \"sales\"", "effect": "allow"}
for _ in range(N):
    status, body, dt = call("POST", "/v1/admin/rules", rule, token=admin)
    assert status == 201, body
    edits.append(dt)
    status, _, _ = call("GET", "/api/documents/2", token=alice)
    seen_first += status == 200
    status, body, dt = call("DELETE", f"/v1/admin/rules/{body['rule_ids'][0]}", token=admin)
    assert status == 200, body
    edits.append(dt)
    status, _, _ = call("GET", "/api/documents/2", token=alice)
    seen_first += status == 403
report("admin edit (add or delete a rule)", edits)
print(f"first request after the edit's response saw the edit: {seen_first} of {2 * N}")
