"""The contract every cluster backend gives workloads, so workloads never ask which cloud they run on.

Capability differences (GPUs or none, a volume or an object store, load balancer annotations) are
data on this contract, not `if cloud ==` branches in workload code.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pulumi
import pulumi_kubernetes as k8s

GPU_RESOURCE = "nvidia.com/gpu"
"""Extended resource the NVIDIA device plugin advertises."""
GPU_TAINT_KEY = "nvidia.com/gpu"
"""Taint key GPU nodes carry (`nvidia.com/gpu=true:NoSchedule`) so only GPU pods land there."""
GPU_NODE_LABEL = "ml-platform/accelerator"
"""Label GPU nodes carry (value: `nvidia`); GPU pods select on it."""


@dataclass(frozen=True, kw_only=True)
class Toleration:
    key: str
    operator: str = "Exists"
    value: str | None = None
    effect: str = "NoSchedule"


@dataclass(frozen=True, kw_only=True)
class GpuScheduling:
    """How GPU pods are scheduled on this cluster."""

    available: bool
    """False: the cluster has no GPU nodes; GPU requests are dropped (with a warning) and pods run on CPU."""
    resource_name: str = GPU_RESOURCE
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()


NO_GPUS = GpuScheduling(available=False)


class ArtifactAccessMode(enum.Enum):
    READ_WRITE = "read-write"
    """Training: writes checkpoints and the exported model."""
    READ_ONLY = "read-only"
    """Serving: reads the exported model, never writes."""


@dataclass(frozen=True, kw_only=True)
class ArtifactAccess:
    """What one workload's pods need to reach one model's artifacts."""

    model_root_uri: pulumi.Input[str]
    """URI under which the model's runs live, e.g. `file:///models/digits` or `s3://bucket/models/digits`."""
    service_account_name: pulumi.Input[str]
    """Service account the pods run as; carries the cloud identity where the store needs one."""
    volumes: Sequence[k8s.core.v1.VolumeArgs] = ()
    volume_mounts: Sequence[k8s.core.v1.VolumeMountArgs] = ()
    env: Sequence[k8s.core.v1.EnvVarArgs] = ()
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources that must exist before pods start (identity, policy attachments)."""


class ArtifactStore(Protocol):
    """Where model artifacts live and how pods reach them."""

    def grant(self, name: str, model: str, mode: ArtifactAccessMode, opts: pulumi.ResourceOptions) -> ArtifactAccess:
        """Gives one workload access to one model's artifacts. `name` prefixes any resource created;
        `opts` carries the caller's parent and provider."""
        ...


@dataclass(frozen=True, kw_only=True)
class ClusterContract:
    name: pulumi.Output[str]
    provider: k8s.Provider
    namespace: pulumi.Output[str]
    """Namespace of the workloads; it enforces the `restricted` Pod Security Standard."""
    gpu: GpuScheduling
    artifacts: ArtifactStore
    service_annotations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Annotations per Service type (e.g. the NLB annotations for `LoadBalancer` on EKS)."""
    ready: Sequence[pulumi.Resource] = ()
    """Resources workloads wait for: registry wiring, device plugins, node groups."""
