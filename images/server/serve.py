"""Serve the trained model over HTTP (KServe V1 protocol), configured by environment variables.

    MODEL_URI=file:///data/run1 MODEL_NAME=digits PORT=8080 ADMIN_PORT=8081 python serve.py

See mlserve/settings.py for every variable. Exit codes (mlserve.settings.EXIT_*): 0 after SIGTERM
or SIGINT once in-flight requests finished (up to GRACEFUL_SHUTDOWN_SECONDS); 2 for an invalid
setting or AUTH_TOKEN_FILE; 3 when PORT or ADMIN_PORT cannot be listened on. Each failure is one
line on stderr.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import time
import warnings
from typing import Literal

import uvicorn
from mlserve.app import ModelServer, create_app
from mlserve.auth import TokenFileError
from mlserve.protocol import protocol_class
from mlserve.settings import EXIT_CANNOT_LISTEN, EXIT_INVALID_CONFIGURATION, EXIT_STOPPED, Settings, load_settings

log = logging.getLogger("server")


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


class CannotListenError(Exception):
    """A port cannot be bound; the message names the setting, the address and why."""


def listen(host: str, port: int, setting: str) -> socket.socket:
    """A listening TCP socket on host:port, bound here rather than by uvicorn so that a taken port
    is one clear line and EXIT_CANNOT_LISTEN."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # socket says it is TCP (socket.create_server leaves proto 0), and Nagle's algorithm would then
    # hold each response's body behind its headers for the client's 40 ms delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise CannotListenError(f"cannot listen on {host}:{port} ({setting}): {error.strerror or error}") from None
    return sock


def run(
    app: ModelServer,
    settings: Settings,
    sockets: list[socket.socket],
    *,
    http: Literal["httptools", "h11"] = "httptools",
    loop: Literal["uvloop", "asyncio"] = "uvloop",
) -> int:
    """Serve `app` on `sockets` until SIGTERM or SIGINT; returns the process exit code.

    `http` and `loop` exist for bench/bench_server.py, which measures the alternatives; httptools
    (a C HTTP parser) and uvloop (libuv) are what pays (bench/README.md). httptools runs as
    mlserve.protocol's subclass (REQUEST_READ_TIMEOUT_SECONDS, JSON 400s); h11, for the benchmark
    only, is uvicorn's own."""
    config = uvicorn.Config(
        app,
        http="h11" if http == "h11" else protocol_class(settings.request_read_timeout_seconds),
        loop=loop,
        ws="none",
        lifespan="on",
        log_config=None,  # keep the format configure_logging set
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
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
    server.run(sockets=sockets)
    return EXIT_STOPPED


def main() -> int:
    settings = load_settings()
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except TokenFileError as problem:
        print(f"invalid configuration: {problem}", file=sys.stderr)
        return EXIT_INVALID_CONFIGURATION
    try:
        sockets = [
            listen(settings.host, settings.port, "PORT"),
            listen(settings.host, settings.admin_port, "ADMIN_PORT"),
        ]
    except CannotListenError as problem:
        log.error("%s", problem)
        return EXIT_CANNOT_LISTEN
    log.info(
        "listening: KServe V1 on %s:%d (PORT)%s; /healthz /readyz /metrics on %s:%d (ADMIN_PORT); micro-batching %s",
        settings.host,
        settings.port,
        ", bearer token required" if app.token is not None else "",
        settings.host,
        settings.admin_port,
        "on" if settings.micro_batching else "off",
    )
    return run(app, settings, sockets)


if __name__ == "__main__":
    sys.exit(main())
