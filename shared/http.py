"""HTTP plumbing every service shares: domain errors as clear 4xx answers, the correlation id of a
request, and the health endpoints."""

import uuid
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from shared.auth import PUBLIC
from shared.errors import DomainError
from shared.events import current_correlation_id

CORRELATION_HEADER = "X-Correlation-ID"


async def _domain_error_response(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code)


async def _integrity_error_response(_request: Request, _exc: Exception) -> Response:
    # Rules are checked before writing; this answers the rare race where a concurrent request
    # wrote the same unique thing between our check and our commit. Nothing was written.
    return JSONResponse(
        {
            "detail": "the request conflicts with a concurrent change; read the current state and retry"
        },
        status_code=409,
    )


class _CorrelationMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        supplied = request.headers.get(CORRELATION_HEADER, "")
        correlation_id = supplied if 0 < len(supplied) <= 100 else str(uuid.uuid4())
        token = current_correlation_id.set(correlation_id)
        try:
            response = await call_next(request)
        finally:
            current_correlation_id.reset(token)
        response.headers[CORRELATION_HEADER] = correlation_id
        return response


def install_http_plumbing(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error_response)
    app.add_exception_handler(IntegrityError, _integrity_error_response)
    app.add_middleware(_CorrelationMiddleware)


Check = Callable[[], Awaitable[None]]


def health_router(checks: dict[str, Check], details: Callable[[], dict[str, object]]) -> APIRouter:
    router = APIRouter(tags=["health"], dependencies=[Depends(PUBLIC)])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="The database and the broker are reachable",
        responses={503: {"description": "a dependency is unreachable; the body says which"}},
    )
    async def readyz() -> JSONResponse:
        failures: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
            except Exception as exc:
                failures[name] = f"{type(exc).__name__}: {exc}"[:500]
        if failures:
            return JSONResponse({"status": "unavailable", "failures": failures}, status_code=503)
        return JSONResponse({"status": "ready", "checks": sorted(checks), **details()})

    return router
