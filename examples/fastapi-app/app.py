"""The seed tutorial's documents app, asking Warden instead of a hand-written RoleChecker.

Run it beside a Warden started with ``--demo``::

    WARDEN_URL=http://127.0.0.1:8080 uvicorn app:app --app-dir examples/fastapi-app --port 8000

Every route needs a Warden access token (``Authorization: Bearer``). The route dependency asks
Warden about the route (the token's scopes and the caller's roles); the handler asks about the
document (department, owner, classification) once it has loaded it.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel

from warden_client.fastapi import User, WardenFastAPI

warden = WardenFastAPI(os.environ.get("WARDEN_URL", "http://127.0.0.1:8080"))
app = FastAPI(title="Documents, protected by Warden")

DOCUMENTS: dict[int, dict[str, Any]] = {
    1: {"id": 1, "title": "Eng roadmap", "department": "eng", "owner": "bob", "classification": 1},
    2: {"id": 2, "title": "Eng incident report", "department": "eng", "owner": "bob", "classification": 3},
    3: {"id": 3, "title": "Sales forecast", "department": "sales", "owner": "carol", "classification": 1},
    4: {"id": 4, "title": "Erin's notes", "department": "eng", "owner": "erin", "classification": 0},
}


def attributes(doc: dict[str, Any]) -> dict[str, Any]:
    """What the policy reads of a document."""
    return {k: doc[k] for k in ("department", "owner", "classification")}


class DocumentUpdate(BaseModel):
    """A new title."""

    title: str


def load(doc_id: int) -> dict[str, Any]:
    doc = DOCUMENTS.get(doc_id)
    if doc is None:
        raise HTTPException(404, detail="no such document")
    return doc


@app.get("/v1/me")
async def me(user: User = Depends(warden.require())) -> dict[str, Any]:
    """Who the token names."""
    return {"username": user.username, "roles": user.roles, "attributes": user.attributes}


@app.get("/api/documents")
async def list_documents(user: User = Depends(warden.require("documents:read"))) -> list[dict[str, Any]]:
    """The documents the caller may read: one batch of checks for the whole list."""
    docs = list(DOCUMENTS.values())
    allowed = await warden.allowed_many(user, [("document", attributes(d), "read") for d in docs])
    return [d for d, ok in zip(docs, allowed) if ok]


@app.get("/api/documents/{doc_id}")
async def read_document(doc_id: int, user: User = Depends(warden.require("documents:read"))) -> dict[str, Any]:
    """One document, if the policy lets the caller read it."""
    doc = load(doc_id)
    await warden.check(user, "document", attributes(doc), "read")
    return doc


@app.put("/api/documents/{doc_id}")
async def update_document(
    doc_id: int, change: DocumentUpdate, user: User = Depends(warden.require("documents:write"))
) -> dict[str, Any]:
    """Retitles a document, if the policy lets the caller update it."""
    doc = load(doc_id)
    await warden.check(user, "document", attributes(doc), "update")
    doc["title"] = change.title
    return doc
