"""RequestContext answers an unexpected error itself: a JSON 500 with the request's id."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from service.api.context import RequestContext
from service.metrics import Metrics


def _app(metrics: Metrics) -> Starlette:
    """Arranged as in create_app: RequestContext inside Starlette's own error middleware."""

    async def boom(_request) -> PlainTextResponse:
        raise RuntimeError("secret internals /srv/app/file.py")

    async def fine(_request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/boom/{item}", boom), Route("/fine", fine)],
        middleware=[Middleware(RequestContext, metrics=metrics)],
    )


def _get(app, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(call())


def test_unexpected_error_becomes_json_500_with_request_id() -> None:
    metrics = Metrics()
    response = _get(_app(metrics), "/boom/42", {"X-Request-ID": "abc-123"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "abc-123"
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "internal error; the request was not processed",
            "request_id": "abc-123",
        }
    }
    assert "secret internals" not in response.text
    exposition = metrics.render().decode()
    assert 'route="/boom/{item}",status="500"' in exposition


def test_invalid_incoming_request_id_is_replaced() -> None:
    response = _get(_app(Metrics()), "/fine", {"X-Request-ID": "bad id with spaces"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] != "bad id with spaces"
    assert len(response.headers["x-request-id"]) == 32
