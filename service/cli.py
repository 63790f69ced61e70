"""``emg serve``: run the API with uvicorn."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "serve",
        help="run the HTTP API",
        description="Run the EMG Analyzer API. Settings come from the environment (.env.example).",
    )
    cmd.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    cmd.add_argument("--port", type=int, default=8080, help="port (8080)")
    cmd.add_argument("--workers", type=int, default=1, help="server processes (1)")
    cmd.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    import uvicorn

    from service.settings import SettingsError, load_settings

    try:
        settings = load_settings()  # refuse to start on unusable settings, naming every problem
    except SettingsError as exc:
        print(f"emg serve: {exc}", file=sys.stderr)
        return 2
    if args.workers > 1 and settings.database_url.startswith("sqlite"):
        # SQLite has no advisory lock for the workers' own migrations to take turns on.
        _migrate_once(settings.database_url)

    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        timeout_graceful_shutdown=30,
    )
    return 0


def _migrate_once(database_url: str) -> None:
    """Migrate a SQLite database before its server processes start, so they never race on the
    schema. Elsewhere each process migrates at start in the background, taking turns on
    PostgreSQL's advisory lock (``service.db.migrate``), so the start is not delayed by it.
    If the database is unreachable now, each worker keeps retrying (readiness reports it)."""
    import sys

    from service.db.engine import make_engine
    from service.db.migrate import upgrade

    engine = make_engine(database_url)
    try:
        upgrade(engine)
    except Exception as exc:
        print(
            f"emg serve: database not migrated yet ({type(exc).__name__}); retrying",
            file=sys.stderr,
        )
    finally:
        engine.dispose()
