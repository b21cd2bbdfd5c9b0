"""GKE node pools, one builder per kind, the way terraform-aws-eks has a module per node-group kind:
the CPU system pool, and GPU pools that are tainted and scale from zero. Also the service account
every node runs as, with the least privilege nodes need.

GKE itself installs the NVIDIA driver (the version is explicit, see `gpu_driver_installation_config`)
and the device plugin on GPU nodes, and its cluster autoscaler knows each pool's labels, taints and
GPUs from the pool's own config, so it can start a first node from zero: no charts, no template tags.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.backends.gke.naming import service_account_id
from components.backends.gke.settings import GpuNodePool, SystemNodePool
from components.backends.node_labels import SYSTEM_LABELS, SYSTEM_POOL, gpu_node_labels
from components.contracts.cluster import GPU_TAINT_KEY

GPU_TAINT_VALUE = "present"
"""The value GKE itself gives the taint on GPU pools; ours is the same, so the two never conflict."""
IMAGE_TYPE = "COS_CONTAINERD"
"""Container-Optimized OS: the image GKE's GPU driver installation supports."""
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""Google's recommendation with a dedicated service account: the account's IAM roles, not scopes, limit it."""
NODE_ROLE = "roles/container.defaultNodeServiceAccount"
"""What nodes need on the project: write logs and metrics (Cloud Logging, Cloud Monitoring),
report autoscaling metrics. Google's documented minimum for a node service account; image pulls
are granted on the stack's repository only (`artifactregistry.reader`, granted by `GkeCluster`)."""
WORKLOAD_METADATA_MODE = "GKE_METADATA"
"""Pods see the GKE metadata server (Workload Identity), never the node's own credentials."""
# Initial sizes are create-time only (a change would replace the pool); the autoscaler owns the size after.
SIZE_IGNORED = ["initialNodeCount"]
REGION_ZONES = 3
"""Zones a regional pool without explicit zones spreads over: every Google Cloud region has at least three."""


def initial_node_count(min_nodes: int, zones: int) -> int:
    """Nodes per zone at creation, so the pool starts at (or just above) its minimum in total."""
    return math.ceil(min_nodes / zones)


@dataclass(frozen=True, kw_only=True)
class NodePoolContext:
    """What every node pool of one cluster shares."""

    name: str
    """The cluster component's logical name; pools are named `<name>-<pool>`."""
    project: str
    cluster_id: pulumi.Input[str]
    """`projects/<p>/locations/<l>/clusters/<c>`."""
    location: pulumi.Input[str]
    """The cluster's location (its region, or its zone for a zonal cluster)."""
    zonal: bool
    service_account_email: pulumi.Input[str]
    resource_labels: Mapping[str, str]
    opts: pulumi.ResourceOptions
    """Parent, and what pools wait for (the node account's roles, the NAT gateway)."""


def node_service_account(
    name: str, project: str, opts: pulumi.ResourceOptions
) -> tuple[gcp.serviceaccount.Account, list[gcp.projects.IAMMember]]:
    """The account every node runs as, instead of the Compute Engine default account (project
    Editor): logging and monitoring on the project, nothing else."""
    account = gcp.serviceaccount.Account(
        f"{name}-node-service-account",
        project=project,
        account_id=service_account_id(pulumi.get_stack(), f"{name}-nodes"),
        display_name=f"ml-platform {pulumi.get_stack()} GKE nodes",
        description="Runs the GKE nodes: writes logs and metrics, pulls the stack's images",
        opts=opts,
    )
    roles = [
        gcp.projects.IAMMember(
            f"{name}-node-default-role", project=project, role=NODE_ROLE, member=account.member, opts=opts
        )
    ]
    return account, roles


def _node_config(
    context: NodePoolContext,
    *,
    machine_type: str,
    disk_size_gb: int,
    node_labels: Mapping[str, str],
    spot: bool = False,
    taints: Sequence[gcp.container.NodePoolNodeConfigTaintArgs] | None = None,
    accelerators: Sequence[gcp.container.NodePoolNodeConfigGuestAcceleratorArgs] | None = None,
) -> gcp.container.NodePoolNodeConfigArgs:
    return gcp.container.NodePoolNodeConfigArgs(
        machine_type=machine_type,
        image_type=IMAGE_TYPE,
        disk_size_gb=disk_size_gb,
        service_account=context.service_account_email,
        oauth_scopes=[CLOUD_PLATFORM_SCOPE],
        workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
            mode=WORKLOAD_METADATA_MODE
        ),
        shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
            enable_secure_boot=True, enable_integrity_monitoring=True
        ),
        labels=dict(node_labels),
        resource_labels=dict(context.resource_labels),
        spot=spot,
        taints=list(taints) if taints else None,
        guest_accelerators=list(accelerators) if accelerators else None,
    )


def _node_pool(
    context: NodePoolContext,
    logical_name: str,
    *,
    zones: Sequence[str],
    min_nodes: int,
    max_nodes: int,
    location_policy: str,
    node_config: gcp.container.NodePoolNodeConfigArgs,
) -> gcp.container.NodePool:
    zone_count = len(zones) or (1 if context.zonal else REGION_ZONES)
    return gcp.container.NodePool(
        logical_name,
        project=context.project,
        cluster=context.cluster_id,
        location=context.location,
        node_locations=list(zones) or None,
        initial_node_count=initial_node_count(min_nodes, zone_count),
        autoscaling=gcp.container.NodePoolAutoscalingArgs(
            # Totals over all the pool's zones, not per zone.
            total_min_node_count=min_nodes,
            total_max_node_count=max_nodes,
            location_policy=location_policy,
        ),
        management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
        # One extra node at a time during upgrades, never one fewer: capacity holds.
        upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(strategy="SURGE", max_surge=1, max_unavailable=0),
        node_config=node_config,
        opts=pulumi.ResourceOptions.merge(context.opts, pulumi.ResourceOptions(ignore_changes=SIZE_IGNORED)),
    )


def system_node_pool(context: NodePoolContext, pool: SystemNodePool) -> gcp.container.NodePool:
    """On-demand CPU nodes for GKE's system pods and CPU workloads, spread evenly over zones."""
    return _node_pool(
        context,
        f"{context.name}-{SYSTEM_POOL}",
        zones=pool.zones,
        min_nodes=pool.min_nodes,
        max_nodes=pool.max_nodes,
        location_policy="BALANCED",
        node_config=_node_config(
            context, machine_type=pool.machine_type, disk_size_gb=pool.disk_size_gb, node_labels=SYSTEM_LABELS
        ),
    )


def gpu_accelerator(pool: GpuNodePool) -> gcp.container.NodePoolNodeConfigGuestAcceleratorArgs:
    """The pool's GPUs, the driver GKE installs for them (always explicit), and optional sharing."""
    sharing = None
    if pool.gpu_sharing is not None:
        sharing = gcp.container.NodePoolNodeConfigGuestAcceleratorGpuSharingConfigArgs(
            gpu_sharing_strategy=pool.gpu_sharing.strategy,
            max_shared_clients_per_gpu=pool.gpu_sharing.max_shared_clients_per_gpu,
        )
    return gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
        type=pool.accelerator_type,
        count=pool.accelerator_count,
        gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
            gpu_driver_version=pool.gpu_driver_version
        ),
        gpu_sharing_config=sharing,
    )


def gpu_node_pool(context: NodePoolContext, pool: GpuNodePool) -> gcp.container.NodePool:
    """A GPU pool in the zones that offer its accelerator: tainted so only GPU pods land there,
    labelled for the contract's node selector, scaled from zero by GKE's autoscaler."""
    return _node_pool(
        context,
        f"{context.name}-gpu-{pool.name}",
        zones=pool.zones,
        min_nodes=pool.min_nodes,
        max_nodes=pool.max_nodes,
        # Spot capacity comes and goes per zone: take it wherever it is (and unused reservations first).
        location_policy="ANY" if pool.spot else "BALANCED",
        node_config=_node_config(
            context,
            machine_type=pool.machine_type,
            disk_size_gb=pool.disk_size_gb,
            node_labels=gpu_node_labels(pool.name, pool.labels),
            spot=pool.spot,
            taints=[
                gcp.container.NodePoolNodeConfigTaintArgs(
                    key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect="NO_SCHEDULE"
                )
            ],
            accelerators=[gpu_accelerator(pool)],
        ),
    )
