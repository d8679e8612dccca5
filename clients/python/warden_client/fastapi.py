"""FastAPI dependencies that ask Warden, replacing the tutorial's ``RoleChecker`` and
``SecurityScopes``::

    warden = WardenFastAPI("http://127.0.0.1:8080")

    @app.get("/api/documents/{doc_id}")
    async def read(doc_id: int, user: User = Depends(warden.require("documents:read"))):
        doc = load(doc_id)
        await warden.check(user, "document", doc, "read")
        return doc

``require(*scopes)`` answers 401 (with ``WWW-Authenticate: Bearer``) without a valid token,
403 when the token lacks a scope or Warden's policy denies the route (the request's path and
method, as Warden decides its own routes), 503 when Warden cannot be asked. ``check`` is an
object-level check (403 when denied); ``allowed`` returns the answer instead, and
``allowed_many`` asks a batch in one request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Sequence

from fastapi import HTTPException, Request, status

from . import Check, Warden, WardenError

__all__ = ["User", "WardenFastAPI"]


@dataclass(frozen=True)
class User:
    """The caller a dependency resolved: who Warden says the token names."""

    username: str
    roles: list[str]
    attributes: dict[str, Any]
    scopes: list[str]
    token: str = field(repr=False)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"})


def _forbidden() -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail="the policy does not allow this request")


def _as_http(e: WardenError) -> HTTPException:
    if e.status == 401:
        return _unauthorized("the access token is not valid")
    if e.status == 403:
        return _forbidden()
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="authorization is unavailable; retry later",
                         headers={"Retry-After": "1"})


class WardenFastAPI:
    """Warden for a FastAPI app: :meth:`require` for routes, :meth:`check` for objects."""

    def __init__(self, base_url: str, *, client: Warden | None = None) -> None:
        self.client = client or Warden(base_url)

    async def user(self, request: Request) -> User:
        """The caller of ``request`` (401 without a valid bearer token)."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("send Authorization: Bearer <access token>")
        try:
            me = await self.client.me(token.strip())
        except WardenError as e:
            raise _as_http(e) from None
        return User(
            username=me["username"],
            roles=list(me.get("roles", [])),
            attributes=dict(me.get("attributes", {})),
            scopes=list(me.get("token_scopes", [])),
            token=token.strip(),
        )

    def require(self, *scopes: str) -> Callable[[Request], Awaitable[User]]:
        """A dependency: the caller, whose token holds every scope in ``scopes`` and whom
        Warden's policy allows on this route (path and method); else 401/403/503."""

        async def dependency(request: Request) -> User:
            user = await self.user(request)
            if any(s not in user.scopes for s in scopes):
                raise _forbidden()
            method = "GET" if request.method == "HEAD" else request.method
            try:
                allowed = await self.client.check(user.token, Check(method, path=request.url.path))
            except WardenError as e:
                raise _as_http(e) from None
            if not allowed:
                raise _forbidden()
            return user

        return dependency

    async def allowed(self, user: User, kind: str, attributes: Mapping[str, Any], action: str) -> bool:
        """Whether Warden allows ``user`` to do ``action`` on an object of type ``kind``."""
        try:
            return await self.client.check(user.token, Check(action, type=kind, attributes=dict(attributes)))
        except WardenError as e:
            raise _as_http(e) from None

    async def check(self, user: User, kind: str, attributes: Mapping[str, Any], action: str) -> None:
        """Raises 403 unless Warden allows ``user`` to do ``action`` on the object."""
        if not await self.allowed(user, kind, attributes, action):
            raise _forbidden()

    async def allowed_many(self, user: User, checks: Sequence[tuple[str, Mapping[str, Any], str]]) -> list[bool]:
        """Many object checks in one request: ``(kind, attributes, action)`` each, answers in order."""
        try:
            return await self.client.check_many(
                user.token, [Check(action, type=kind, attributes=dict(attrs)) for kind, attrs, action in checks]
            )
        except WardenError as e:
            raise _as_http(e) from None
