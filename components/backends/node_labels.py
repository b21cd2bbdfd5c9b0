"""The labels every cloud backend puts on its nodes, and the GPU scheduling they give workloads:
one source for EKS node groups and GKE node pools (the contract's GPU label and taint are in
components/contracts/cluster.py)."""

from __future__ import annotations

from collections.abc import Mapping

from components.contracts.cluster import (
    GPU_NODE_LABEL,
    GPU_NODE_LABEL_VALUE,
    GPU_TAINT_KEY,
    GpuScheduling,
    Toleration,
)

NODE_POOL_LABEL = "ml-platform/node-pool"
SYSTEM_POOL = "system"
SYSTEM_LABELS = {NODE_POOL_LABEL: SYSTEM_POOL}


def gpu_node_labels(pool_name: str, extra: Mapping[str, str]) -> dict[str, str]:
    """Labels of a GPU pool's nodes; the pool's own labels cannot override the platform's (the
    settings schemas refuse them)."""
    return {**extra, GPU_NODE_LABEL: GPU_NODE_LABEL_VALUE, NODE_POOL_LABEL: pool_name}


def labelled_gpu_scheduling(has_gpu_pools: bool) -> GpuScheduling:
    """What a cluster whose GPU nodes carry the platform's label and taint gives GPU pods."""
    return GpuScheduling(
        available=has_gpu_pools,
        node_selector={GPU_NODE_LABEL: GPU_NODE_LABEL_VALUE},
        tolerations=(Toleration(key=GPU_TAINT_KEY, operator="Exists", effect="NoSchedule"),),
    )
