"""Selects the stack's cluster backend and provisions it; only that backend's module (and its
cloud SDK) is ever imported."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import backends
from components.cluster.contract import ClusterContract
from components.config import StackConfig
from components.registry.contract import ImageRepository


@dataclass(frozen=True, kw_only=True)
class Platform:
    cluster: ClusterContract
    repositories: Mapping[str, ImageRepository]
    """One repository per image name of the stack."""
    outputs: Mapping[str, Any] = field(default_factory=dict)
    """Backend-specific stack outputs (keys from `components.outputs`)."""


def provision(config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> Platform:
    backend = backends.CLUSTERS[config.settings.cluster_backend]
    module = importlib.import_module(backend.module)
    return module.provision(config, opts)
