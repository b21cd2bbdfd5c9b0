"""The contract every cluster backend gives workloads, so workloads never ask which cloud they run on.

Capability differences (GPUs or none, a volume or an object store, load balancer annotations) are
data on this contract, not `if cloud ==` branches in workload code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.contracts.artifacts import ArtifactStore

LOAD_BALANCER_SOURCE_RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"
"""The Service annotation the AWS and GKE load-balancer controllers read for the client CIDRs."""
GPU_RESOURCE = "nvidia.com/gpu"
"""Extended resource the NVIDIA device plugin advertises."""
GPU_TAINT_KEY = "nvidia.com/gpu"
"""Taint key GPU nodes carry (NoSchedule; the value is the cloud's: `true` on EKS, `present` on GKE)
so only GPU pods land there; pods tolerate the key whatever its value."""
GPU_NODE_LABEL = "ml-platform/accelerator"
GPU_NODE_LABEL_VALUE = "nvidia"
"""Label (and its value) GPU nodes carry; GPU pods select on it."""


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


@dataclass(frozen=True, kw_only=True)
class ClusterContract:
    provider: k8s.Provider
    namespace: pulumi.Output[str]
    """Namespace of the workloads; it enforces the `restricted` Pod Security Standard."""
    gpu: GpuScheduling
    artifacts: ArtifactStore
    service_annotations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Annotations per Service type (e.g. the NLB annotations for `LoadBalancer` on EKS)."""
    load_balancer_source_ranges: Sequence[str] = ()
    """Client CIDRs a `LoadBalancer` Service admits, as its spec.loadBalancerSourceRanges (what
    kube-proxy and every cloud's controller enforce); empty: none there (EKS and GKE set them in
    `service_annotations`, an existing cluster where its stack declares them)."""
    ready: Sequence[pulumi.Resource] = ()
    """Resources workloads wait for: registry wiring, device plugins, node groups."""
    image_pull_secrets: Sequence[pulumi.Input[str]] = ()
    """Names of `kubernetes.io/dockerconfigjson` Secrets in `namespace` that every workload pod lists
    in `imagePullSecrets` (a private registry's token); empty where nodes pull on their own."""
    metrics_api: Sequence[pulumi.Resource] = ()
    """What serves the resource metrics API (metrics.k8s.io) that HorizontalPodAutoscalers read;
    autoscalers are created after it. Every backend's cluster must serve that API: kind and EKS
    install metrics-server; a cluster that has it built in (GKE) leaves this empty."""
