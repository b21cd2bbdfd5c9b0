"""EKS node groups, one builder per kind, the way terraform-aws-eks has a module per node-group
kind: the CPU system group, and GPU pools that are tainted and scale from zero.

They are plain `aws.eks.NodeGroup`s rather than pulumi-eks's `ManagedNodeGroup`, because the
cluster-autoscaler's scale-from-zero tags must go on each group's Auto Scaling group, whose name
only the plain resource exposes as a value. The builders create children of the caller's
component (no component of their own, so existing stacks' URNs stay as they are).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.backends.eks.policies import service_trust_policy
from components.backends.eks.settings import GpuNodePool, SystemNodeGroup
from components.backends.node_labels import SYSTEM_LABELS, SYSTEM_POOL, gpu_node_labels
from components.contracts.cluster import GPU_RESOURCE, GPU_TAINT_KEY

GPU_AMI_TYPE = "AL2023_x86_64_NVIDIA"
"""Amazon Linux 2023 with the NVIDIA driver and container toolkit; the device plugin is installed separately."""
CPU_AMI_TYPE = "AL2023_x86_64_STANDARD"
GPU_TAINT_VALUE = "true"
AUTOSCALER_TEMPLATE_PREFIX = "k8s.io/cluster-autoscaler/node-template"
# What nodes need: join the cluster, run the VPC CNI (pulumi-eks's default, on the node role), pull
# from ECR. Nothing else: workloads get their own roles.
NODE_POLICIES = {
    "worker": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "cni": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "registry": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
}
# The root volume of the EKS AL2023 AMIs (standard and NVIDIA); a mapping for another device
# would add a second volume and leave the root at the AMI's size.
ROOT_DEVICE = "/dev/xvda"
# Instance metadata: session tokens only (IMDSv2), and a hop limit of 1 so that the token's reply
# dies one hop out: pods on the pod network (one hop away) never reach the node role's credentials,
# while host-network agents (VPC CNI, its network policy agent) still do. CIS EKS benchmark 3.x /
# the EKS best-practices guide.
METADATA_HOP_LIMIT = 1
# Autoscaler changes to a group's size must not be reverted by the next `pulumi up`.
SCALING_IGNORED = ["scalingConfig.desiredSize"]


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


@dataclass(frozen=True, kw_only=True)
class NodeGroupContext:
    """What every node group of one cluster shares."""

    name: str
    """The cluster component's logical name; groups are named `<name>-<pool>`."""
    cluster_name: str
    kubernetes_version: str
    node_role_arn: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    tags: Mapping[str, str]
    opts: pulumi.ResourceOptions
    """Parent, and what groups wait for (the cluster, the node role's policies, the NAT routes)."""


@dataclass(frozen=True)
class BuiltNodeGroup:
    group: aws.eks.NodeGroup
    autoscaling_group_name: pulumi.Output[str]


def node_role(
    name: str, cluster_name: str, tags: Mapping[str, str], opts: pulumi.ResourceOptions
) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """The role every node runs as, with the managed policies nodes need and nothing else."""
    role = aws.iam.Role(
        f"{name}-node-role",
        description=f"nodes of EKS cluster {cluster_name}",
        assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
        tags=dict(tags),
        opts=opts,
    )
    attachments = [
        aws.iam.RolePolicyAttachment(f"{name}-node-{role_name}", role=role.name, policy_arn=arn, opts=opts)
        for role_name, arn in NODE_POLICIES.items()
    ]
    return role, attachments


def launch_template(
    context: NodeGroupContext, logical_name: str, pool_name: str, disk_size_gb: int
) -> aws.ec2.LaunchTemplate:
    """What EKS's own default template leaves open: IMDSv2 required with hop limit 1, and an
    encrypted gp3 root volume of the pool's size (with a launch template, EKS refuses the node
    group's `diskSize`, so the size lives here). Instance type, AMI and user data stay EKS's."""
    tags = {**context.tags, "node-pool": pool_name}
    return aws.ec2.LaunchTemplate(
        f"{logical_name}-launch-template",
        description=f"nodes of EKS cluster {context.cluster_name}, pool {pool_name}: IMDSv2 only, hop limit 1",
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled",
            http_tokens="required",
            http_put_response_hop_limit=METADATA_HOP_LIMIT,
            instance_metadata_tags="disabled",
        ),
        block_device_mappings=[
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=ROOT_DEVICE,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=disk_size_gb, volume_type="gp3", encrypted="true", delete_on_termination="true"
                ),
            )
        ],
        tag_specifications=[
            aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags) for kind in ("instance", "volume")
        ],
        # A node group follows its template's latest version: a change rolls the group's nodes.
        update_default_version=True,
        tags=tags,
        opts=pulumi.ResourceOptions(parent=context.opts.parent),
    )


def _node_group(
    context: NodeGroupContext,
    logical_name: str,
    pool_name: str,
    *,
    ami_type: str,
    capacity_type: str,
    sizes: SystemNodeGroup | GpuNodePool,
    node_labels: Mapping[str, str],
    taints: Sequence[aws.eks.NodeGroupTaintArgs] | None = None,
) -> BuiltNodeGroup:
    template = launch_template(context, logical_name, pool_name, sizes.disk_size_gb)
    group = aws.eks.NodeGroup(
        logical_name,
        cluster_name=context.cluster_name,
        version=context.kubernetes_version,
        node_role_arn=context.node_role_arn,
        subnet_ids=list(context.subnet_ids),
        ami_type=ami_type,
        capacity_type=capacity_type,
        instance_types=list(sizes.instance_types),
        launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(str)),
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(
            min_size=sizes.min_size, desired_size=sizes.min_size, max_size=sizes.max_size
        ),
        update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
        labels=dict(node_labels),
        taints=list(taints) if taints else None,
        tags={**context.tags, "node-pool": pool_name},
        opts=pulumi.ResourceOptions.merge(context.opts, pulumi.ResourceOptions(ignore_changes=SCALING_IGNORED)),
    )
    asg_name = group.resources.apply(_autoscaling_group_name)
    return BuiltNodeGroup(group=group, autoscaling_group_name=asg_name)


def _autoscaling_group_name(resources: Sequence[aws.eks.outputs.NodeGroupResource]) -> str:
    """EKS creates one Auto Scaling group per managed node group and reports it once the group exists."""
    groups = resources[0].autoscaling_groups if resources else None
    if not groups or not groups[0].name:
        raise ValueError(f"EKS reported no Auto Scaling group for the node group: {resources!r}")
    return groups[0].name


def system_node_group(context: NodeGroupContext, sizes: SystemNodeGroup) -> BuiltNodeGroup:
    """On-demand CPU nodes for the add-ons and CPU workloads."""
    return _node_group(
        context,
        f"{context.name}-{SYSTEM_POOL}",
        SYSTEM_POOL,
        ami_type=CPU_AMI_TYPE,
        capacity_type="ON_DEMAND",
        sizes=sizes,
        node_labels=SYSTEM_LABELS,
    )


def gpu_node_pool(context: NodeGroupContext, pool: GpuNodePool, tag_opts: pulumi.ResourceOptions) -> BuiltNodeGroup:
    """A GPU pool: tainted so only GPU pods land there, and tagged so the autoscaler can start
    its first node from zero. `tag_opts`: options of the Auto Scaling group tags (parent only)."""
    node_labels = gpu_node_labels(pool.name, pool.labels)
    built = _node_group(
        context,
        f"{context.name}-gpu-{pool.name}",
        pool.name,
        ami_type=GPU_AMI_TYPE,
        capacity_type=pool.capacity_type,
        sizes=pool,
        node_labels=node_labels,
        taints=[aws.eks.NodeGroupTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect="NO_SCHEDULE")],
    )
    template = scale_from_zero_tags(node_labels, {GPU_TAINT_KEY: f"{GPU_TAINT_VALUE}:NoSchedule"}, pool.gpus_per_node)
    for key, value in template.items():
        aws.autoscaling.Tag(
            f"{context.name}-gpu-{pool.name}-{template_slug(key)}",
            autoscaling_group_name=built.autoscaling_group_name,
            # The group's own tag, read by the autoscaler; not copied onto instances.
            tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
            opts=tag_opts,
        )
    return built
