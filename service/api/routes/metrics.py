from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from service.api.deps import MetricsDep
from service.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def metrics(metrics: MetricsDep) -> Response:
    """Prometheus exposition format."""
    return Response(metrics.render(), media_type=CONTENT_TYPE)
