"""Dependencies shared by routes, as ``Annotated`` aliases so signatures stay short."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from emg_core.parser_pool import ParserPool
from service.api.errors import ApiError
from service.auth import AuthError, User, bearer_token, user_from_token
from service.cache import ReportCache
from service.metrics import Metrics
from service.settings import Settings
from service.store import SessionStore


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_parser_pool(request: Request) -> ParserPool:
    """The pool starts in the background at startup; wait for it on the first requests."""
    return await request.app.state.parser_pool


def get_store(request: Request) -> SessionStore:
    return request.app.state.store


def get_cache(request: Request) -> ReportCache:
    return request.app.state.cache


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def current_user(
    request: Request, settings: Annotated[Settings, Depends(get_settings)]
) -> User | None:
    """The caller, from a Bearer token; None when authentication is off and no token was sent."""
    try:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            if settings.requires_auth:
                raise AuthError("authentication required: send 'Authorization: Bearer <token>'")
            return None
        if settings.jwt_secret is None:
            raise AuthError("this server cannot verify tokens (JWT_SECRET is not set)")
        return user_from_token(token, settings.jwt_secret.get_secret_value())
    except AuthError as exc:
        raise _unauthorized(str(exc)) from None


SettingsDep = Annotated[Settings, Depends(get_settings)]
ParserPoolDep = Annotated[ParserPool, Depends(get_parser_pool)]
StoreDep = Annotated[SessionStore, Depends(get_store)]
CacheDep = Annotated[ReportCache, Depends(get_cache)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
CurrentUser = Annotated[User | None, Depends(current_user)]
