"""The EKS control plane and what it gives workloads: the cluster contract (GPU scheduling, S3
artifacts with per-workload IAM roles, NLB annotations), its node groups and add-ons.

The control plane is pulumi-eks's `Cluster` (the maintained component: access entries, OIDC
provider, kubeconfig, the VPC CNI and kube-proxy add-ons); node groups come from `node_groups`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components import labels
from components.backends.eks import node_groups
from components.backends.eks.addons import EksAddons, EksAddonsArgs, vpc_cni_configuration
from components.backends.eks.artifacts import S3Artifacts, S3ArtifactStore
from components.backends.eks.settings import EksSettings
from components.backends.node_labels import SYSTEM_LABELS, labelled_gpu_scheduling
from components.contracts.cluster import LOAD_BALANCER_SOURCE_RANGES, ClusterContract
from components.contracts.namespace import workload_namespace

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def load_balancer_annotations(settings: EksSettings) -> dict[str, str]:
    """A Network Load Balancer from the EKS cloud provider, admitting only the configured clients."""
    annotations = {
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
        "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
    }
    # Required by the settings whenever a model is a LoadBalancer (empty would admit anyone).
    if settings.load_balancer.source_cidrs:
        annotations[LOAD_BALANCER_SOURCE_RANGES] = ",".join(settings.load_balancer.source_cidrs)
    if settings.load_balancer.internal:
        annotations["service.beta.kubernetes.io/aws-load-balancer-internal"] = "true"
    return annotations


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
            # The VPC CNI as an EKS add-on that pulumi-eks manages, so that its configuration (here:
            # NetworkPolicy enforcement, off by default) is declared rather than left to the bootstrap.
            use_default_vpc_cni=False,
            vpc_cni_options=eks.VpcCniOptionsArgs(configuration_values=vpc_cni_configuration()),
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

        role, attachments = node_groups.node_role(name, args.cluster_name, tags, child)
        context = node_groups.NodeGroupContext(
            name=name,
            cluster_name=args.cluster_name,
            kubernetes_version=args.kubernetes_version,
            node_role_arn=role.arn,
            subnet_ids=args.private_subnet_ids,
            tags=tags,
            # Node groups name the cluster by its (fixed) name, so they wait for it explicitly.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster, *attachments, *args.node_network]),
        )
        built = [node_groups.system_node_group(context, settings.system_node_group)]
        built += [node_groups.gpu_node_pool(context, pool, child) for pool in settings.gpu_node_pools]
        groups = [group.group for group in built]

        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        addons = EksAddons(
            f"{name}-addons",
            EksAddonsArgs(
                cluster_name=args.cluster_name,
                region=args.region,
                account_id=identity.account_id,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer=cluster.oidc_issuer,
                autoscaled_group_names=[group.autoscaling_group_name for group in built],
                charts=settings.charts,
                system_node_selector=SYSTEM_LABELS,
                gpu_nodes=bool(settings.gpu_node_pools),
                node_groups=groups,
            ),
            pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.provider}),
        )

        on_kubernetes = pulumi.ResourceOptions(parent=self, provider=self.provider)
        namespace = workload_namespace(name, args.namespace, on_kubernetes)
        self.contract = ClusterContract(
            provider=self.provider,
            namespace=namespace.metadata.name,
            gpu=labelled_gpu_scheduling(bool(settings.gpu_node_pools)),
            artifacts=S3ArtifactStore(
                artifacts=args.artifacts,
                region=args.region,
                namespace=namespace.metadata.name,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer=cluster.oidc_issuer,
            ),
            service_annotations={"LoadBalancer": load_balancer_annotations(settings)},
            ready=(*groups, *addons.ready),
            metrics_api=(addons.metrics_api,),
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "kubeconfig": self.kubeconfig,
                "oidc_provider_arn": self.oidc_provider_arn,
            }
        )
