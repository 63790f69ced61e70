"""App factory: `create_app(settings)` wires settings, parser pool, routes and error handling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from emg_core.parser_pool import ParserPool
from service.api.errors import install_error_handlers
from service.api.limits import BodySizeLimit
from service.api.routes import health, upload
from service.processing import warm_up
from service.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Start parser processes and import the science stack in the background: the server
        # answers /health at once; the first upload waits for the pool if it is not up yet.
        app.state.parser_pool = asyncio.create_task(
            asyncio.to_thread(
                ParserPool,
                workers=settings.parser_workers,
                timeout_s=settings.parser_timeout,
                memory_limit_bytes=settings.parser_memory_limit,
            )
        )
        warming = asyncio.create_task(asyncio.to_thread(warm_up))
        try:
            yield
        finally:
            await warming
            (await app.state.parser_pool).close()

    app = FastAPI(
        title="EMG Analyzer",
        summary="Clinical EMG reports from GHOSTLY game recordings (C3D)",
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    # Multipart overhead on top of the file itself: headers, boundaries, form fields.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_file_size + (1 << 20))
    app.include_router(health.router)
    app.include_router(upload.router)
    return app
