from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from service.api.deps import CurrentUser, StoreDep
from service.api.errors import ApiError
from service.db.models import SessionStatus, TherapySession
from service.schemas import PRINTABLE, SessionPage, SessionPublic

router = APIRouter(prefix="/sessions", tags=["sessions"])


async def _visible_session(
    store: StoreDep, user: CurrentUser, session_id: uuid.UUID
) -> TherapySession:
    session = await run_in_threadpool(store.get, session_id)
    if session is None:
        raise ApiError(404, "not_found", f"session {session_id} not found")
    if user is not None and not user.may_see(session.owner_id):
        raise ApiError(403, "forbidden", "this session belongs to another user")
    return session


@router.get("", response_model=SessionPage)
async def list_sessions(
    store: StoreDep,
    user: CurrentUser,
    patient_id: Annotated[str | None, Query(max_length=128, pattern=PRINTABLE)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> SessionPage:
    """Therapy sessions, newest first (a user sees their own; administrators see all)."""
    owner = None if user is None or user.is_admin else user.id
    rows, total = await run_in_threadpool(
        lambda: store.list(owner_id=owner, patient_id=patient_id, limit=limit, offset=offset)
    )
    items = [SessionPublic.model_validate(row) for row in rows]
    return SessionPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{session_id}", response_model=SessionPublic)
async def get_session(store: StoreDep, user: CurrentUser, session_id: uuid.UUID) -> SessionPublic:
    """One therapy session: status, timings, file and recording metadata."""
    return SessionPublic.model_validate(await _visible_session(store, user, session_id))


@router.get("/{session_id}/report")
async def get_report(store: StoreDep, user: CurrentUser, session_id: uuid.UUID) -> dict[str, Any]:
    """The full clinical report of a completed session."""
    session = await _visible_session(store, user, session_id)
    if session.status != SessionStatus.COMPLETED or session.report is None:
        detail = f": {session.failure_reason}" if session.failure_reason else ""
        raise ApiError(409, "report_not_ready", f"session is {session.status}{detail}")
    return session.report
