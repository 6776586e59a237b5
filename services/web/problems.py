"""Errors as ``application/problem+json`` (RFC 9457), with the CLI's one-line messages.

Bad input is 4xx, an unavailable model 503; anything unexpected is a 500 with a
generic detail (the traceback goes to the server log, never to the client)."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import InputError, ModelUnavailable, UnknownModel

log = logging.getLogger("services.web")
PROBLEM = "application/problem+json"


def problem_body(status: int, detail: str, title: str | None = None) -> dict:
    return {"type": "about:blank", "title": title or HTTPStatus(status).phrase, "status": status, "detail": detail}


def problem(status: int, detail: str, title: str | None = None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(problem_body(status, detail, title), status_code=status, media_type=PROBLEM, headers=headers)


def status_for(exc: BaseException) -> int:
    """The HTTP status of a service-layer error (also used for errors inside event streams)."""
    if isinstance(exc, (InputError, UnknownModel)):
        return 422
    if isinstance(exc, ModelUnavailable):
        return 503
    return 500


def detail_for(exc: BaseException) -> str:
    if status_for(exc) == 500:
        return "The server failed on this request; the details are in its log."
    if isinstance(exc, ModelUnavailable) and not isinstance(exc, UnknownModel):
        return f"model unavailable: {exc}"
    return str(exc)


def _validation_detail(exc: RequestValidationError) -> str:
    """One line, like the CLI's: 'body.top_k: Input should be greater than or equal to 1'."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {str(error.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Every error path of the app answers with a problem document."""

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError):
        return problem(422, _validation_detail(exc))

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException):
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(InputError)
    @app.exception_handler(ModelUnavailable)
    async def on_service_error(request: Request, exc: Exception):  # expected: no log, no traceback
        return problem(status_for(exc), detail_for(exc))

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception):
        status = status_for(exc)
        if status == 500:
            log.exception("%s %s failed", request.method, request.url.path)
        return problem(status, detail_for(exc))
