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
    import uvicorn

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
