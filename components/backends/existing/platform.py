"""The existing backend's `provision`: a provider for the declared kubeconfig context and the
workloads' namespace objects. The cluster pulls from any registry its nodes reach; a private
registry's pods pull with the platform's imagePullSecret."""

from __future__ import annotations

import pulumi

from components import outputs
from components.backends.existing.cluster import ExistingCluster, ExistingClusterArgs
from components.backends.existing.settings import KUBECONFIG_KEY, OBJECT_STORE_SECRET_KEY, ExistingSettings
from components.config import StackConfig
from components.contracts.platform import ProvisionedCluster
from components.contracts.registry import Registry
from components.schema import NAMESPACE


def provision(
    config: StackConfig, registry: Registry, opts: pulumi.ResourceOptions | None = None
) -> ProvisionedCluster:
    settings = config.backend_settings_as(ExistingSettings)
    secrets = pulumi.Config(NAMESPACE)
    cluster = ExistingCluster(
        "cluster",
        ExistingClusterArgs(
            settings=settings,
            namespace=config.settings.namespace,
            kubeconfig=secrets.get_secret(KUBECONFIG_KEY),
            object_store_secret_access_key=secrets.require_secret(OBJECT_STORE_SECRET_KEY)
            if settings.artifacts.object_store is not None
            else None,
        ),
        opts,
    )
    return ProvisionedCluster(contract=cluster.contract, outputs={outputs.CLUSTER_NAME: cluster.context})
