"""Health and metrics: public, for load balancers and Prometheus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from pourtier.presentation.deps import ContainerDep

router = APIRouter(tags=["operations"])


@router.get(
    "/health",
    responses={503: {"description": "A part the service needs is failing"}},
)
async def health(container: ContainerDep) -> JSONResponse:
    report = await container.health()
    body: dict[str, Any] = {
        "status": "unhealthy" if report.failing else "healthy",
        "checks": report.checks,
    }
    if report.failing:
        body["detail"] = "failing: " + ", ".join(report.failing)
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@router.get("/metrics", response_class=Response)
async def metrics(container: ContainerDep) -> Response:
    await container.refresh_gauges()
    return Response(container.metrics.render(), media_type=CONTENT_TYPE_LATEST)
