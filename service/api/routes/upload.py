from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from emg_core.errors import InputError
from emg_core.parameters import parameters_from_options
from emg_core.report import SessionReport
from service.api.deps import CacheDep, CurrentUser, MetricsDep, ParserPoolDep, SettingsDep
from service.api.errors import ApiError
from service.processing import analyse_upload
from service.sizes import size_text

router = APIRouter(tags=["analysis"])

_CHUNK = 1 << 20
OptionalForm = Annotated[str | None, Form()]
RepeatedForm = Annotated[list[str] | None, Form()]


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await upload.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "file_too_large", f"file exceeds the limit of {size_text(limit)}")
        chunks.append(chunk)
    return b"".join(chunks)


def _parameters_document(text: str | None) -> dict[str, object]:
    if not text:
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(
            422, "invalid_parameters", f"parameters: not valid JSON ({exc.msg})"
        ) from None
    if not isinstance(document, dict):
        raise ApiError(422, "invalid_parameters", "parameters: must be a JSON object")
    return document


@router.post("/upload", response_model=SessionReport, response_model_exclude_none=False)
async def upload(
    settings: SettingsDep,
    pool: ParserPoolDep,
    cache: CacheDep,
    metrics: MetricsDep,
    _user: CurrentUser,
    file: Annotated[UploadFile, File(description="GHOSTLY recording (.c3d)")],
    parameters: Annotated[
        str | None, Form(description="JSON object of analysis parameters (any field)")
    ] = None,
    mvc: RepeatedForm = None,
    mvc_pct: RepeatedForm = None,
    min_duration_ms: RepeatedForm = None,
    expected_contractions: RepeatedForm = None,
    muscle: RepeatedForm = None,
    rpe: OptionalForm = None,
    bfr_pressure: OptionalForm = None,
    game_max: OptionalForm = None,
    include_signals: OptionalForm = None,
) -> Response:
    """Analyse one C3D recording and return its clinical report (cached by content and
    parameters)."""
    filename = file.filename or "upload.c3d"
    if not filename.lower().endswith(".c3d"):
        raise ApiError(415, "unsupported_file_type", f"{filename!r} is not a .c3d file")
    given = {
        "mvc": mvc,
        "mvc_pct": mvc_pct,
        "min_duration_ms": min_duration_ms,
        "expected_contractions": expected_contractions,
        "muscle": muscle,
        "rpe": rpe,
        "bfr_pressure": bfr_pressure,
        "game_max": game_max,
        "include_signals": include_signals,
    }
    options = {k: v if isinstance(v, list) else [v] for k, v in given.items() if v}
    params = parameters_from_options(options, base=_parameters_document(parameters))
    data = await _read_limited(file, settings.max_file_size)
    # The file name is part of the report (and gives the recording time): part of the key too.
    file_hash = hashlib.sha256(data).hexdigest()
    key = cache.key(file_hash, f"{filename}\n{params.model_dump_json()}")
    cached = await run_in_threadpool(cache.get, key)
    if cache.enabled:
        metrics.cache_requests.labels("hit" if cached is not None else "miss").inc()
    if cached is not None:
        return Response(cached, media_type="application/json")
    started = time.perf_counter()
    outcome = "failed"
    try:
        report = await asyncio.wait_for(
            run_in_threadpool(analyse_upload, data, filename, file_hash, params, pool),
            settings.processing_timeout,
        )
        outcome = "completed"
    except InputError:
        outcome = "rejected"
        raise
    except TimeoutError:
        outcome = "timeout"
        raise ApiError(
            503,
            "processing_timeout",
            f"analysis took longer than {settings.processing_timeout:g} s; try again later",
        ) from None
    finally:
        metrics.processing_seconds.labels("upload", outcome).observe(time.perf_counter() - started)
    body = report.model_dump_json().encode()
    await run_in_threadpool(cache.set, key, body)
    return Response(body, media_type="application/json")
