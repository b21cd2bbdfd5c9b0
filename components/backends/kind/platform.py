"""kind's `provision`: the cluster, wired to the local registry the platform provisioned first."""

from __future__ import annotations

import pulumi

from components import outputs
from components.backends.kind.cluster import KindCluster, KindClusterArgs
from components.backends.kind.registry import LocalRegistryEndpoint
from components.backends.kind.settings import KindSettings
from components.config import StackConfig
from components.contracts.platform import ProvisionedCluster
from components.contracts.registry import Registry


def provision(
    config: StackConfig, registry: Registry, opts: pulumi.ResourceOptions | None = None
) -> ProvisionedCluster:
    settings = config.backend_settings_as(KindSettings)
    if not isinstance(registry, LocalRegistryEndpoint):
        # The backend table pairs kind with the local registry only, and config validation enforces it.
        raise TypeError(f"kind pulls from its local registry only, not {type(registry).__name__}")
    cluster = KindCluster(
        "cluster",
        KindClusterArgs(
            cluster_name=settings.cluster_name or f"ml-{pulumi.get_stack()}",
            settings=settings,
            namespace=config.settings.namespace,
            registry_host=registry.host,
            registry_container=registry.container_name,
        ),
        opts,
    )
    return ProvisionedCluster(
        contract=cluster.contract,
        outputs={outputs.CLUSTER_NAME: cluster.cluster_name, outputs.KUBECONFIG: cluster.kubeconfig},
    )
