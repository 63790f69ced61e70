"""App factory: `create_app(settings)` wires settings, stores, workers, routes and middleware."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from emg_core.parser_pool import ParserPool
from service.api.context import RequestContext
from service.api.errors import JsonCORSMiddleware, install_error_handlers
from service.api.limits import BodySizeLimit
from service.api.routes import health, metrics, sessions, upload, webhooks
from service.cache import ReportCache
from service.db.engine import make_engine
from service.db.migrate import upgrade
from service.logs import configure_logging
from service.metrics import Metrics
from service.processing import warm_up
from service.settings import Settings, load_settings
from service.storage import LocalStorage, ObjectStorage, SupabaseStorage
from service.store import SessionStore
from service.worker import SessionWorker

log = logging.getLogger("service")
_SCHEMA_RETRY_S = 5.0


def _storage(settings: Settings) -> ObjectStorage:
    if settings.storage_backend == "supabase":
        assert settings.supabase_url and settings.supabase_service_key  # checked by Settings
        return SupabaseStorage(
            settings.supabase_url, settings.supabase_service_key.get_secret_value()
        )
    return LocalStorage(settings.storage_dir)


async def _migrate_until_done(store: SessionStore, ready: threading.Event) -> None:
    """Bring the schema up to date; while the database is unreachable, retry (readiness says so)."""
    while True:
        try:
            await asyncio.to_thread(upgrade, store.engine)
            ready.set()
            return
        except Exception as exc:
            log.error("database migration failed; retrying", extra={"error": type(exc).__name__})
            await asyncio.sleep(_SCHEMA_RETRY_S)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    app_metrics = Metrics()
    store = SessionStore(make_engine(settings.database_url))
    cache = ReportCache(
        settings.redis_url.get_secret_value() if settings.redis_url else None,
        ttl_s=settings.cache_ttl,
        timeout_s=settings.cache_timeout,
        ca_cert=settings.redis_ca_cert,
    )
    app_metrics.track_sessions(store.in_flight)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Parser processes, science imports and migrations start in the background: /health
        # answers at once, readiness tells when everything is up.
        app.state.parser_pool = asyncio.create_task(
            asyncio.to_thread(
                ParserPool,
                workers=settings.parser_workers,
                timeout_s=settings.parser_timeout,
                memory_limit_bytes=settings.parser_memory_limit,
            )
        )
        background = [
            asyncio.create_task(asyncio.to_thread(warm_up)),
            asyncio.create_task(_migrate_until_done(store, app.state.schema_ready)),
        ]
        worker = SessionWorker(
            store, _storage(settings), app.state.parser_pool, settings, app_metrics
        )
        app.state.worker = worker

        async def work_when_schema_ready() -> None:
            await asyncio.to_thread(app.state.schema_ready.wait)
            await asyncio.gather(*(worker.run() for _ in range(settings.worker_concurrency)))

        background.append(asyncio.create_task(work_when_schema_ready()))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            app.state.schema_ready.set()  # release a waiting thread
            for task in background:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            (await app.state.parser_pool).close()
            cache.close()
            store.engine.dispose()

    app = FastAPI(
        title="EMG Analyzer",
        summary="Clinical EMG reports from GHOSTLY game recordings (C3D)",
        version=_version(),
        lifespan=lifespan,
        debug=settings.debug,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    app.state.metrics = app_metrics
    app.state.store = store
    app.state.cache = cache
    app.state.schema_ready = threading.Event()
    install_error_handlers(app)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID"],
    )
    # Multipart overhead on top of the file itself: headers, boundaries, form fields.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_file_size + (1 << 20))
    app.add_middleware(RequestContext, metrics=app_metrics)  # outermost: sees every answer
    for module in (health, upload, sessions, webhooks, metrics):
        app.include_router(module.router)
    return app


def _version() -> str:
    from importlib.metadata import version

    return version("emg-analyzer")
