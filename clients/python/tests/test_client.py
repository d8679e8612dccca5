"""The client against a live Warden."""

from __future__ import annotations

import asyncio

import pytest

from warden_client import Check, Warden, WardenError

from .conftest import DEMO_PASSWORD

ENG_DOC = {"department": "eng", "owner": "bob", "classification": 1}


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_login_refresh_and_me(warden_url: str) -> None:
    async def go() -> None:
        async with Warden(warden_url) as w:
            tokens = await w.login("alice", DEMO_PASSWORD)
            assert tokens.refresh_token
            assert "access_token" not in repr(tokens) and tokens.access_token not in repr(tokens)
            again = await w.refresh(tokens.refresh_token)
            me = await w.me(again.access_token)
            assert me["username"] == "alice"
            assert me["policy_subject"]["principal"] == "user:alice"
            with pytest.raises(WardenError) as used:
                await w.refresh(tokens.refresh_token)
            assert used.value.code == "invalid_grant"

    run(go())


def test_errors_are_typed(warden_url: str) -> None:
    async def go() -> None:
        async with Warden(warden_url) as w:
            with pytest.raises(WardenError) as wrong:
                await w.login("alice", "not-her-password")
            assert (wrong.value.status, wrong.value.code) == (400, "invalid_grant")
            with pytest.raises(WardenError) as bad:
                await w.me("not-a-token")
            assert bad.value.status == 401
        async with Warden("http://127.0.0.1:9") as nowhere:
            with pytest.raises(WardenError) as down:
                await nowhere.me("x")
            assert (down.value.status, down.value.code) == (503, "unreachable")

    run(go())


def test_checks_one_by_one_and_in_batches_agree(warden_url: str) -> None:
    async def go() -> None:
        async with Warden(warden_url) as w:
            alice = (await w.login("alice", DEMO_PASSWORD)).access_token
            checks = [
                Check("read", type="document", attributes=ENG_DOC),
                Check("update", type="document", attributes=ENG_DOC),
                Check("GET", path="/api/documents"),
                Check("GET", path="/v1/admin/rules"),
            ] * 60  # 240 checks: three requests
            expected = [True, False, True, False] * 60
            assert await w.check_many(alice, checks) == expected
            assert [await w.check(alice, c) for c in checks[:4]] == expected[:4]

    run(go())
