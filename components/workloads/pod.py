"""What every workload's pods share: GPU placement from the cluster contract, the restricted
security contexts, scratch volumes and ingress policies. Pure functions that create no resources,
so they are tested directly; each workload's own pod template is beside it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config import Resources
from components.contracts.cluster import GpuScheduling

RUN_AS_USER = 10001
"""The numeric user both images declare (`USER 10001:10001`)."""
SCRATCH_PATH = "/tmp"  # noqa: S108 - a mount path inside the container (a private emptyDir), not a host path
SCRATCH_SIZE = "1Gi"
# NCCL and DataLoader workers share tensors through /dev/shm; the container default (64Mi) is too small.
SHARED_MEMORY_SIZE = "2Gi"


@dataclass(frozen=True, kw_only=True)
class Placement:
    """Where a pod may run and what it gets, after the cluster's GPU capability is applied."""

    resources: k8s.core.v1.ResourceRequirementsArgs
    node_selector: Mapping[str, str]
    tolerations: Sequence[k8s.core.v1.TolerationArgs]
    gpus: int
    """GPUs actually requested (0 when the cluster has none)."""
    warning: str | None = None


def place(resources: Resources, gpu: GpuScheduling, workload: str) -> Placement:
    """Requests equal limits (Guaranteed QoS). GPUs asked of a cluster without them are dropped with
    a warning, never silently."""
    gpus = resources.gpus if gpu.available else 0
    warning = None
    if resources.gpus and not gpu.available:
        warning = f"{workload} asks for {resources.gpus} GPU(s) but this cluster has none; it runs on CPU"
    quantities = {"cpu": resources.cpu, "memory": resources.memory}
    if gpus:
        quantities[gpu.resource_name] = str(gpus)
    return Placement(
        resources=k8s.core.v1.ResourceRequirementsArgs(requests=dict(quantities), limits=dict(quantities)),
        node_selector=dict(gpu.node_selector) if gpus else {},
        tolerations=[
            k8s.core.v1.TolerationArgs(key=t.key, operator=t.operator, value=t.value, effect=t.effect)
            for t in gpu.tolerations
        ]
        if gpus
        else [],
        gpus=gpus,
        warning=warning,
    )


def pull_secret_references(names: Sequence[pulumi.Input[str]]) -> list[k8s.core.v1.LocalObjectReferenceArgs] | None:
    """`imagePullSecrets` of a pod: the cluster contract's pull secrets, or none."""
    return [k8s.core.v1.LocalObjectReferenceArgs(name=name) for name in names] or None


@dataclass(frozen=True, kw_only=True)
class IngressRule:
    """One port the selected pods accept connections on, and from whom."""

    port: int
    peer_pods: Mapping[str, str] | None = None
    """Only pods with these labels (in the policy's namespace)."""
    peer_namespaces: Mapping[str, str] | None = None
    """Only pods of namespaces with these labels. Neither: from anywhere."""


def ingress_policy(
    selector: Mapping[str, str], rules: Sequence[IngressRule]
) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Ingress to the selected pods on the rules' ports only, each from its peers."""

    def sources(rule: IngressRule) -> list[k8s.networking.v1.NetworkPolicyPeerArgs] | None:
        if rule.peer_pods:
            labels = k8s.meta.v1.LabelSelectorArgs(match_labels=dict(rule.peer_pods))
            return [k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=labels)]
        if rule.peer_namespaces:
            labels = k8s.meta.v1.LabelSelectorArgs(match_labels=dict(rule.peer_namespaces))
            return [k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=labels)]
        return None

    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
        policy_types=["Ingress"],
        ingress=[
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=sources(rule), ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=rule.port, protocol="TCP")]
            )
            for rule in rules
        ],
    )


def with_configured_env(
    platform: Sequence[k8s.core.v1.EnvVarArgs],
    configured: Mapping[str, str],
    owner: Callable[[str], str | None],
) -> list[k8s.core.v1.EnvVarArgs]:
    """The platform's variables (its own and the artifact store's), then the stack's, in the stack
    file's order. `owner` is the workload's reservation (`workload_options.training_env_owner` or
    `serving_env_owner`), which config validation holds the stack's names to: every variable the
    platform sets must be reserved there, or a stack could set it too and the later duplicate would
    win. An unreserved one is a bug to fix in `workload_options`, raised here at every render."""
    unreserved = [variable.name for variable in platform if isinstance(variable.name, str) and not owner(variable.name)]
    if unreserved:
        raise ValueError(
            f"the platform or the cluster backend sets {', '.join(unreserved)}, which no stack may set but "
            "nothing reserves; reserve it in components/workload_options.py so config validation refuses it"
        )
    taken = {variable.name.upper(): variable.name for variable in platform if isinstance(variable.name, str)}
    clashes = [f"{name} (as {taken[name.upper()]})" for name in configured if name.upper() in taken]
    if clashes:
        raise ValueError(
            f"the stack file sets {', '.join(clashes)}, which the platform or the cluster backend sets too; "
            "reserve it in components/workload_options.py so config validation refuses it"
        )
    return [*platform, *(k8s.core.v1.EnvVarArgs(name=name, value=value) for name, value in configured.items())]


def pod_security_context() -> k8s.core.v1.PodSecurityContextArgs:
    """Meets the `restricted` Pod Security Standard."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=RUN_AS_USER,
        run_as_group=RUN_AS_USER,
        fs_group=RUN_AS_USER,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security_context() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def scratch_volumes(gpus: int) -> tuple[list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
    """A writable /tmp for a read-only root filesystem, and a large /dev/shm for GPU pods."""
    volumes = [
        k8s.core.v1.VolumeArgs(name="scratch", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=SCRATCH_SIZE))
    ]
    mounts = [k8s.core.v1.VolumeMountArgs(name="scratch", mount_path=SCRATCH_PATH)]
    if gpus > 0:
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name="shm",
                empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit=SHARED_MEMORY_SIZE),
            )
        )
        mounts.append(k8s.core.v1.VolumeMountArgs(name="shm", mount_path="/dev/shm"))  # noqa: S108 - the pod's own memory-backed emptyDir
    return volumes, mounts
