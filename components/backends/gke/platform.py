"""GKE's `provision`: network, artifact bucket and cluster. Images come from the registry the
platform provisioned first: an Artifact Registry repository, which the cluster lets its nodes read,
or an OCI registry, which pods pull with the platform's pull secret."""

from __future__ import annotations

import pulumi

from components import outputs
from components.backends.gke import ci_identity
from components.backends.gke.artifacts import GcsArtifacts, GcsArtifactsArgs
from components.backends.gke.cluster import GkeCluster, GkeClusterArgs
from components.backends.gke.network import GkeNetwork, GkeNetworkArgs
from components.backends.gke.registry import ArtifactRegistryEndpoint
from components.backends.gke.settings import GcpProvider, GkeSettings
from components.config import StackConfig
from components.contracts.platform import ProvisionedCluster
from components.contracts.registry import Registry


def provision(
    config: StackConfig, registry: Registry, opts: pulumi.ResourceOptions | None = None
) -> ProvisionedCluster:
    settings = config.backend_settings_as(GkeSettings)
    provider = config.provider_settings_as(GcpProvider)
    cluster_name = settings.cluster_name or f"ml-{pulumi.get_stack()}"
    location = settings.zone or provider.region

    network = GkeNetwork(
        "network", GkeNetworkArgs(project=provider.project, region=provider.region, ranges=settings.network), opts
    )
    artifacts = GcsArtifacts(
        "artifacts",
        GcsArtifactsArgs(project=provider.project, location=provider.region, protect=settings.protect),
        opts,
    )
    cluster = GkeCluster(
        "cluster",
        GkeClusterArgs(
            cluster_name=cluster_name,
            project=provider.project,
            location=location,
            kubernetes_version=config.settings.kubernetes_version,
            namespace=config.settings.namespace,
            settings=settings,
            network_id=network.network_id,
            subnet_id=network.subnet_id,
            artifacts=artifacts,
            node_network=network.egress,
            # Artifact Registry is read with the nodes' own identity; any other registry with a pull secret.
            registry=registry if isinstance(registry, ArtifactRegistryEndpoint) else None,
        ),
        opts,
    )
    # The identities GitHub Actions impersonates to preview and deploy this stack (docs/ci.md), if it
    # asks for them; the deploy identity may act as the nodes' account (node pools run as it), no other.
    ci_outputs: dict[str, pulumi.Output[str]] = {}
    if config.ci is not None:
        ci_outputs = ci_identity.provision(
            config.ci, project=provider.project, node_service_account=cluster.node_service_account_name, opts=opts
        )
    return ProvisionedCluster(
        contract=cluster.contract,
        outputs={
            outputs.CLUSTER_NAME: cluster.cluster_name,
            outputs.KUBECONFIG: cluster.kubeconfig,
            outputs.ARTIFACT_BUCKET: artifacts.bucket_name,
            outputs.REGION: provider.region,
            outputs.UPDATE_KUBECONFIG: pulumi.Output.concat(
                "gcloud container clusters get-credentials ",
                cluster.cluster_name,
                " --location ",
                location,
                " --project ",
                provider.project,
            ),
            **ci_outputs,
        },
    )
