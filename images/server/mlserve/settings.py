"""Every setting of the server, read once from environment variables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlserve.storage_uri import location_problem

# Exit codes of serve.py, one source for the code, the docs and the tests.
EXIT_STOPPED = 0
"""Stopped by SIGTERM or SIGINT after draining in-flight requests."""
EXIT_INVALID_CONFIGURATION = 2
"""A setting is invalid or the AUTH_TOKEN_FILE cannot be used; nothing was started."""
EXIT_CANNOT_LISTEN = 3
"""PORT or ADMIN_PORT cannot be bound (in use, or HOST is not an address of this machine)."""

MAX_INFERENCE_THREADS = 64
"""Upper bound of INFERENCE_THREADS: onnxruntime starts that many threads per session, and a
typo (100000000) would otherwise take the node's memory before the first request. More intra-op
threads than the pod's CPUs only compete with each other and the event loop."""
MAX_WAIT_SECONDS = 3600
"""Upper bound of the settings that are a duration (an hour): a value like 1e300 or inf would
make a retry or a timeout that never comes."""
MAX_BODY_BYTES_LIMIT = 1 << 30
"""Upper bound of MAX_BODY_BYTES (1 GiB)."""
MAX_INSTANCES_LIMIT = MAX_BODY_BYTES_LIMIT // len("[0],")
"""Upper bound of MAX_INSTANCES and MICRO_BATCH_MAX_INSTANCES (2**28): the most instances a body
within MAX_BODY_BYTES's own bound can hold (the shortest instance, `[0]` and a comma, is 4 bytes),
so a larger limit could never take effect, and a typo (1e24) is caught instead of read as "no
limit"."""


class Settings(BaseSettings):
    """Environment variables are the field names in upper case (MODEL_URI, PORT, ...)."""

    # allow_inf_nan=False: no duration or size may be inf or nan.
    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", protected_namespaces=(), allow_inf_nan=False
    )

    model_uri: str
    """Required. The trainer's --output-uri, by the same rule (mlserve.storage_uri): file:///abs,
    s3://bucket/prefix, gs://bucket/prefix or a local path; any other form stops the server at
    start instead of being retried forever. Logged, never put in an HTTP answer (an s3:// URI
    names the bucket)."""
    model_name: str = Field(default="digits", min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """Name in the /v1/models/{name} routes; other names get 404. Default digits."""
    host: str = "0.0.0.0"  # noqa: S104 - a pod must listen on its own address; the Service and NetworkPolicy bound who reaches it
    """Address both ports listen on. Default 0.0.0.0 (all interfaces, as a pod needs); not empty."""
    port: int = Field(default=8080, ge=1, le=65535)
    """The inference port: the KServe V1 routes and nothing else (what the Service exposes). Default 8080."""
    admin_port: int = Field(default=8081, ge=1, le=65535)
    """The admin port: /healthz, /readyz and /metrics for the kubelet's probes and Prometheus,
    never exposed by the Service. Default 8081; must differ from PORT."""
    auth_token_file: Path | None = None
    """A file holding the bearer token that the inference port requires (`Authorization: Bearer
    <token>`), e.g. a Kubernetes Secret mounted as a volume; re-read when the file changes, so a
    rotated Secret takes effect without a restart. Default unset: no token is asked for; set, it
    must not be empty."""
    max_instances: int = Field(default=256, ge=1, le=MAX_INSTANCES_LIMIT)
    """Most instances in one predict request; more get 413. Default 256, at most 2**28."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=MAX_BODY_BYTES_LIMIT)
    """Largest request body; larger ones get 413 before they are parsed. Default 1 MiB, at most 1 GiB."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = False
    """One log line per request. Default off: at thousands of requests a second the metrics
    at /metrics say more than the lines would."""
    graceful_shutdown_seconds: int = Field(default=20, ge=1, le=MAX_WAIT_SECONDS)
    """After SIGTERM, how long in-flight requests may take before they are cut (answered 503
    with `Connection: close`). Whole seconds (uvicorn's unit). Default 20, under Kubernetes'
    default 30 s termination grace period; at most an hour."""
    model_load_retry_seconds: float = Field(default=5.0, ge=0.1, le=MAX_WAIT_SECONDS)
    """Wait between attempts while the model is missing or unreadable. Default 5; 0.1 to 3600."""
    request_read_timeout_seconds: float = Field(default=30.0, gt=0, le=MAX_WAIT_SECONDS)
    """How long a client may take to send a whole request, headers and body, counted from the
    connection's start or from the end of its previous answer. A connection still short of one
    is answered 408 and closed (one where no request began, just closed), so that clients that
    never finish a request (slowloris) cannot hold connections open (mlserve/protocol.py).
    Default 30; at most 3600."""
    inference_threads: int = Field(default=1, ge=1, le=MAX_INFERENCE_THREADS)
    """onnxruntime intra-op threads per call. Default 1: the model is small, and on a small pod
    more threads compete with the HTTP event loop for the same cores. At most 64."""
    micro_batching: bool = True
    """Run concurrent predict requests as one onnxruntime call (long calls on a thread of their
    own, so the event loop goes on meanwhile). Each request still gets only its own rows. Default
    on (bench/README.md has the figures); off runs each request's call on the event loop."""
    micro_batch_max_wait_seconds: float = Field(default=0.0, ge=0, le=1)
    """With MICRO_BATCHING: how long an idle server waits for more requests before a call. Default
    0: never wait; a call takes the requests that arrived together or while the previous call ran,
    so a lone request is not delayed. At most 1."""
    micro_batch_max_instances: int = Field(default=256, ge=1, le=MAX_INSTANCES_LIMIT)
    """With MICRO_BATCHING: most instances in one onnxruntime call; a single request with more
    runs alone. Default 256, at most 2**28."""

    @field_validator("model_uri")
    @classmethod
    def _supported_location(cls, value: str) -> str:
        problem = location_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("host")
    @classmethod
    def _host_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty; give the address to listen on, e.g. 0.0.0.0 (every interface) or 127.0.0.1")
        return value

    @field_validator("auth_token_file", mode="before")
    @classmethod
    def _token_file_given(cls, value: Any) -> Any:
        # Path("") is the current directory: an empty variable would read as "a directory".
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; unset it to ask no token, or name the file holding the token")
        return value

    @model_validator(mode="after")
    def _ports_differ(self) -> Settings:
        if self.admin_port == self.port:
            raise ValueError(f"ADMIN_PORT and PORT are both {self.port}; the admin port must be a different one")
        return self


def load_settings() -> Settings:
    """Read the environment; raises SystemExit(EXIT_INVALID_CONFIGURATION) naming each bad variable."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper() or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        print(f"invalid configuration: {problems}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID_CONFIGURATION) from None
