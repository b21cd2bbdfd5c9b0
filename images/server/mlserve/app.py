"""The model server: one ASGI application answering on two ports.

PORT (the inference port, what the Service exposes) serves the KServe V1 routes and nothing else;
ADMIN_PORT serves /healthz, /readyz and /metrics to the kubelet and Prometheus. A request is
routed by the local port it arrived on. Every error on either port is `{"error": message}`;
answers name no URI, bucket or backend error (the log has those).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from mlserve.auth import REALM, BearerToken
from mlserve.batching import MicroBatcher
from mlserve.http import (
    BodyTimeoutError,
    BodyTooLargeError,
    ClientGoneError,
    Headers,
    Receive,
    Response,
    Scope,
    Send,
    alone,
    error,
    json_response,
    read_body,
    send_response,
)
from mlserve.inputs import InputSpec, InvalidInputError, Request
from mlserve.metrics import Metrics
from mlserve.model import LoadedModel, ModelLoadError, load_model, one_line
from mlserve.settings import Settings

log = logging.getLogger("server")

TOKEN_RELOAD_SECONDS = 10.0
"""How often AUTH_TOKEN_FILE is checked for a rotated Secret (a stat; read only when it changed)."""

GET = ("GET", "HEAD")
POST = ("POST",)
CLIENT_GONE = 499  # nginx's code for "client closed the request"; only ever a metric label


@dataclass(frozen=True)
class Route:
    """A route the server answers: its path template, methods, and the setting naming its port."""

    path: str
    methods: tuple[str, ...]
    port: Literal["PORT", "ADMIN_PORT"]


# A verb handler answers POST /v1/models/{name}:{verb}, given the name, the body (read, within
# MAX_BODY_BYTES, after the token was checked) and the request's scope.
VerbHandler = Callable[[str, bytes, Scope], Awaitable[Response]]


@dataclass
class ServerState:
    """What the routes share: the model once loaded, and why it is not loaded yet."""

    settings: Settings
    metrics: Metrics
    model: LoadedModel | None = None
    batcher: MicroBatcher | None = None
    load_error: str = "model not loaded yet"
    """Why the model is not loaded, fit for /readyz: no URI, no backend error text."""
    load_attempts: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def load_until_ready(state: ServerState) -> None:
    """Try to load the model until it loads, never raising: each failed attempt, whatever the
    error, sets /readyz's reason, counts a failure, logs one line and is retried."""
    settings = state.settings
    while True:
        state.load_attempts += 1
        started = time.perf_counter()
        try:
            model = await asyncio.to_thread(load_model, settings.model_uri, settings.inference_threads)
            _serve(state, model)
        except ModelLoadError as failure:
            reason, detail = failure.reason, str(failure)
        except Exception as failure:  # noqa: BLE001 - a bug or a library's surprise must not end the retries
            reason = f"loading the model failed unexpectedly ({type(failure).__name__}; the log says more)"
            detail = f"{reason}: {one_line(failure)}"
        else:
            _log_ready(settings, model, time.perf_counter() - started)
            return
        state.load_error = reason
        state.metrics.model_loads.labels("failure").inc()
        log.warning(
            "model not ready (attempt %d): %s; MODEL_URI=%s; retrying in %gs",
            state.load_attempts,
            detail,
            settings.model_uri,
            settings.model_load_retry_seconds,
        )
        await asyncio.sleep(settings.model_load_retry_seconds)


def _serve(state: ServerState, model: LoadedModel) -> None:
    """Start serving a loaded model: its micro-batcher, then the model itself, then the metrics."""
    settings = state.settings
    meta = model.metadata
    if meta.model_name != settings.model_name:
        log.warning("metadata names the model %r; serving it as %r (MODEL_NAME)", meta.model_name, settings.model_name)
    if settings.micro_batching:
        state.batcher = MicroBatcher(
            model.classify,
            model.inputs.assemble,
            seconds_per_instance=model.seconds_per_instance,
            max_instances=settings.micro_batch_max_instances,
            max_wait_seconds=settings.micro_batch_max_wait_seconds,
            metrics=state.metrics,
        )
    state.model = model
    _freeze_what_lives_on()
    state.metrics.model_loads.labels("success").inc()
    state.metrics.model_ready.set(1)
    state.metrics.model_info.labels(settings.model_name, meta.version).set(1)


def _log_ready(settings: Settings, model: LoadedModel, load_seconds: float) -> None:
    meta = model.metadata
    log.info(
        "model ready name=%s version=%s test_accuracy=%s input_range=%s us_per_instance=%.1f from=%s load_seconds=%.3f",
        settings.model_name,
        meta.version,
        meta.test_accuracy,
        list(meta.input_range) if meta.input_range else "none",
        1e6 * model.seconds_per_instance,
        settings.model_uri,
        load_seconds,
    )


def _freeze_what_lives_on() -> None:
    """Exempt what exists once the model is loaded (modules, the session, settings: ~50,000
    objects that live as long as the process) from every later garbage collection, which would
    otherwise walk them all while requests wait: predict's p99 at batch 1 and 64 clients was
    25-31 ms before and 3.8 ms after (bench/README.md)."""
    gc.collect()  # what is garbage already is freed, not frozen
    gc.freeze()


async def reload_token_periodically(token: BearerToken) -> None:
    while True:
        await asyncio.sleep(TOKEN_RELOAD_SECONDS)
        token.reload_if_changed()


def _header(scope: Scope, name: bytes) -> bytes | None:
    headers: Headers = scope["headers"]
    for key, value in headers:
        if key == name:
            return value
    return None


def predictions(labels: list[bytes], classes: list[int]) -> Response:
    """The KServe V1 answer: each instance's label, joined from the labels' JSON made at load."""
    return Response(200, b'{"predictions":[' + b",".join([labels[i] for i in classes]) + b"]}")


def _content_coding(scope: Scope) -> str | None:
    """The first content coding of the request other than identity, from every Content-Encoding
    header and each comma-separated item, or None for a plain body."""
    headers: Headers = scope["headers"]
    for key, value in headers:
        if key == b"content-encoding":
            for coding in value.decode("latin-1").split(","):
                if coding.strip() and coding.strip().lower() != "identity":
                    return coding.strip()
    return None


class ModelServer:
    """The ASGI application. `routes` lists what each port serves (for the probes' contract test);
    `add_verb` adds a POST /v1/models/{name}:{verb} route (the benchmark's no-op uses it)."""

    def __init__(self, settings: Settings, token: BearerToken | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.state = ServerState(settings=settings, metrics=self.metrics)
        self.token = token
        self.routes = [
            Route("/v1/models", GET, "PORT"),
            Route("/v1/models/{name}", GET, "PORT"),
            Route("/healthz", GET, "ADMIN_PORT"),
            Route("/readyz", GET, "ADMIN_PORT"),
            Route("/metrics", GET, "ADMIN_PORT"),
        ]
        self._verbs: dict[str, tuple[str, VerbHandler]] = {}
        self.add_verb("predict", self._predict)
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def add_verb(self, verb: str, handler: VerbHandler) -> None:
        template = f"/v1/models/{{name}}:{verb}"
        self._verbs[verb] = (template, handler)
        self.routes.append(Route(template, POST, "PORT"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        route = "unmatched"
        try:
            if scope["server"][1] == self.settings.admin_port:
                route, response = self._admin(scope, method)
            else:
                route, response = await self._inference(scope, receive, method)
            await send_response(send, response, head_only=method == "HEAD")
        except Exception as failure:  # noqa: BLE001 - the one place a bug becomes a JSON 500, not uvicorn's text
            log.error("%s %r failed: %s", method, scope["path"], one_line(failure))
            response = error(500, "internal server error")
            with contextlib.suppress(Exception):  # the answer may have started already
                await send_response(send, response, close=True)
        except asyncio.CancelledError:
            # uvicorn cancels a request only when GRACEFUL_SHUTDOWN_SECONDS ran out with it still in
            # flight (typically a body still uploading). Answer it, close the connection, and end
            # the task normally instead of leaving uvicorn a traceback and a plain-text 500.
            log.warning(
                "%s %r cut at shutdown: still in flight after GRACEFUL_SHUTDOWN_SECONDS=%d; answered 503",
                method,
                scope["path"],
                self.settings.graceful_shutdown_seconds,
            )
            response = error(503, "the server is shutting down; send the request again")
            try:
                await send_response(send, response, close=True)
            except (asyncio.CancelledError, OSError):
                pass  # the response had started: uvicorn closes the connection
        self._record(method, route, response.status, started)

    def _record(self, method: str, route: str, status: int, started: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.metrics.requests.labels(method, route, str(status)),
                self.metrics.request_seconds.labels(method, route),
            )
        children[0].inc()
        children[1].observe(time.perf_counter() - started)

    # ---- the inference port: KServe V1 only ----

    async def _inference(self, scope: Scope, receive: Receive, method: str) -> tuple[str, Response]:
        path: str = scope["path"]
        verb: tuple[str, VerbHandler] | None = None
        name = ""
        route = "unmatched"
        allowed: tuple[str, ...] = ()
        if path.startswith("/v1/models/"):
            name, colon, verb_name = path[11:].partition(":")
            if "/" not in name and name:
                if not colon:
                    route, allowed = "/v1/models/{name}", GET
                elif (verb := self._verbs.get(verb_name)) is not None:
                    route, allowed = verb[0], POST
        elif path == "/v1/models":
            route, allowed = path, GET
        # The token is checked first: without it, nothing about the server is revealed.
        if self.token is not None:
            authorization = _header(scope, b"authorization")
            if not self.token.check(authorization):
                if authorization is None:
                    return route, error(401, "a bearer token is required", [(b"www-authenticate", REALM)])
                return route, error(
                    401, "the bearer token is not valid", [(b"www-authenticate", REALM + b', error="invalid_token"')]
                )
        if not allowed:
            return route, error(
                404,
                f"no route {path!r} on this port; it serves GET /v1/models, GET /v1/models/{{name}} "
                "and POST /v1/models/{name}:predict",
            )
        if method not in allowed:
            return route, error(
                405,
                f"{method} is not allowed on {route}; use {' or '.join(allowed)}",
                [(b"allow", ", ".join(allowed).encode())],
            )
        if verb is None:
            if route == "/v1/models":
                return route, json_response(200, {"models": [self.settings.model_name]})
            return route, self._model_status(name)
        if (coding := _content_coding(scope)) is not None:
            # RFC 9110 15.5.16: name what would be accepted. A compressed body is not decoded: it
            # could inflate far past MAX_BODY_BYTES (a decompression bomb), and bodies are small.
            return route, error(
                415,
                f"Content-Encoding {coding!r} is not supported; send the JSON body uncompressed "
                "(no Content-Encoding, or identity)",
                [(b"accept-encoding", b"identity")],
            )
        try:
            body = await read_body(scope, receive, self.settings.max_body_bytes)
        except BodyTooLargeError as too_large:
            return route, error(413, str(too_large))
        except BodyTimeoutError as late:
            # The protocol has answered 408 and closed the connection; this is for the metrics.
            return route, error(408, str(late))
        except ClientGoneError:
            return route, Response(CLIENT_GONE, b"")
        return route, await verb[1](name, body, scope)

    def _model_or_error(self, name: str) -> LoadedModel | Response:
        if name != self.settings.model_name:
            return error(404, f"model {name!r} not found; this server serves {self.settings.model_name!r}")
        if self.state.model is None:
            return error(503, f"model {name!r} is not ready yet; try again shortly")
        return self.state.model

    def _model_status(self, name: str) -> Response:
        """KServe V1 model readiness, with what a client needs to build instances."""
        model = self._model_or_error(name)
        if isinstance(model, Response):
            return model
        meta = model.metadata
        return json_response(
            200,
            {
                "name": name,
                "ready": True,
                "version": meta.version,
                "input_shape": meta.input_shape,
                "input_dtype": meta.input_dtype,
                "input_range": meta.input_range,
                "class_labels": meta.class_labels,
                "test_accuracy": meta.test_accuracy,
            },
        )

    async def _predict(self, name: str, body: bytes, scope: Scope) -> Response:
        """KServe V1 predict; the body is JSON whatever its Content-Type says (curl -d)."""
        model = self._model_or_error(name)
        if isinstance(model, Response):
            return model
        inputs, limit = model.inputs, self.settings.max_instances
        batcher = self.state.batcher
        try:
            if batcher is not None:
                classes = await batcher.classify(self._request(inputs, body, limit), alone=alone(scope))
            else:
                # On the event loop: without batching, a hand-off to a thread costs more than a
                # small model's call.
                batch = inputs.parse(body, limit)
                started = time.perf_counter()
                classes = model.classify(batch).tolist()
                self.metrics.inference_seconds.observe(time.perf_counter() - started)
                self.metrics.batch_instances.observe(len(batch))
                self.metrics.inference_calls.labels("event_loop").inc()
                self.metrics.instances.inc(len(batch))
        except InvalidInputError as invalid:
            return error(invalid.status, str(invalid))
        except Exception as failure:  # noqa: BLE001 - onnxruntime's errors are one type; one log line, one 500
            log.error("inference failed: %s: %s", type(failure).__name__, failure)
            return error(500, "inference failed")
        return predictions(model.label_json, classes)

    @staticmethod
    def _request(inputs: InputSpec, body: bytes, limit: int) -> Request:
        """A predict body as the micro-batcher takes it: a small request decoded only, to be
        converted and checked with the others of its call; a larger one converted now; a body the
        fast path does not take parsed (or refused, naming why) by the careful one. A function of
        its own so that the decoded JSON (thousands of objects for a large request) is not kept
        alive by the awaiting request, where the garbage collector would keep walking it."""
        decoded = inputs.decode(body, limit)
        if decoded is None:
            return inputs.parse(body, limit)
        return decoded if inputs.defers(decoded) else inputs.check(decoded)

    # ---- the admin port: probes and metrics ----

    def _admin(self, scope: Scope, method: str) -> tuple[str, Response]:
        path: str = scope["path"]
        if path not in ("/healthz", "/readyz", "/metrics"):
            return "unmatched", error(404, f"no route {path!r} on this port; it serves /healthz, /readyz and /metrics")
        if method not in GET:
            return path, error(405, f"{method} is not allowed on {path}; use GET", [(b"allow", b"GET, HEAD")])
        if path == "/healthz":
            # Liveness: the event loop answers. A missing model is not a reason to restart.
            return path, json_response(200, {"status": "ok"})
        if path == "/readyz":
            model = self.state.model
            if model is None:
                return path, json_response(503, {"ready": False, "error": self.state.load_error})
            return path, json_response(
                200, {"ready": True, "model": self.settings.model_name, "version": model.metadata.version}
            )
        return path, Response(200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST.encode())

    # ---- lifespan: load in the background, free everything at the end ----

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        state = self.state
        state.tasks.append(asyncio.create_task(load_until_ready(state), name="model-loader"))
        if self.token is not None:
            state.tasks.append(asyncio.create_task(reload_token_periodically(self.token), name="token-reload"))
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown, once requests have drained
        for task in state.tasks:
            task.cancel()
        await asyncio.gather(*state.tasks, return_exceptions=True)
        if state.batcher is not None:
            state.batcher.close()
            state.batcher = None
        if state.model is not None:
            state.model.close()
            state.model = None
            self.metrics.model_ready.set(0)
            log.info("model unloaded")
        await send({"type": "lifespan.shutdown.complete"})


def create_app(settings: Settings) -> ModelServer:
    """Build the server; the model starts loading when it starts (its lifespan). Raises
    TokenFileError when AUTH_TOKEN_FILE is set but unusable."""
    token = BearerToken(settings.auth_token_file) if settings.auth_token_file is not None else None
    return ModelServer(settings, token)
