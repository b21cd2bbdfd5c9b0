"""What a cluster backend's `provision` returns: the contract workloads use, and the stack outputs
only that backend has (its kubeconfig, region, bucket)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.contracts.cluster import ClusterContract


@dataclass(frozen=True, kw_only=True)
class ProvisionedCluster:
    contract: ClusterContract
    outputs: Mapping[str, Any] = field(default_factory=dict)
    """Backend-specific stack outputs (keys from `components.outputs`)."""
