"""The FastAPI example app (examples/fastapi-app), driven with httpx, asking the live Warden."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from types import ModuleType

import httpx

from warden_client import Warden

from .conftest import DEMO_PASSWORD, ROOT


def load_app(warden_url: str) -> ModuleType:
    os.environ["WARDEN_URL"] = warden_url
    spec = importlib.util.spec_from_file_location("example_app", ROOT / "examples" / "fastapi-app" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_app_asks_warden_for_every_route_and_document(warden_url: str) -> None:
    example = load_app(warden_url)

    async def go() -> None:
        async with Warden(warden_url) as w:
            tokens = {u: (await w.login(u, DEMO_PASSWORD)).access_token for u in ["alice", "bob", "carol", "dave", "erin"]}
            read_only = (await w.login("bob", DEMO_PASSWORD, scope="documents:read")).access_token
        transport = httpx.ASGITransport(app=example.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as app:
            def auth(token: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {token}"}

            # (user, method, path, expected status): the seed policy through the app's routes
            cells = [
                ("alice", "GET", "/api/documents/1", 200),  # viewer in eng, clearance 2
                ("alice", "GET", "/api/documents/2", 403),  # classification 3 > clearance
                ("alice", "GET", "/api/documents/3", 403),  # sales
                ("carol", "GET", "/api/documents/3", 200),
                ("dave", "GET", "/api/documents/3", 200),  # auditor reads every department
                ("erin", "GET", "/api/documents/4", 200),  # her own
                ("erin", "GET", "/api/documents/1", 403),
                ("bob", "PUT", "/api/documents/1", 200),  # editor in eng
                ("alice", "PUT", "/api/documents/1", 403),  # viewer
                ("dave", "PUT", "/api/documents/3", 403),  # auditors never write
                ("bob", "GET", "/api/documents/99", 404),
            ]
            for user, method, path, expected in cells:
                body = {"title": "new"} if method == "PUT" else None
                r = await app.request(method, path, headers=auth(tokens[user]), json=body)
                assert r.status_code == expected, (user, method, path, r.status_code, r.text)

            listed = await app.get("/api/documents", headers=auth(tokens["alice"]))
            assert [d["id"] for d in listed.json()] == [1, 4], listed.text  # eng, up to clearance 2

            # a token without documents:write: refused before the handler runs
            r = await app.put("/api/documents/1", headers=auth(read_only), json={"title": "x"})
            assert r.status_code == 403
            r = await app.get("/api/documents/1")
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            r = await app.get("/api/documents/1", headers=auth("forged"))
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            r = await app.get("/v1/me", headers=auth(tokens["bob"]))
            assert r.json()["username"] == "bob"

        await example.warden.client.aclose()

    asyncio.run(go())
