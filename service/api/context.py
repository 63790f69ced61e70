"""Per-request context: an ``X-Request-ID`` on every response, one log line and the metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response
from service.logs import request_id
from service.metrics import Metrics

log = logging.getLogger("service.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _route(scope: Scope) -> str:
    """The route template (``/sessions/{session_id}``), never the raw path with its ids."""
    return getattr(scope.get("route"), "path", None) or "unmatched"


class RequestContext:
    """Outermost middleware: whatever answers (a route, a limit, an error handler) is counted."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500
        status_sent = recorded = False
        started = time.perf_counter()

        def record() -> None:
            nonlocal recorded
            recorded = True
            duration = time.perf_counter() - started
            route = _route(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.request_seconds.labels(method, route).observe(duration)
            log.info(
                "request",
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(duration * 1000, 2),
                },
            )

        async def send_with_id(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Counted before the last byte leaves: a client's next request (to any worker)
                # then sees this one in /metrics.
                record()
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answered here, inside the request's context, so even a 500 carries its id and the
            # connection stays usable; the details go to the log only.
            log.exception("unhandled error", extra={"route": _route(scope)})
            if status_sent is False:
                await error_response(
                    500, "internal_error", "internal error; the request was not processed"
                )(scope, receive, send_with_id)
        finally:
            if not recorded:  # the response never finished (client gone, error mid-body)
                record()
            request_id.reset(token)
