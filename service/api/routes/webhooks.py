from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from service.api.deps import SettingsDep, StoreDep
from service.api.errors import ApiError
from service.schemas import WebhookAnswer
from service.sizes import size_text
from service.webhooks import (
    SIGNATURE_HEADER,
    StorageEvent,
    ignore_reason,
    new_session,
    signature_valid,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
MAX_EVENT_BYTES = 64 * 1024  # an object's row: a few hundred bytes; the rest would be abuse


@router.post("/storage", response_model=WebhookAnswer, status_code=202)
async def storage_event(request: Request, settings: SettingsDep, store: StoreDep) -> JSONResponse:
    """A recording landed in storage: create its session and analyse it in the background."""
    secret = settings.supabase_webhook_secret
    if secret is None:
        raise ApiError(
            503, "webhooks_disabled", "webhooks are off: SUPABASE_WEBHOOK_SECRET is not set"
        )
    body = await request.body()
    if len(body) > MAX_EVENT_BYTES:
        raise ApiError(
            413, "event_too_large", f"a storage event is at most {size_text(MAX_EVENT_BYTES)}"
        )
    if not signature_valid(body, request.headers.get(SIGNATURE_HEADER), secret.get_secret_value()):
        raise ApiError(401, "bad_signature", f"missing or wrong {SIGNATURE_HEADER} header")
    try:
        event = StorageEvent.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(422, "invalid_event", f"{where}: {first['msg']}") from None
    reason = ignore_reason(event, settings.storage_bucket)
    if reason is not None:
        return JSONResponse(WebhookAnswer(status="ignored", reason=reason).model_dump(mode="json"))
    assert event.record is not None  # ignore_reason checked it
    session, created = await run_in_threadpool(store.create_pending, new_session(event.record))
    request.app.state.worker.notify()
    answer = WebhookAnswer(status="accepted", session_id=session.id, created=created)
    return JSONResponse(answer.model_dump(mode="json"), status_code=202)
