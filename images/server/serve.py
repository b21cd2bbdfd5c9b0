"""Serve the trained model over HTTP (KServe V1 protocol), configured by environment variables.

    MODEL_URI=file:///data/run1 MODEL_NAME=digits PORT=8080 python serve.py

See mlserve/settings.py for every variable. SIGTERM stops accepting connections, lets
in-flight requests finish (up to GRACEFUL_SHUTDOWN_SECONDS), then exits 0.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
import warnings

import uvicorn
from fastapi import FastAPI
from mlserve.app import create_app
from mlserve.settings import Settings, load_settings


def configure_logging(level: str) -> None:
    """One line per event with a UTC timestamp, for kubectl logs; uvicorn's loggers included."""
    handler = logging.StreamHandler()
    formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # Python warnings (e.g. google-auth's deprecation notices) print two lines each; log them
    # as one event instead.
    warnings.showwarning = lambda message, category, *_: logging.getLogger("py.warnings").warning(
        "%s: %s", category.__name__, message
    )


def run(app: FastAPI, settings: Settings) -> int:
    """Serve `app` until SIGTERM or SIGINT; returns the process exit code."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the format configure_logging set
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        lifespan="on",
        server_header=False,
    )
    server = uvicorn.Server(config)

    # uvicorn handles SIGTERM/SIGINT itself (drain, then lifespan shutdown) and afterwards
    # re-raises the signal to whatever handler was installed before it. This handler makes a
    # completed graceful shutdown exit 0 instead of dying by the signal (143); before uvicorn
    # has installed its own, it asks the server to stop.
    def request_exit(*_: object) -> None:
        server.should_exit = True

    for handled in (signal.SIGTERM, signal.SIGINT):
        signal.signal(handled, request_exit)
    server.run()
    # uvicorn returns without raising when it could not start (port taken, bad host).
    return 0 if server.started else 1


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log_level)
    return run(create_app(settings), settings)


if __name__ == "__main__":
    sys.exit(main())
