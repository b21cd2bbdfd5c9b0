"""kind's `provision`: the cluster, wired to the local registry when the platform provisioned that
first (any other registry is pulled from with the platform's imagePullSecret)."""

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
    cluster = KindCluster(
        "cluster",
        KindClusterArgs(
            cluster_name=settings.cluster_name or f"ml-{pulumi.get_stack()}",
            settings=settings,
            namespace=config.settings.namespace,
            # The local registry is wired into the nodes; any other pulls with the platform's pull secret.
            local_registry=registry if isinstance(registry, LocalRegistryEndpoint) else None,
        ),
        opts,
    )
    return ProvisionedCluster(
        contract=cluster.contract,
        outputs={outputs.CLUSTER_NAME: cluster.cluster_name, outputs.KUBECONFIG: cluster.kubeconfig},
    )
