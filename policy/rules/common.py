"""What several rules share: the namespace scope of workload rules, the workloads of a stack and
the GPU node pools they may land on."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pulumi_policy import PolicyResource, ResourceValidationArgs

from policy.clouds import NodePoolType, node_pool_type
from policy.framework import Args, Setting
from policy.kubernetes import (
    EXCLUDED_NAMESPACES_DEFAULT,
    PodTemplate,
    Taint,
    in_scope,
    pod_template,
    selects,
    tolerates,
)

EXCLUDED_NAMESPACES = Setting(
    name="excludedNamespaces",
    schema={"type": "array", "items": {"type": "string"}},
    default=list(EXCLUDED_NAMESPACES_DEFAULT),
    description=(
        "Namespaces whose workloads this rule skips: cluster add-ons installed from upstream Helm charts "
        "(the NVIDIA device plugin needs host access). Default: kube-system."
    ),
)


def excluded(args: Args) -> Sequence[str]:
    return [str(namespace) for namespace in EXCLUDED_NAMESPACES.value(args)]


def workload(args: ResourceValidationArgs) -> PodTemplate | None:
    """The pod template of the resource under validation, if it is a workload in scope."""
    template = pod_template(args.resource_type, args.props)
    if template is None or not in_scope(template, excluded(args)):
        return None
    return template


def workloads(resources: Sequence[PolicyResource], args: Args) -> Iterator[tuple[PolicyResource, PodTemplate]]:
    """Every workload in scope, with its pod template."""
    skip = excluded(args)
    for resource in resources:
        template = pod_template(resource.resource_type, resource.props)
        if template is not None and in_scope(template, skip):
            yield resource, template


@dataclass(frozen=True)
class GpuPool:
    resource: PolicyResource
    row: NodePoolType

    @property
    def name(self) -> str:
        return self.resource.name

    @property
    def declared_labels(self) -> dict[str, str]:
        return self.row.labels(self.resource.props)

    @property
    def node_labels(self) -> dict[str, str]:
        """Every label its nodes carry: declared, and added by the cloud."""
        return {**self.row.cloud_labels(self.resource.props), **self.declared_labels}

    @property
    def repelling_taints(self) -> list[Taint]:
        return [taint for taint in self.row.taints(self.resource.props) if taint.repels]

    @property
    def spot(self) -> bool:
        return self.row.spot(self.resource.props)

    def admits(self, template: PodTemplate) -> bool:
        """The pod tolerates every taint that would keep it off the pool's nodes, and selects their labels."""
        tolerations = template.spec.get("tolerations") or ()
        return all(tolerates(tolerations, taint) for taint in self.repelling_taints) and selects(
            template.spec, self.node_labels
        )


def gpu_pools(resources: Sequence[PolicyResource]) -> list[GpuPool]:
    pools = []
    for resource in resources:
        row = node_pool_type(resource.resource_type)
        if row is not None and row.is_gpu(resource.props):
            pools.append(GpuPool(resource, row))
    return pools
