"""The FastAPI application: KServe V1 routes, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from mlserve.inputs import InvalidInputError, errors_message
from mlserve.metrics import Metrics
from mlserve.middleware import BodySizeLimitMiddleware, MetricsMiddleware
from mlserve.model import LoadedModel, ModelLoadError, load_model
from mlserve.settings import Settings

log = logging.getLogger("server")


class PredictResponse(BaseModel):
    """KServe V1 response: the class label of each instance, in request order."""

    predictions: list[int | str]


class ApiError(Exception):
    """Answered as `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ServerState:
    """What the routes share: the model once loaded, and why it is not loaded yet."""

    settings: Settings
    metrics: Metrics
    model: LoadedModel | None = None
    load_error: str = "model not loaded yet"
    load_attempts: int = 0

    def require_model(self, name: str) -> LoadedModel:
        if name != self.settings.model_name:
            raise ApiError(404, f"model {name!r} not found; this server serves {self.settings.model_name!r}")
        if self.model is None:
            raise ApiError(503, f"model {name!r} is not ready: {self.load_error}")
        return self.model


async def load_until_ready(state: ServerState) -> None:
    """Try to load the model until it loads, one log line per failed attempt, never raising."""
    settings = state.settings
    while True:
        state.load_attempts += 1
        started = time.perf_counter()
        try:
            model = await asyncio.to_thread(load_model, settings.model_uri, settings.inference_threads)
        except ModelLoadError as error:
            state.load_error = str(error)
            state.metrics.model_loads.labels("failure").inc()
            log.warning(
                "model not ready (attempt %d): %s; retrying in %gs",
                state.load_attempts,
                error,
                settings.model_load_retry_seconds,
            )
            await asyncio.sleep(settings.model_load_retry_seconds)
            continue
        meta = model.metadata
        if meta.model_name != settings.model_name:
            log.warning(
                "metadata names the model %r; serving it as %r (MODEL_NAME)",
                meta.model_name,
                settings.model_name,
            )
        state.model = model
        state.metrics.model_loads.labels("success").inc()
        state.metrics.model_ready.set(1)
        state.metrics.model_info.labels(settings.model_name, meta.version).set(1)
        log.info(
            "model ready name=%s version=%s test_accuracy=%s from=%s load_seconds=%.3f",
            settings.model_name,
            meta.version,
            meta.test_accuracy,
            settings.model_uri,
            time.perf_counter() - started,
        )
        return


def create_app(settings: Settings) -> FastAPI:
    """Build the app; the model starts loading when the app starts (its lifespan)."""
    metrics = Metrics()
    state = ServerState(settings=settings, metrics=metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loader = asyncio.create_task(load_until_ready(state), name="model-loader")
        try:
            yield
        finally:
            loader.cancel()
            with suppress(asyncio.CancelledError):
                await loader
            if state.model is not None:
                state.model.close()
                state.model = None
                metrics.model_ready.set(0)
                log.info("model unloaded")

    app = FastAPI(title="model server", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = state
    # Added last is outermost: metrics see the 413s of the body limit too.
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse({"error": error.message}, status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": errors_message(error.errors())}, status_code=422)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the event loop answers. A missing model is not a reason to restart."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: 200 only once the model is loaded."""
        if state.model is None:
            return JSONResponse({"ready": False, "error": state.load_error}, status_code=503)
        return JSONResponse({"ready": True, "model": settings.model_name, "version": state.model.metadata.version})

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def list_models() -> dict[str, list[str]]:
        return {"models": [settings.model_name]}

    @app.get("/v1/models/{name}")
    async def model_status(name: str) -> dict[str, Any]:
        """KServe V1 model readiness, with what a client needs to build instances."""
        model = state.require_model(name)
        meta = model.metadata
        return {
            "name": name,
            "ready": True,
            "version": meta.version,
            "input_shape": meta.input_shape,
            "input_dtype": meta.input_dtype,
            "class_labels": meta.class_labels,
            "test_accuracy": meta.test_accuracy,
        }

    @app.post("/v1/models/{name}:predict", response_model=PredictResponse)
    async def predict(name: str, request: Request) -> PredictResponse:
        """KServe V1 predict; the body is JSON whatever its Content-Type says (curl -d)."""
        model = state.require_model(name)
        try:
            batch = model.inputs.parse(await request.body(), settings.max_instances)
        except InvalidInputError as error:
            raise ApiError(error.status, str(error)) from None
        # Inference runs on the event loop: for this model it takes tens of microseconds,
        # less than handing it to a thread would cost.
        started = time.perf_counter()
        predictions = model.predict(batch)
        metrics.inference_seconds.observe(time.perf_counter() - started)
        metrics.instances.inc(len(batch))
        return PredictResponse(predictions=predictions)

    return app
