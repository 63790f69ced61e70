from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter

from service.api.deps import ParserPoolDep, SettingsDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health(settings: SettingsDep, pool: ParserPoolDep) -> dict[str, object]:
    """Cheap liveness answer: the process serves requests."""
    return {
        "status": "ok",
        "version": version("emg-analyzer"),
        "environment": settings.environment,
        "parser_workers": pool.alive,
    }
