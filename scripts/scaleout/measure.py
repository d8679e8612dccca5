"""Scale-out measurements against running Warden instances (driven by scripts/scaleout.sh).

  measure.py propagate EDITS A B [C...]   an edit on A (grant, then revoke, alternately) until
                                          each other instance answers the other way; prints
                                          p50/p99/max per instance
  measure.py killed A B PGURL             terminate every warden-listen backend from SQL, edit
                                          on A at once, time until B answers the other way
  measure.py writers N A B                N concurrent writers on each of A and B, 25 edits
                                          each; checks that every edit is stored and that each
                                          instance serves the database's rules
Uses keep-alive connections (http.client) so a poll costs ~0.2 ms, not a process start.
"""
import http.client, json, subprocess, sys, threading, time, urllib.parse

DEMO_PASSWORD = "demo-password"
ADMIN_PASSWORD = "scaleout-admin-password"


class Client:
    def __init__(self, base):
        u = urllib.parse.urlparse(base)
        self.host, self.port = u.hostname, u.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)

    def call(self, method, path, token=None, body=None, form=None):
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None), r.headers
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                if attempt:
                    raise

    def token(self, user, password):
        s, b, _ = self.call("POST", "/v1/auth/token",
                            form={"grant_type": "password", "username": user, "password": password})
        assert s == 200, (s, b)
        return b["access_token"]


RULE = {"subject": "user:alice", "object": "document", "action": "read", "scope": "documents:read",
        "condition": 'r.obj.department == "sales"', "effect": "allow"}


def until(client, token, want, deadline_s=5.0):
    start = time.perf_counter()
    while True:
        s, _, _ = client.call("GET", "/api/documents/2", token)
        if s == want:
            return time.perf_counter() - start
        if time.perf_counter() - start > deadline_s:
            raise SystemExit(f"still {s} after {deadline_s} s")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def propagate(edits, a_url, others):
    a = Client(a_url)
    admin = a.token("admin", ADMIN_PASSWORD)
    alice = a.token("alice", DEMO_PASSWORD)
    clients = [Client(u) for u in others]
    took = {u: [] for u in others}
    rule_id = None
    for i in range(edits):
        if rule_id is None:
            s, b, _ = a.call("POST", "/v1/admin/rules", admin, RULE)
            assert s == 201, (s, b)
            rule_id, want = b["rule_ids"][0], 200
        else:
            s, b, _ = a.call("DELETE", f"/v1/admin/rules/{rule_id}", admin)
            assert s == 200, (s, b)
            rule_id, want = None, 403
        t0 = time.perf_counter()
        # all instances polled in turn; each one's time is when it first answered `want`
        pending = dict(zip(others, clients))
        while pending:
            for u, c in list(pending.items()):
                s, _, _ = c.call("GET", "/api/documents/2", alice)
                if s == want:
                    took[u].append(time.perf_counter() - t0)
                    del pending[u]
            if time.perf_counter() - t0 > 5:
                raise SystemExit(f"edit {i}: {list(pending)} did not follow within 5 s")
    for u in others:
        ms = [t * 1000 for t in took[u]]
        print(f"  {u}: {len(ms)} edits  p50 {pct(ms, 50):6.1f} ms  p99 {pct(ms, 99):6.1f} ms  max {max(ms):6.1f} ms")


def killed(a_url, b_url, pg_url):
    a, b = Client(a_url), Client(b_url)
    admin = a.token("admin", ADMIN_PASSWORD)
    alice = a.token("alice", DEMO_PASSWORD)
    assert until(b, alice, 403) >= 0
    out = subprocess.run(["psql", "-qtA", pg_url, "-c",
                          "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                          "WHERE application_name = 'warden-listen'"],
                         check=True, capture_output=True, text=True).stdout.strip()
    s, b_, _ = a.call("POST", "/v1/admin/rules", admin, RULE)
    assert s == 201, (s, b_)
    t = until(b, alice, 200)
    print(f"  terminated {out} listening backends, then edited on A: B answered the new policy after {t * 1000:.1f} ms")
    a.call("DELETE", f"/v1/admin/rules/{b_['rule_ids'][0]}", admin)
    t = until(b, alice, 403)
    print(f"  next edit after the reconnect reached B in {t * 1000:.1f} ms")


def writers(n, a_url, b_url):
    per = 25
    results, lock = [], threading.Lock()

    def work(url, w):
        c = Client(url)
        admin = c.token("admin", ADMIN_PASSWORD)
        for k in range(per):
            rule = {"subject": f"role:w{w}", "object": f"/bench/{url[-5:]}/{w}/{k}", "action": "GET",
                    "effect": "allow"}
            s, b, _ = c.call("POST", "/v1/admin/rules", admin, rule)
            with lock:
                results.append((s, b.get("policy_version") if isinstance(b, dict) else None))

    threads = [threading.Thread(target=work, args=(u, w)) for u in (a_url, b_url) for w in range(n)]
    t0 = time.perf_counter()
    [t.start() for t in threads]
    [t.join() for t in threads]
    dt = time.perf_counter() - t0
    ok = [v for s, v in results if s == 201]
    print(f"  {len(threads)} writers x {per} edits: {len(ok)}/{len(results)} stored in {dt:.1f} s "
          f"({len(results) / dt:.0f} edits/s); versions unique: {len(set(ok)) == len(ok)}; "
          f"statuses: {sorted(set(s for s, _ in results))}")
    time.sleep(0.5)
    views = []
    for url in (a_url, b_url):
        c = Client(url)
        admin = c.token("admin", ADMIN_PASSWORD)
        s, b, _ = c.call("GET", "/v1/admin/policy", admin)
        views.append((b["policy_version"], b.get("rule_count", b.get("rules"))))
    print(f"  instances after the run (version, rules): A {views[0]}  B {views[1]}  equal: {views[0] == views[1]}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "propagate":
        propagate(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
    elif cmd == "killed":
        killed(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "writers":
        writers(int(sys.argv[2]), sys.argv[3], sys.argv[4])
