from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter, Request

from service.api.deps import SettingsDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request, settings: SettingsDep) -> dict[str, object]:
    """Cheap liveness answer: the process serves requests (parser workers may still be starting)."""
    pool_task = request.app.state.parser_pool
    ready = pool_task.done() and pool_task.exception() is None
    return {
        "status": "ok",
        "version": version("emg-analyzer"),
        "environment": settings.environment,
        "parser_workers": pool_task.result().alive if ready else 0,
    }
