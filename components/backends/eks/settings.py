"""Schema of the `ml-platform:eks` stack object (clusterBackend: eks).

Pure pydantic: no Pulumi or AWS SDK import, so validating a stack stays cheap. The backend table
(`components.backends`) registers the key and the `aws:` provider keys the backend reads.

Errors come out as `ml-platform:eks.<path> = <value>: <what is allowed>`, like every other key.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, StrictBool, StrictInt, model_validator

from components.backends.addresses import Cidr, private_cidr
from components.backends.exposure import exposure_warnings, load_balancer_problems
from components.backends.gpu_capacity import PoolCapacity, check_unique_pool_names, gpu_scheduling_problems
from components.backends.label_syntax import labels_validator
from components.schema import (
    BackendSettings,
    ChartVersion,
    NonNegativeInt,
    PositiveInt,
    Problem,
    Schema,
    StackFacts,
    matching,
)

# EKS node group names: letters, digits, '-' and '_', at most 63; kept lower-kebab here because
# the name also becomes a Kubernetes label value and part of logical resource names.
_POOL_NAME = r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?"
_CLUSTER_NAME = r"[a-zA-Z0-9][a-zA-Z0-9_-]{0,99}"
_INSTANCE_TYPE = r"[a-z][a-z0-9-]*\.[a-z0-9]+"
# IAM names and paths: ASCII letters, digits and +=,.@_-/ (IAM's own pattern).
_ADMIN_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+")
# The label keys the platform sets itself on every node group; a pool may not override them.
RESERVED_LABEL_PREFIXES = ("ml-platform/", "kubernetes.io/", "k8s.io/", "eks.amazonaws.com/")

LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")


PoolName = Annotated[
    str,
    matching(_POOL_NAME, "must be 1-32 lower-case letters, digits or '-', starting and ending with a letter or digit"),
]
InstanceType = Annotated[str, matching(_INSTANCE_TYPE, "must be an EC2 instance type such as g5.xlarge or m6i.large")]
NodeLabels = Annotated[dict[str, str], labels_validator(RESERVED_LABEL_PREFIXES)]
# /20 at most: the VPC is split into a private and a public subnet per AZ (components/backends/eks/network.py).
VpcCidr = Annotated[
    str,
    private_cidr(
        min_prefix=16, max_prefix=20, example="10.0.0.0/16", why="room for a private and a public subnet per AZ"
    ),
]
DiskSizeGb = Annotated[StrictInt, Field(ge=20, le=16384)]


class _Sized(Schema):
    """Cross-field checks every node group shares; a pydantic model validator, so errors name the group."""

    min_size: int
    max_size: int

    @model_validator(mode="after")
    def _sizes(self) -> Self:
        if self.max_size < self.min_size:
            raise ValueError(f"maxSize ({self.max_size}) must be at least minSize ({self.min_size})")
        return self


class SystemNodeGroup(_Sized):
    """CPU nodes for the add-ons (CoreDNS, cluster-autoscaler) and CPU workloads (serving)."""

    instance_types: Annotated[list[InstanceType], Field(min_length=1)] = Field(
        default=["m6i.large"], description="EC2 instance types, same size each (default m6i.large)."
    )
    min_size: PositiveInt = Field(
        default=2, description="Never below this; CoreDNS and the autoscaler live here (default 2)."
    )
    max_size: PositiveInt = Field(default=4, description="The autoscaler grows the group up to this (default 4).")
    disk_size_gb: DiskSizeGb = Field(default=50, description="Root volume per node, GiB (default 50).")


class GpuNodePool(_Sized):
    """One GPU node group: tainted `nvidia.com/gpu=true:NoSchedule`, scaled from zero by the autoscaler."""

    name: PoolName = Field(description="Unique pool name; becomes the node label `ml-platform/node-pool`.")
    instance_types: Annotated[list[InstanceType], Field(min_length=1)] = Field(
        description="GPU instance types (e.g. g5.xlarge); all with the same GPUs per node."
    )
    gpus_per_node: PositiveInt = Field(
        default=1,
        description="GPUs each instance has (g5.xlarge: 1, g5.12xlarge: 4); the autoscaler's scale-from-zero template.",
    )
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field(
        default="ON_DEMAND",
        description="ON_DEMAND, or SPOT (cheaper, may be reclaimed; training resumes from checkpoints).",
    )
    min_size: NonNegativeInt = Field(default=0, description="Default 0: no GPU node, and no GPU bill, while idle.")
    max_size: PositiveInt = Field(description="Most nodes the autoscaler may start.")
    disk_size_gb: DiskSizeGb = Field(
        default=100, description="Root volume per node, GiB (default 100: CUDA images are large)."
    )
    labels: NodeLabels = Field(
        default_factory=dict, description="Extra node labels; `ml-platform/*` keys are reserved."
    )


class EndpointAccess(Schema):
    """Who may reach the Kubernetes API server."""

    public: StrictBool = Field(
        default=True, description="False: private endpoint only (reach it from the VPC or a VPN)."
    )
    public_cidrs: list[Cidr] = Field(
        default_factory=list,
        description=(
            "Source CIDRs allowed on the public endpoint; required when `public` is true (never 0.0.0.0/0 by default)."
        ),
    )

    @model_validator(mode="after")
    def _cidrs_match_public(self) -> Self:
        if self.public and not self.public_cidrs:
            raise ValueError("publicCidrs is required when public is true: list the CIDRs of your operators and CI")
        if not self.public and self.public_cidrs:
            raise ValueError("publicCidrs must be empty when public is false (private endpoint only)")
        return self


class LoadBalancing(Schema):
    """Network Load Balancers of `serviceType: LoadBalancer` model services."""

    internal: StrictBool = Field(default=False, description="True: an internal NLB, reachable from the VPC only.")
    source_cidrs: list[Cidr] = Field(
        default_factory=list,
        description=(
            "Client CIDRs the NLB admits; required when a model is served as a LoadBalancer (no open "
            "default: an NLB without source ranges admits 0.0.0.0/0). [0.0.0.0/0] admits anyone, with a warning."
        ),
    )


class AddonCharts(Schema):
    """Pinned Helm chart versions of the cluster add-ons."""

    nvidia_device_plugin: ChartVersion = Field(
        default="0.17.1", description="nvidia-device-plugin chart (https://nvidia.github.io/k8s-device-plugin)."
    )
    cluster_autoscaler: ChartVersion = Field(
        default="9.47.0",
        description=(
            "cluster-autoscaler chart (https://kubernetes.github.io/autoscaler); its minor must match the cluster's."
        ),
    )
    metrics_server: ChartVersion = Field(
        # Chart 3.13.0 ships metrics-server v0.8.0 (the chart's CHANGELOG.md); the same pin as kind's.
        default="3.13.0",
        description="metrics-server chart (https://kubernetes-sigs.github.io/metrics-server/), for autoscalers.",
    )


class EksSettings(BackendSettings):
    """The EKS cluster, its network, node groups and add-ons (clusterBackend: eks)."""

    cluster_name: (
        Annotated[
            str, matching(_CLUSTER_NAME, "must be 1-100 letters, digits, '-' or '_', starting with a letter or digit")
        ]
        | None
    ) = Field(
        default=None,
        description=(
            "EKS cluster name (the autoscaler's discovery tags and `aws eks` commands use it); default: ml-<stack>."
        ),
    )
    vpc_cidr: VpcCidr = Field(
        default="10.0.0.0/16",
        description="VPC CIDR, /16 to /20, inside 10/8, 172.16/12, 192.168/16 (RFC 1918) or 100.64/10 (RFC 6598).",
    )
    availability_zones: Annotated[StrictInt, Field(ge=2, le=6)] = Field(
        default=3, description="AZs to spread subnets over, 2-6 (taken from the region's available AZs)."
    )
    nat_gateways: Literal["single", "perAz"] = Field(
        default="perAz",
        description="perAz: one NAT gateway per AZ (an AZ outage leaves the others online); single: one (cheaper).",
    )
    endpoint: EndpointAccess = Field(description="API server endpoint access; there is no open default.")
    cluster_log_types: list[Literal[LOG_TYPES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(LOG_TYPES), description="Control-plane logs sent to CloudWatch (default all)."
    )
    admin_principal_arns: list[str] = Field(
        default_factory=list,
        description=(
            "IAM roles/users given cluster-admin access entries, besides the identity that creates the cluster."
        ),
    )
    system_node_group: SystemNodeGroup = Field(
        default_factory=SystemNodeGroup, description="The CPU system node group."
    )
    gpu_node_pools: list[GpuNodePool] = Field(
        default_factory=list, description="GPU node groups; none: GPU workloads run on CPU with a warning."
    )
    load_balancer: LoadBalancing = Field(default_factory=LoadBalancing, description="NLBs of LoadBalancer services.")
    charts: AddonCharts = Field(default_factory=AddonCharts, description="Pinned add-on chart versions.")
    ecr_images_kept: Annotated[StrictInt, Field(ge=1, le=1000)] = Field(
        default=30,
        description="Images each ECR repository keeps (older ones expire); pods run by digest, keep a margin.",
    )
    protect: StrictBool = Field(
        default=True,
        description="Protect the cluster, repositories and bucket from `pulumi destroy` (false: throwaway stacks).",
    )

    @model_validator(mode="after")
    def _unique_pools(self) -> Self:
        check_unique_pool_names([pool.name for pool in self.gpu_node_pools])
        return self

    def problems(self, key: str, facts: StackFacts) -> list[Problem]:
        pools = [PoolCapacity(pool.name, pool.gpus_per_node, pool.max_size) for pool in self.gpu_node_pools]
        return [
            *gpu_scheduling_problems(pools, key, facts, gpus_field="gpusPerNode", nodes_field="maxSize"),
            *load_balancer_problems(f"{key}.loadBalancer.sourceCidrs", self.load_balancer.source_cidrs, facts),
        ]

    def warnings(self, key: str, facts: StackFacts) -> list[Problem]:
        return exposure_warnings(
            endpoint_key=f"{key}.endpoint.publicCidrs",
            endpoint_public=self.endpoint.public,
            endpoint_cidrs=self.endpoint.public_cidrs,
            sources_key=f"{key}.loadBalancer.sourceCidrs",
            source_cidrs=self.load_balancer.source_cidrs,
            internal=self.load_balancer.internal,
            facts=facts,
        )

    @model_validator(mode="after")
    def _admin_arns(self) -> Self:
        for arn in self.admin_principal_arns:
            if not _ADMIN_ARN.fullmatch(arn):
                raise ValueError(
                    f"adminPrincipalArns: {arn!r} is not an IAM role or user ARN "
                    "(arn:aws:iam::<12-digit account>:role/<name> or :user/<name>)"
                )
        return self


class AwsProvider(Schema):
    """The `aws:` provider keys the EKS backend reads; the provider's others (`aws:profile`,
    `aws:defaultTags`, ...) are the AWS provider's to check."""

    model_config = ConfigDict(extra="ignore")

    region: Annotated[
        str, matching(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]", "must be an AWS region such as us-west-2")
    ] = Field(description="Region of every resource of the stack.")
