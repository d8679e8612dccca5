"""One line of a load report from wrk's --latency output on stdin: req/s, p50, p99 (ms) and
the count of non-2xx answers when there were any. Used by scripts/load.sh and
scripts/forward-load.sh.

  wrk ... --latency URL | python3 scripts/load/wrk_summary.py NAME
"""
import re
import sys

out = sys.stdin.read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)


def pct(p):
    m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v


non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
print(f"{sys.argv[1]:<48} {float(rps):>10.0f} req/s   p50 {pct(50):7.2f} ms   p99 {pct(99):7.2f} ms"
      + (f"   non-2xx: {non2xx.group(1)}" if non2xx else ""))
