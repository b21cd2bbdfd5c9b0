"""Provisions the stack's registry, then its cluster (which may need wiring to the registry), then
the registry's imagePullSecret in the cluster where pods need one, through the backend tables: only
the selected backends' modules, and their cloud SDKs, are imported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components import backends
from components.config import StackConfig
from components.contracts.cluster import ClusterContract
from components.contracts.pull_secret import with_image_pull_secret
from components.contracts.registry import ImageRepository


@dataclass(frozen=True, kw_only=True)
class Platform:
    cluster: ClusterContract
    repositories: Mapping[str, ImageRepository]
    """One repository per image name of the stack."""
    outputs: Mapping[str, Any]
    """The cluster backend's own stack outputs (keys from `components.outputs`)."""


def provision(config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> Platform:
    registry = backends.REGISTRIES[config.settings.registry_backend].load().provision(config, opts)
    cluster = backends.CLUSTERS[config.settings.cluster_backend].load().provision(config, registry, opts)
    return Platform(
        # Whichever the cluster, pods of a private registry pull with its token.
        cluster=with_image_pull_secret(cluster.contract, registry, opts),
        repositories=registry.repositories,
        outputs=cluster.outputs,
    )
