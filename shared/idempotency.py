"""Idempotency keys for POST requests (the `Idempotency-Key` header, as payment APIs use it).

The first response for a key is stored in the same transaction as the request's effects; a retry
with the same key and the same request gets that response again with no second effect; the same
key with a different request is refused, since it is a client bug that would otherwise be hidden."""

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import JSON, Column, Integer, PrimaryKeyConstraint, String, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import PLUMBING_METADATA, UTCDateTime, utcnow
from shared.errors import BadRequest, Conflict

IDEMPOTENCY_KEYS = Table(
    "idempotency_keys",
    PLUMBING_METADATA,
    Column("scope", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response_body", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("scope", "key"),
)

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="A unique key (e.g. a UUID) per intended operation; retries reuse it.",
    ),
]


def _request_hash(request: Request, body: BaseModel) -> str:
    canonical = json.dumps(
        {"path": request.url.path, "body": body.model_dump(mode="json")}, sort_keys=True
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def _stored(session: AsyncSession, scope: str, key: str) -> Any:
    return (
        await session.exec(
            select(IDEMPOTENCY_KEYS).where(
                IDEMPOTENCY_KEYS.c.scope == scope, IDEMPOTENCY_KEYS.c.key == key
            )
        )
    ).first()


def _replay(row: Any, request_hash: str, key: str) -> JSONResponse:
    if row.request_hash != request_hash:
        raise Conflict(
            f"Idempotency-Key {key!r} was already used for a different request; "
            "use a new key for a new operation"
        )
    return JSONResponse(
        row.response_body, status_code=row.status_code, headers={"Idempotent-Replayed": "true"}
    )


async def idempotent(
    session: AsyncSession,
    request: Request,
    key: str | None,
    body: BaseModel,
    operation: Callable[[], Awaitable[BaseModel]],
    *,
    status_code: int = 201,
    required: bool = False,
) -> JSONResponse:
    """Run `operation` (which writes in `session` without committing) at most once per key,
    commit, and answer with its result; replay the stored answer for a repeated key."""
    if key is None:
        if required:
            raise BadRequest(
                "this request moves money: send an Idempotency-Key header (e.g. a UUID)"
            )
        result = await operation()
        await session.commit()
        return JSONResponse(result.model_dump(mode="json"), status_code=status_code)
    # Keys are kept per caller and per route, as payment APIs do: another caller's key is never
    # replayed to you, whatever its value.
    principal = getattr(request.state, "principal", None)
    caller = principal.subject if principal else "anonymous"
    scope = f"{caller} {request.method} {request.scope['route'].path}"
    request_hash = _request_hash(request, body)
    if (row := await _stored(session, scope, key)) is not None:
        return _replay(row, request_hash, key)
    result = await operation()
    response_body = result.model_dump(mode="json")
    try:
        await session.exec(
            insert(IDEMPOTENCY_KEYS).values(
                scope=scope,
                key=key,
                request_hash=request_hash,
                status_code=status_code,
                response_body=response_body,
                created_at=utcnow(),
            )
        )
        await session.commit()
    except IntegrityError:
        # A concurrent request with the same key committed first: ours is rolled back whole.
        await session.rollback()
        if (row := await _stored(session, scope, key)) is None:
            raise
        return _replay(row, request_hash, key)
    return JSONResponse(response_body, status_code=status_code)
