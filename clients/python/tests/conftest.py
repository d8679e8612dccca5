"""A live Warden for the suite: the ``warden`` binary built by cargo (``WARDEN_BIN``, else the
workspace's ``target/debug/warden``), on a free 127.0.0.1 port over a fresh SQLite file, with
the demo users; stopped at the end."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
ADMIN_PASSWORD = "admin-password-1"
DEMO_PASSWORD = "demo-password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def warden_url() -> Iterator[str]:
    binary = os.environ.get("WARDEN_BIN") or str(ROOT / "target" / "debug" / "warden")
    if not Path(binary).exists():
        pytest.fail(f"no warden binary at {binary}: run `cargo build` first or set WARDEN_BIN")
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "WARDEN_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "WARDEN_LISTEN": f"127.0.0.1:{port}",
            "WARDEN_DATABASE_URL": f"sqlite://{tmp}/warden.db",
            "WARDEN_DEMO": "true",
        }
        proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None:
                    pytest.fail("warden exited before it was ready")
                time.sleep(0.1)
            else:
                pytest.fail("warden was not ready within 30 s")
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)
