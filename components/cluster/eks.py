"""An EKS cluster with a CPU system node group and GPU node groups that scale from zero, its add-ons,
an S3 artifact store with per-workload IAM roles, and an ECR repository per image.

The control plane is pulumi-eks's `Cluster` (the maintained component: access entries, OIDC
provider, kubeconfig, the VPC CNI and kube-proxy add-ons). Node groups are plain
`aws.eks.NodeGroup`s rather than pulumi-eks's `ManagedNodeGroup`, because the cluster-autoscaler's
scale-from-zero tags must go on each group's Auto Scaling group, whose name only the plain
resource exposes as a value (the component returns the node group as a resource reference).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components import labels, outputs
from components.cluster.contract import (
    GPU_NODE_LABEL,
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    ClusterContract,
    GpuScheduling,
    Toleration,
)
from components.cluster.eks_addons import EksAddons, EksAddonsArgs
from components.cluster.eks_network import EksNetwork, EksNetworkArgs
from components.cluster.eks_policies import service_trust_policy
from components.cluster.eks_settings import EksSettings, GpuNodePool
from components.cluster.namespace import workload_namespace
from components.cluster.s3_artifacts import S3Artifacts, S3ArtifactsArgs, S3ArtifactStore
from components.config import StackConfig
from components.platform import Platform
from components.registry.ecr import EcrRegistry, EcrRegistryArgs

NODE_POOL_LABEL = "ml-platform/node-pool"
SYSTEM_POOL = "system"
GPU_AMI_TYPE = "AL2023_x86_64_NVIDIA"
"""Amazon Linux 2023 with the NVIDIA driver and container toolkit; the device plugin is installed separately."""
CPU_AMI_TYPE = "AL2023_x86_64_STANDARD"
GPU_TAINT_VALUE = "true"
AUTOSCALER_TEMPLATE_PREFIX = "k8s.io/cluster-autoscaler/node-template"
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# What nodes need: join the cluster, run the VPC CNI (pulumi-eks's default, on the node role), pull
# from ECR. Nothing else: workloads get their own roles.
NODE_POLICIES = {
    "worker": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "cni": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "registry": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
}
# Autoscaler changes to a group's size must not be reverted by the next `pulumi up`.
SCALING_IGNORED = ["scalingConfig.desiredSize"]


def gpu_node_labels(pool: GpuNodePool) -> dict[str, str]:
    """Labels of a GPU pool's nodes; the pool's own labels cannot override the platform's (the schema refuses them)."""
    return {**pool.labels, GPU_NODE_LABEL: "nvidia", NODE_POOL_LABEL: pool.name}


def scale_from_zero_tags(node_labels: Mapping[str, str], taints: Mapping[str, str], gpus: int) -> dict[str, str]:
    """The cluster-autoscaler's node-template tags: with no node running, they tell it what a new
    node would offer (labels, taints as `value:Effect`, and the GPU extended resource)."""
    tags = {f"{AUTOSCALER_TEMPLATE_PREFIX}/label/{key}": value for key, value in node_labels.items()}
    tags |= {f"{AUTOSCALER_TEMPLATE_PREFIX}/taint/{key}": value for key, value in taints.items()}
    if gpus:
        tags[f"{AUTOSCALER_TEMPLATE_PREFIX}/resources/{GPU_RESOURCE}"] = str(gpus)
    return dict(sorted(tags.items()))


def template_slug(tag_key: str) -> str:
    """A stable logical-name part per template tag (`label-ml-platform-accelerator`), so adding a
    label never renames the others."""
    suffix = tag_key.removeprefix(f"{AUTOSCALER_TEMPLATE_PREFIX}/")
    return re.sub(r"[^a-z0-9]+", "-", suffix.lower()).strip("-")


def load_balancer_annotations(settings: EksSettings) -> dict[str, str]:
    """A Network Load Balancer from the EKS cloud provider, admitting only the configured clients."""
    annotations = {
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
        "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
        "service.beta.kubernetes.io/load-balancer-source-ranges": ",".join(settings.load_balancer.source_cidrs),
    }
    if settings.load_balancer.internal:
        annotations["service.beta.kubernetes.io/aws-load-balancer-internal"] = "true"
    return annotations


def gpu_scheduling(settings: EksSettings) -> GpuScheduling:
    return GpuScheduling(
        available=bool(settings.gpu_node_pools),
        node_selector={GPU_NODE_LABEL: "nvidia"},
        tolerations=(Toleration(key=GPU_TAINT_KEY, operator="Exists", effect="NoSchedule"),),
    )


@dataclass(frozen=True, kw_only=True)
class EksClusterArgs:
    cluster_name: str
    """Physical EKS name: autoscaler discovery tags and `aws eks update-kubeconfig` name it."""
    kubernetes_version: str
    region: str
    namespace: str
    settings: EksSettings
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    """Nodes and the control plane's network interfaces."""
    public_subnet_ids: Sequence[pulumi.Input[str]]
    """Internet-facing load balancers."""
    artifacts: S3Artifacts
    node_network: Sequence[pulumi.Resource] = ()
    """What nodes need before they boot (the private subnets' routes to NAT); without it they fail to join."""


class EksCluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    """Secret. Uses `aws eks get-token`, so the AWS CLI and credentials must be present."""
    oidc_provider_arn: pulumi.Output[str]
    provider: k8s.Provider
    contract: ClusterContract

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:cluster:EksCluster", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        protected = pulumi.ResourceOptions(parent=self, protect=settings.protect)
        tags = labels.cloud_tags("cluster")

        secrets_key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"envelope encryption of Kubernetes secrets in EKS cluster {args.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            opts=protected,
        )
        cluster = eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=list(args.private_subnet_ids),
            public_subnet_ids=list(args.public_subnet_ids),
            node_associate_public_ip_address=False,
            # Access entries only; EKS itself adds the entries of managed node groups' roles.
            authentication_mode=eks.AuthenticationMode.API,
            access_entries={
                f"admin-{index}": eks.AccessEntryArgs(
                    principal_arn=arn,
                    access_policies={
                        "cluster-admin": eks.AccessPolicyAssociationArgs(
                            policy_arn=CLUSTER_ADMIN_POLICY,
                            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                        )
                    },
                )
                for index, arn in enumerate(settings.admin_principal_arns)
            },
            skip_default_node_group=True,
            create_oidc_provider=True,
            encryption_config_key_arn=secrets_key.arn,
            enabled_cluster_log_types=list(settings.cluster_log_types),
            endpoint_private_access=True,
            endpoint_public_access=settings.endpoint.public,
            public_access_cidrs=list(settings.endpoint.public_cidrs) or None,
            deletion_protection=settings.protect,
            tags=tags,
            opts=protected,
        )
        self.cluster_name = pulumi.Output.from_input(args.cluster_name)
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig_json)
        self.oidc_provider_arn = cluster.oidc_provider_arn
        self.provider = k8s.Provider(f"{name}-provider", kubeconfig=self.kubeconfig, opts=child)

        # Node groups name the cluster by its (fixed) name, so they wait for it explicitly.
        on_cluster = pulumi.ResourceOptions(parent=self, depends_on=[cluster])
        node_role = aws.iam.Role(
            f"{name}-node-role",
            description=f"nodes of EKS cluster {args.cluster_name}",
            assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{role}", role=node_role.name, policy_arn=arn, opts=child)
            for role, arn in NODE_POLICIES.items()
        ]
        node_opts = pulumi.ResourceOptions.merge(
            on_cluster,
            pulumi.ResourceOptions(
                depends_on=[cluster, *attachments, *args.node_network], ignore_changes=SCALING_IGNORED
            ),
        )

        def node_group(
            logical_name: str, pool_name: str, *, ami_type: str, capacity_type: str, sizes, node_labels, taints=None
        ):
            """`sizes`: the pool's settings (instance types, disk, min/max size)."""
            return aws.eks.NodeGroup(
                logical_name,
                cluster_name=args.cluster_name,
                version=args.kubernetes_version,
                node_role_arn=node_role.arn,
                subnet_ids=list(args.private_subnet_ids),
                ami_type=ami_type,
                capacity_type=capacity_type,
                instance_types=list(sizes.instance_types),
                disk_size=sizes.disk_size_gb,
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=sizes.min_size, desired_size=sizes.min_size, max_size=sizes.max_size
                ),
                update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
                labels=node_labels,
                taints=taints,
                tags={**tags, "node-pool": pool_name},
                opts=node_opts,
            )

        system_labels = {NODE_POOL_LABEL: SYSTEM_POOL}
        system_group = node_group(
            f"{name}-{SYSTEM_POOL}",
            SYSTEM_POOL,
            ami_type=CPU_AMI_TYPE,
            capacity_type="ON_DEMAND",
            sizes=settings.system_node_group,
            node_labels=system_labels,
        )
        node_groups = [system_group]
        autoscaled_groups = [_asg_name(system_group)]
        for pool in settings.gpu_node_pools:
            node_labels = gpu_node_labels(pool)
            group = node_group(
                f"{name}-gpu-{pool.name}",
                pool.name,
                ami_type=GPU_AMI_TYPE,
                capacity_type=pool.capacity_type,
                sizes=pool,
                node_labels=node_labels,
                taints=[aws.eks.NodeGroupTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect="NO_SCHEDULE")],
            )
            asg_name = _asg_name(group)
            template = scale_from_zero_tags(
                node_labels, {GPU_TAINT_KEY: f"{GPU_TAINT_VALUE}:NoSchedule"}, pool.gpus_per_node
            )
            for key, value in template.items():
                aws.autoscaling.Tag(
                    f"{name}-gpu-{pool.name}-{template_slug(key)}",
                    autoscaling_group_name=asg_name,
                    # The group's own tag, read by the autoscaler; not copied onto instances.
                    tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                    opts=child,
                )
            node_groups.append(group)
            autoscaled_groups.append(asg_name)

        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        addons = EksAddons(
            f"{name}-addons",
            EksAddonsArgs(
                cluster_name=args.cluster_name,
                region=args.region,
                account_id=identity.account_id,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer=cluster.oidc_issuer,
                autoscaled_group_names=autoscaled_groups,
                charts=settings.charts,
                system_node_selector=system_labels,
                gpu_nodes=bool(settings.gpu_node_pools),
                node_groups=node_groups,
            ),
            pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.provider}),
        )

        on_kubernetes = pulumi.ResourceOptions(parent=self, provider=self.provider)
        namespace = workload_namespace(name, args.namespace, on_kubernetes)
        self.contract = ClusterContract(
            name=self.cluster_name,
            provider=self.provider,
            namespace=namespace.metadata.name,
            gpu=gpu_scheduling(settings),
            artifacts=S3ArtifactStore(
                artifacts=args.artifacts,
                region=args.region,
                namespace=namespace.metadata.name,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer=cluster.oidc_issuer,
            ),
            service_annotations={"LoadBalancer": load_balancer_annotations(settings)},
            ready=(*node_groups, *addons.ready),
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "kubeconfig": self.kubeconfig,
                "oidc_provider_arn": self.oidc_provider_arn,
            }
        )


def _asg_name(group: aws.eks.NodeGroup) -> pulumi.Output[str]:
    return group.resources.apply(lambda resources: resources[0].autoscaling_groups[0].name)


def provision(config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> Platform:
    settings: EksSettings = config.backend_settings
    region = pulumi.Config("aws").require("region")
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
    registry = EcrRegistry(
        "registry",
        EcrRegistryArgs(
            image_names=sorted(config.images), images_kept=settings.ecr_images_kept, protect=settings.protect
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
    return Platform(
        cluster=cluster.contract,
        repositories=registry.repositories,
        outputs={
            outputs.CLUSTER_NAME: cluster.cluster_name,
            outputs.KUBECONFIG: cluster.kubeconfig,
            outputs.ARTIFACT_BUCKET: artifacts.bucket_name,
            outputs.REGION: region,
            outputs.UPDATE_KUBECONFIG: pulumi.Output.concat(
                "aws eks update-kubeconfig --region ", region, " --name ", cluster.cluster_name
            ),
        },
    )
