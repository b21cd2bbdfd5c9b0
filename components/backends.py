"""What each cluster and registry backend offers, as data, so config validation can check a stack
against it before any backend module (and its cloud SDK) is imported."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ClusterBackend:
    name: str
    module: str
    """Module whose `provision(config, opts)` builds the cluster and registry; imported only when selected."""
    registries: tuple[str, ...]
    """Registry backends this cluster can pull from."""
    service_types: tuple[str, ...]
    """Service types that get a reachable endpoint on this cluster."""


CLUSTERS: dict[str, ClusterBackend] = {
    "kind": ClusterBackend(
        name="kind",
        module="components.cluster.kind",
        registries=("local",),
        # kind has no load-balancer controller. `kubectl port-forward` reaches a ClusterIP Service
        # from any laptop; a NodePort only from Linux hosts (the node's container IP).
        service_types=("ClusterIP", "NodePort"),
    ),
    "eks": ClusterBackend(
        name="eks",
        module="components.cluster.eks",
        registries=("ecr",),
        service_types=("ClusterIP", "LoadBalancer"),
    ),
}

REGISTRIES: tuple[str, ...] = ("local", "ecr")
