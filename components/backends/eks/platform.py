"""EKS's `provision`: network, artifact bucket and cluster. Images come from the ECR registry the
platform provisioned first; nodes pull from it with their role's read-only ECR policy."""

from __future__ import annotations

import pulumi

from components import outputs
from components.backends.eks import ci_identity
from components.backends.eks.artifacts import S3Artifacts, S3ArtifactsArgs
from components.backends.eks.cluster import EksCluster, EksClusterArgs
from components.backends.eks.network import EksNetwork, EksNetworkArgs
from components.backends.eks.settings import AwsProvider, EksSettings
from components.config import StackConfig
from components.contracts.platform import ProvisionedCluster
from components.contracts.registry import Registry


def provision(
    config: StackConfig, registry: Registry, opts: pulumi.ResourceOptions | None = None
) -> ProvisionedCluster:
    settings = config.backend_settings_as(EksSettings)
    region = config.provider_settings_as(AwsProvider).region
    cluster_name = settings.cluster_name or f"ml-{pulumi.get_stack()}"

    network = EksNetwork(
        "network",
        EksNetworkArgs(
            cluster_name=cluster_name,
            vpc_cidr=settings.vpc_cidr,
            availability_zones=settings.availability_zones,
            nat_gateways=settings.nat_gateways,
        ),
        opts,
    )
    artifacts = S3Artifacts("artifacts", S3ArtifactsArgs(protect=settings.protect), opts)
    cluster = EksCluster(
        "cluster",
        EksClusterArgs(
            cluster_name=cluster_name,
            kubernetes_version=config.settings.kubernetes_version,
            region=region,
            namespace=config.settings.namespace,
            settings=settings,
            vpc_id=network.vpc_id,
            private_subnet_ids=network.private_subnet_ids,
            public_subnet_ids=network.public_subnet_ids,
            artifacts=artifacts,
            node_network=network.egress,
        ),
        opts,
    )
    # The roles GitHub Actions assumes to preview and deploy this stack (docs/ci.md), if it asks for them.
    ci_outputs = (
        ci_identity.provision(
            config.ci, region=region, cluster_name=cluster_name, cluster=cluster, artifacts=artifacts, opts=opts
        )
        if config.ci is not None
        else {}
    )
    return ProvisionedCluster(
        contract=cluster.contract,
        outputs={
            outputs.CLUSTER_NAME: cluster.cluster_name,
            outputs.KUBECONFIG: cluster.kubeconfig,
            outputs.ARTIFACT_BUCKET: artifacts.bucket_name,
            outputs.REGION: region,
            outputs.UPDATE_KUBECONFIG: pulumi.Output.concat(
                "aws eks update-kubeconfig --region ", region, " --name ", cluster.cluster_name
            ),
            **ci_outputs,
        },
    )
