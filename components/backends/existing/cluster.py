"""A cluster that exists already, as the contract workloads use: a Kubernetes provider for its
kubeconfig context, the workloads' namespace, and what the stack declares the cluster offers (GPU
scheduling, an artifact volume or object store). It creates no cluster, node or cloud resource:
only objects in the workloads' namespace (and the namespace itself, unless it exists already)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.backends.existing.artifacts import (
    ObjectStoreArtifactStore,
    ObjectStoreCredentials,
    ObjectStoreCredentialsArgs,
)
from components.backends.existing.settings import ExistingSettings, GpuOffer
from components.contracts.artifacts import ArtifactStore
from components.contracts.cluster import NO_GPUS, ClusterContract, GpuScheduling, Toleration
from components.contracts.namespace import default_deny_ingress, workload_namespace
from components.contracts.volume_artifacts import VolumeArtifactStore, artifact_claim


def gpu_scheduling(offer: GpuOffer | None) -> GpuScheduling:
    """The contract's GPU placement, as the stack declares the cluster schedules GPU pods."""
    if offer is None:
        return NO_GPUS
    return GpuScheduling(
        available=True,
        resource_name=offer.resource_name,
        node_selector=dict(offer.node_selector),
        tolerations=tuple(
            Toleration(key=t.key, operator=t.operator, value=t.value, effect=t.effect) for t in offer.tolerations
        ),
    )


@dataclass(frozen=True, kw_only=True)
class ExistingClusterArgs:
    settings: ExistingSettings
    namespace: str
    """The workloads' namespace: created (restricted Pod Security) unless `settings.create_namespace` is false."""
    kubeconfig: pulumi.Input[str] | None = None
    """A whole kubeconfig, a secret Output; None: `settings.kubeconfig_path`, else $KUBECONFIG or ~/.kube/config."""
    object_store_secret_access_key: pulumi.Input[str] | None = None
    """A secret Output; required when the settings choose an object store."""


class ExistingCluster(pulumi.ComponentResource):
    context: pulumi.Output[str]
    provider: k8s.Provider
    contract: ClusterContract

    def __init__(self, name: str, args: ExistingClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:cluster:ExistingCluster", name, None, opts)
        settings = args.settings
        self.context = pulumi.Output.from_input(settings.context)
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=args.kubeconfig if args.kubeconfig is not None else settings.kubeconfig_path,
            context=settings.context,
            # The context names the cluster: new credentials in the kubeconfig are an update of the
            # provider, never a replacement that would re-create every object.
            cluster_identifier=settings.context,
            # Not deleteUnreachable: the cluster outlives the stack, and an unreachable one (VPN down)
            # must not make `pulumi destroy` forget objects that still run.
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=self.provider)

        namespace: pulumi.Output[str]
        if settings.create_namespace:
            namespace = workload_namespace(name, args.namespace, on_cluster).metadata.name
        else:
            namespace = pulumi.Output.from_input(args.namespace)
            default_deny_ingress(name, namespace, on_cluster)
        artifacts, ready = self._artifacts(name, args, namespace, on_cluster)

        self.contract = ClusterContract(
            provider=self.provider,
            namespace=namespace,
            gpu=gpu_scheduling(settings.gpu),
            artifacts=artifacts,
            load_balancer_source_ranges=tuple(settings.load_balancer.source_cidrs),
            ready=ready,
        )
        self.register_outputs({"context": self.context})

    def _artifacts(
        self, name: str, args: ExistingClusterArgs, namespace: pulumi.Output[str], on_cluster: pulumi.ResourceOptions
    ) -> tuple[ArtifactStore, tuple[pulumi.Resource, ...]]:
        """The declared store: a claim of the declared class and access mode, or the object store's credentials."""
        volume = args.settings.artifacts.volume
        if volume is not None:
            claim = artifact_claim(
                name,
                namespace=namespace,
                storage_class=volume.storage_class,
                access_modes=[volume.access_mode],
                size=volume.size,
                opts=on_cluster,
            )
            return VolumeArtifactStore(claim.metadata.name, namespace), ()
        store = args.settings.artifacts.object_store
        if store is None or args.object_store_secret_access_key is None:
            # Config validation requires exactly one store, and the object store's secret key with it.
            raise ValueError("an existing cluster needs a volume, or an object store and its secret access key")
        credentials = ObjectStoreCredentials(
            f"{name}-object-store",
            ObjectStoreCredentialsArgs(
                store=store,
                secret_access_key=args.object_store_secret_access_key,
                namespace=namespace,
                provider=self.provider,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        store_access = ObjectStoreArtifactStore(
            store=store, credentials_secret_name=credentials.secret_name, namespace=namespace
        )
        return store_access, (credentials.secret,)
