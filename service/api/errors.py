"""One JSON error shape for every failure: ``{"error": {"code", "message", "request_id"}}``.

Messages are written for the user; internals (tracebacks, paths, library errors) never leak.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
        return error_response(422, code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            500, "internal_error", "internal error; the request was not processed"
        )
