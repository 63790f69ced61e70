from __future__ import annotations

import asyncio
import time
from importlib.metadata import version
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.api.deps import CacheDep, SettingsDep, StoreDep

router = APIRouter(prefix="/health", tags=["health"])
_CHECK_TIMEOUT_S = 2.0


async def _database(store: StoreDep) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.to_thread(store.ping), _CHECK_TIMEOUT_S)
    except TimeoutError:
        return {"status": "down", "detail": f"no answer within {_CHECK_TIMEOUT_S:g} s"}
    except Exception as exc:
        return {"status": "down", "detail": type(exc).__name__}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


async def _parser(request: Request, ping: bool) -> dict[str, Any]:
    """Workers alive; with ``ping``, also a round trip to an idle one (detailed health only:
    readiness is probed often and must not queue behind busy parsers)."""
    task = request.app.state.parser_pool
    if not task.done():
        return {"status": "starting"}
    if task.exception() is not None:
        return {"status": "down", "detail": "parser workers failed to start"}
    pool = task.result()
    if not ping:
        return {"status": "ok" if pool.alive else "down", "workers": pool.alive}
    round_trip = await asyncio.to_thread(pool.ping, _CHECK_TIMEOUT_S)
    if round_trip is None:  # all busy parsing (or one hung and was replaced): alive, not idle
        return {"status": "ok" if pool.alive else "down", "workers": pool.alive, "busy": True}
    latency = round(round_trip * 1000, 2)
    return {"status": "ok", "workers": pool.alive, "latency_ms": latency}


def _schema(request: Request) -> dict[str, Any]:
    return {"status": "ok" if request.app.state.schema_ready.is_set() else "migrating"}


@router.get("")
@router.get("/liveness")
def liveness() -> dict[str, str]:
    """Cheap: the process serves requests."""
    return {"status": "ok"}


@router.get("/readiness")
async def readiness(request: Request, store: StoreDep, cache: CacheDep) -> JSONResponse:
    """Ready for traffic: database reachable and migrated, parser workers up (503 with reasons).
    The cache is reported but never makes an instance unready: without it the service answers
    uncached (DESIGN.md), and taking instances out of rotation would turn that into an outage."""
    checks = {
        "database": await _database(store),
        "schema": _schema(request),
        "parser": await _parser(request, ping=False),
    }
    reasons = [f"{name}: {c['status']}" for name, c in checks.items() if c["status"] != "ok"]
    cache_state = (await asyncio.to_thread(cache.status)).state
    body = {
        "status": "ready" if not reasons else "not_ready",
        "reasons": reasons,
        "cache": cache_state,
    }
    return JSONResponse(body, status_code=200 if not reasons else 503)


@router.get("/detailed")
async def detailed(
    request: Request, settings: SettingsDep, store: StoreDep, cache: CacheDep
) -> dict[str, Any]:
    """Each dependency's status and latency; ``degraded`` when only the cache is unwell."""
    cache_status = await asyncio.to_thread(cache.status)
    checks = {
        "database": await _database(store),
        "schema": _schema(request),
        "parser": await _parser(request, ping=True),
        "cache": {
            "status": cache_status.state,
            "latency_ms": cache_status.latency_ms,
            "detail": cache_status.detail,
        },
    }
    essential_ok = all(checks[k]["status"] == "ok" for k in ("database", "schema", "parser"))
    status = "ok" if essential_ok else "unavailable"
    if essential_ok and cache_status.state == "degraded":
        status = "degraded"
    return {
        "status": status,
        "version": version("emg-analyzer"),
        "environment": settings.environment,
        "checks": checks,
    }
