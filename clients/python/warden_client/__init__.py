"""A client for Warden's API: tokens (password, refresh, client credentials), ``/v1/me`` and
``/v1/check`` (one question or a batch). FastAPI dependencies are in :mod:`warden_client.fastapi`.

Errors are :class:`WardenError`, carrying Warden's stable ``code`` and HTTP ``status``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import httpx

__all__ = ["Check", "Tokens", "Warden", "WardenError", "MAX_CHECKS"]

#: Most checks Warden answers in one ``/v1/check`` request.
MAX_CHECKS = 100


class WardenError(Exception):
    """Warden answered with an error (``{"error": code, "message": ...}``), or could not be reached
    (``status`` 503, ``code`` ``unreachable``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Tokens:
    """What the token endpoint answers. ``refresh_token`` is None for client credentials."""

    access_token: str = field(repr=False)
    expires_in: int
    scope: str
    refresh_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Check:
    """One question: may the caller (or ``subject``, a username) do ``action`` on the object?

    Give a resource ``type`` with ``attributes`` (an object check) or a ``path`` with an HTTP
    method as the action (a route check).
    """

    action: str
    type: str | None = None
    path: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    subject: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON of this check in a ``/v1/check`` request."""
        obj: dict[str, Any] = {"attributes": dict(self.attributes)}
        if self.type is not None:
            obj["type"] = self.type
        if self.path is not None:
            obj["path"] = self.path
        out: dict[str, Any] = {"object": obj, "action": self.action}
        if self.subject is not None:
            out["subject"] = {"name": self.subject}
        return out


class Warden:
    """An async client of one Warden deployment.

    >>> warden = Warden("http://127.0.0.1:8080")          # doctest: +SKIP
    >>> tokens = await warden.login("alice", "password")   # doctest: +SKIP
    >>> await warden.check(tokens.access_token, Check("read", type="document",
    ...     attributes={"department": "eng", "classification": 1, "owner": "bob"}))  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        """Closes the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> "Warden":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def _send(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            res = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as e:
            raise WardenError(503, "unreachable", f"Warden could not be reached: {type(e).__name__}") from e
        if res.is_success:
            return res
        try:
            body = res.json()
            raise WardenError(res.status_code, str(body["error"]), str(body["message"]))
        except (ValueError, KeyError, TypeError):
            raise WardenError(res.status_code, "unexpected", "an answer without Warden's error body") from None

    async def _token(self, form: dict[str, str], auth: tuple[str, str] | None = None) -> Tokens:
        res = await self._send("POST", "/v1/auth/token", data=form, auth=auth)
        body = res.json()
        return Tokens(
            access_token=body["access_token"],
            expires_in=int(body["expires_in"]),
            scope=body.get("scope", ""),
            refresh_token=body.get("refresh_token"),
        )

    async def login(self, username: str, password: str, scope: str | None = None) -> Tokens:
        """The password grant. A wrong name or password is ``WardenError(400, "invalid_grant")``."""
        form = {"grant_type": "password", "username": username, "password": password}
        if scope:
            form["scope"] = scope
        return await self._token(form)

    async def refresh(self, refresh_token: str) -> Tokens:
        """The refresh grant: new tokens; the refresh token given is used up."""
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def client_credentials(self, client_id: str, client_secret: str, scope: str | None = None) -> Tokens:
        """The client-credentials grant of a service account (HTTP Basic)."""
        form = {"grant_type": "client_credentials"}
        if scope:
            form["scope"] = scope
        return await self._token(form, auth=(client_id, client_secret))

    async def me(self, token: str) -> dict[str, Any]:
        """``GET /v1/me``: the user, roles, attributes, the token's scopes and ``policy_subject``."""
        return (await self._send("GET", "/v1/me", token=token)).json()

    async def check_many(self, token: str, checks: Sequence[Check]) -> list[bool]:
        """Asks every check (in requests of at most :data:`MAX_CHECKS`); answers in order."""
        out: list[bool] = []
        for start in range(0, len(checks), MAX_CHECKS):
            chunk = checks[start : start + MAX_CHECKS]
            res = await self._send("POST", "/v1/check", token=token, json={"checks": [c.body() for c in chunk]})
            results = res.json()["results"]
            if len(results) != len(chunk):
                raise WardenError(503, "unexpected", "not one result per check")
            out.extend(bool(r["allowed"]) for r in results)
        return out

    async def check(self, token: str, check: Check) -> bool:
        """Asks one question; True when allowed."""
        return (await self.check_many(token, [check]))[0]
