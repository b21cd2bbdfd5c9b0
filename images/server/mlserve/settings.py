"""Every setting of the server, read once from environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Environment variables are the field names in upper case (MODEL_URI, PORT, ...)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", protected_namespaces=())

    model_uri: str = Field(min_length=1)
    """Required. The trainer's --output-uri: file://, s3://, gs:// or a local path."""
    model_name: str = Field(default="digits", min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """Name in the /v1/models/{name} routes; other names get 404. Default digits."""
    host: str = "0.0.0.0"  # noqa: S104 - a pod must listen on its own address; the Service and NetworkPolicy bound who reaches it
    """Address to listen on. Default 0.0.0.0 (all interfaces, as a pod needs)."""
    port: int = Field(default=8080, ge=1, le=65535)
    max_instances: int = Field(default=256, ge=1)
    """Most instances in one predict request; more get 413. Default 256."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest request body; larger ones get 413 before they are parsed. Default 1 MiB."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = False
    """One log line per request. Default off: at thousands of requests a second the metrics
    at /metrics say more than the lines would."""
    graceful_shutdown_seconds: float = Field(default=20.0, gt=0)
    """After SIGTERM, how long in-flight requests may take before they are cut. Default 20,
    under Kubernetes' default 30 s termination grace period."""
    model_load_retry_seconds: float = Field(default=5.0, gt=0)
    """Wait between attempts while the model is missing or unreadable. Default 5."""
    inference_threads: int = Field(default=1, ge=1)
    """onnxruntime intra-op threads. Default 1: the model is tiny and requests run one at a
    time on the event loop, so more threads only add hand-off cost."""


def load_settings() -> Settings:
    """Read the environment; raises SystemExit with one line per bad variable."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in error.errors())
        raise SystemExit(f"invalid configuration: {problems}") from None
