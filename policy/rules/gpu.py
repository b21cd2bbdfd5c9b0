"""GPUs: GPU pods land on GPU nodes, nothing else squats on them, and idle GPUs cost nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policy.clouds import node_pool_type
from policy.framework import ADVISORY, MANDATORY, Rule, Setting, violation
from policy.kubernetes import (
    BATCH_TYPES,
    PodTemplate,
    mapping,
    node_selection,
    quantity,
    requests_gpus,
    selects,
    taint,
    tolerates,
)
from policy.rules.common import EXCLUDED_NAMESPACES, GpuPool, gpu_pools, workloads

# The platform's GPU scheduling contract (components/contracts/cluster.py; a test keeps them equal):
# used when a stack declares no GPU node pool of its own (a cluster managed elsewhere).
GPU_NODE_SELECTOR = Setting(
    name="gpuNodeSelector",
    schema={"type": "object", "additionalProperties": {"type": "string"}},
    default={"ml-platform/accelerator": "nvidia"},
    description="Labels of the cluster's GPU nodes, for stacks that declare no GPU node pool themselves.",
)
GPU_TAINT = Setting(
    name="gpuTaint",
    schema={"type": "object", "properties": {"key": {"type": "string"}, "value": {"type": "string"}}},
    default={"key": "nvidia.com/gpu", "value": "true"},
    description="The NoSchedule taint of the cluster's GPU nodes, for stacks that declare no GPU node pool themselves.",
)


def _hint(pools: list[GpuPool]) -> str:
    pool = pools[0]
    # Sorted: mappings reach the pack over gRPC in no fixed order.
    labels = ", ".join(f"{key}: {value}" for key, value in sorted(pool.declared_labels.items()))
    taints = ", ".join(f"{t.key} ({t.effect})" for t in pool.repelling_taints) or "none"
    return f"nodeSelector {{{labels}}} and tolerations for {taints} (pool {pool.name})"


def gpu_pod_placement(args: StackValidationArgs, report: ReportViolation) -> None:
    pools = gpu_pools(args.resources)
    for resource, template in workloads(args.resources, args):
        if not requests_gpus(template.spec):
            continue
        selector, affinity = node_selection(template.spec)
        if not pools:
            _check_against_contract(args, resource, template, report)
            continue
        landing = [pool for pool in pools if pool.admits(template)]
        if landing and (selector or affinity):
            continue
        if not (selector or affinity):
            problem = "asks for GPUs but selects no nodes (no nodeSelector or required node affinity)"
        else:
            problem = "asks for GPUs but its node selection and tolerations admit no GPU node pool of this stack"
        report(violation(problem, f"give the pod {_hint(pools)}"), resource.urn)


def _check_against_contract(
    args: StackValidationArgs, resource: PolicyResource, template: PodTemplate, report: ReportViolation
) -> None:
    """No GPU pool in the stack: the pod must match the GPU nodes the pack's config describes."""
    expected: Mapping[str, Any] = mapping(GPU_NODE_SELECTOR.value(args))
    gpu_taint = mapping(GPU_TAINT.value(args))
    node_taint = taint(gpu_taint.get("key"), gpu_taint.get("value"), "NoSchedule")
    labels = {str(key): str(value) for key, value in expected.items()}
    selector, affinity = node_selection(template.spec)
    tolerations = template.spec.get("tolerations") or ()
    if (selector or affinity) and selects(template.spec, labels) and tolerates(tolerations, node_taint):
        return
    wanted = ", ".join(f"{key}: {value}" for key, value in sorted(labels.items()))
    report(
        violation(
            "asks for GPUs but does not select and tolerate the cluster's GPU nodes",
            f"give the pod nodeSelector {{{wanted}}} and a toleration for {node_taint.key} (NoSchedule)",
        ),
        resource.urn,
    )


def gpu_pool_tainted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    row = node_pool_type(args.resource_type)
    if row is None or not row.is_gpu(args.props):
        return
    if not any(node_taint.repels for node_taint in row.taints(args.props)):
        report(
            violation(
                "GPU node pool has no NoSchedule or NoExecute taint, so pods that need no GPU can take its nodes",
                row.taint_fix,
            ),
            None,
        )


def gpu_pool_scales_from_zero(args: ResourceValidationArgs, report: ReportViolation) -> None:
    row = node_pool_type(args.resource_type)
    if row is None or not row.is_gpu(args.props):
        return
    minimum = row.min_nodes(args.props)
    if minimum is None:
        report(
            violation("GPU node pool is not autoscaled, so its nodes run (and bill) while idle", row.scale_fix), None
        )
    elif minimum > 0:
        report(
            violation(
                f"GPU node pool keeps {quantity(minimum)} node(s) running while no GPU work waits", row.scale_fix
            ),
            None,
        )


def training_on_spot(args: StackValidationArgs, report: ReportViolation) -> None:
    """Training Jobs resume from checkpoints, so a spot reclaim costs minutes, not the run."""
    pools = gpu_pools(args.resources)
    spot_pools = [pool for pool in pools if pool.spot]
    on_demand_training: dict[str, list[str]] = defaultdict(list)
    by_urn = {pool.resource.urn: pool for pool in pools}
    for resource, template in workloads(args.resources, args):
        if resource.resource_type not in BATCH_TYPES or not requests_gpus(template.spec):
            continue
        landing = [pool for pool in pools if pool.admits(template)]
        if not landing or any(pool.spot for pool in landing):
            continue
        if spot_pools:
            report(
                violation(
                    f"GPU training lands only on on-demand pools ({', '.join(p.name for p in landing)}) although "
                    f"spot pool(s) {', '.join(p.name for p in spot_pools)} exist",
                    "select the spot pool's labels and tolerate its taints; training resumes from its last "
                    "checkpoint after a reclaim",
                ),
                resource.urn,
            )
        else:
            for pool in landing:
                on_demand_training[pool.resource.urn].append(resource.name)
    for urn, jobs in on_demand_training.items():
        pool = by_urn[urn]
        report(
            violation(
                f"GPU node pool runs training ({', '.join(jobs)}) on on-demand capacity",
                f"{pool.row.spot_fix}; training resumes from its last checkpoint after a reclaim, at a fraction "
                "of the on-demand price",
            ),
            urn,
        )


RULES = (
    Rule(
        name="gpu-pod-placement",
        description="A pod that asks for GPUs selects and tolerates the cluster's GPU nodes.",
        level=MANDATORY,
        production_level=MANDATORY,
        validate_stack=gpu_pod_placement,
        settings=(EXCLUDED_NAMESPACES, GPU_NODE_SELECTOR, GPU_TAINT),
    ),
    Rule(
        name="gpu-pool-tainted",
        description="Every GPU node pool is tainted, so no CPU pod squats on GPU nodes.",
        level=MANDATORY,
        production_level=MANDATORY,
        validate_resource=gpu_pool_tainted,
    ),
    Rule(
        name="gpu-pool-scales-from-zero",
        description="GPU node pools scale from zero, so idle GPUs cost nothing.",
        level=ADVISORY,
        production_level=ADVISORY,
        validate_resource=gpu_pool_scales_from_zero,
    ),
    Rule(
        name="training-on-spot",
        description="GPU training runs on spot capacity where the pool allows it (training resumes from checkpoints).",
        level=ADVISORY,
        production_level=ADVISORY,
        validate_stack=training_on_spot,
        settings=(EXCLUDED_NAMESPACES,),
    ),
)
