"""One JSON error shape for every failure: ``{"error": {"code", "message", "request_id"}}``.

Messages are written for the user; internals (tracebacks, paths, library errors) never leak.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from emg_core.errors import C3DFormatError, InputError, ParameterError, ParserFailure
from service.logs import request_id

log = logging.getLogger("service.errors")

_CODES: list[tuple[type[InputError], str]] = [
    (C3DFormatError, "invalid_c3d"),
    (ParserFailure, "unreadable_c3d"),
    (ParameterError, "invalid_parameters"),
    (InputError, "invalid_input"),
]


class ApiError(Exception):
    """An error a route raises deliberately, with its status and code."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "request_id": request_id.get()}}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path"))
        parts.append(f"{where or 'request'}: {err['msg']}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(InputError)
    async def _input_error(_: Request, exc: InputError) -> JSONResponse:
        code = next(c for kind, c in _CODES if isinstance(exc, kind))
        log.info("input refused", extra={"code": code})  # the message may quote file content
        return error_response(422, code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(DBAPIError)
    async def _database_down(_: Request, exc: DBAPIError) -> JSONResponse:
        log.error("database error", extra={"error": type(exc.orig).__name__})
        return error_response(
            503, "database_unavailable", "the session store is unavailable; try again shortly"
        )

    # Anything else unexpected is answered by service.api.context.RequestContext (a 500 that
    # still carries the request id).


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS handling, with a refused preflight in the one JSON error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        message = bytes(response.body).decode() or "CORS preflight refused"
        return error_response(400, "cors_refused", message.replace("Disallowed CORS", "disallowed"))
