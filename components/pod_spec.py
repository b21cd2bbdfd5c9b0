"""Pure functions that build pod specs for training and serving from the cluster contract and a
model's config. They create no resources, so they are tested directly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.contract import ArtifactAccess, GpuScheduling
from components.config import Resources, ServingConfig, TrainingConfig

RUN_AS_USER = 10001
"""The numeric user both images declare (`USER 10001:10001`)."""
SERVER_PORT = 8080
SERVER_PORT_NAME = "http"
READINESS_PATH = "/readyz"
LIVENESS_PATH = "/healthz"
RENDEZVOUS_PORT = 29500
TRAINER_SCRIPT = "/app/train.py"
SCRATCH_PATH = "/tmp"  # noqa: S108 - a mount path inside the container (a private emptyDir), not a host path
SCRATCH_SIZE = "1Gi"
# NCCL and DataLoader workers share tensors through /dev/shm; the container default (64Mi) is too small.
SHARED_MEMORY_SIZE = "2Gi"
SHUTDOWN_DRAIN_SECONDS = 5
"""Seconds a stopping server keeps serving while endpoints drop it, before SIGTERM."""


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


def ingress_policy(
    selector: Mapping[str, str], port: int | str, peers: Mapping[str, str] | None = None
) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Ingress to the selected pods on one port only: from anywhere, or only from `peers` pods."""
    sources = (
        [k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(peers)))]
        if peers
        else None
    )
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
        policy_types=["Ingress"],
        ingress=[
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=sources, ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")]
            )
        ],
    )


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


def _scratch(gpus: int) -> tuple[list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
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


def training_arguments(model: str, training: TrainingConfig, model_uri: pulumi.Input[str]) -> list[pulumi.Input[str]]:
    return [
        "--output-uri", model_uri,
        "--model-name", model,
        "--epochs", str(training.epochs),
        "--batch-size", str(training.batch_size),
        "--learning-rate", repr(training.learning_rate),
        "--seed", str(training.seed),
    ]  # fmt: skip


def training_command(
    training: TrainingConfig, rendezvous_host: pulumi.Input[str] | None
) -> list[pulumi.Input[str]] | None:
    """None runs the image's entrypoint (one process); otherwise torchrun, one pod per node.
    `$(JOB_COMPLETION_INDEX)` is expanded by the kubelet from the Indexed Job's env."""
    if training.nodes == 1 and training.processes_per_node == 1:
        return None
    command: list[pulumi.Input[str]] = [
        "torchrun",
        f"--nnodes={training.nodes}",
        f"--nproc-per-node={training.processes_per_node}",
    ]
    if training.nodes > 1:
        if rendezvous_host is None:
            raise ValueError("a multi-node training run needs a rendezvous host")
        command += [
            "--node-rank=$(JOB_COMPLETION_INDEX)",
            pulumi.Output.concat("--master-addr=", rendezvous_host),
            f"--master-port={RENDEZVOUS_PORT}",
        ]
    else:
        command.append("--standalone")
    return [*command, TRAINER_SCRIPT]


def training_pod_template(
    *,
    model: str,
    image: pulumi.Input[str],
    model_uri: pulumi.Input[str],
    training: TrainingConfig,
    access: ArtifactAccess,
    placement: Placement,
    labels: Mapping[str, str],
    rendezvous_host: pulumi.Input[str] | None = None,
    subdomain: pulumi.Input[str] | None = None,
) -> k8s.core.v1.PodTemplateSpecArgs:
    volumes, mounts = _scratch(placement.gpus)
    command = training_command(training, rendezvous_host)
    arguments = training_arguments(model, training, model_uri)
    container = k8s.core.v1.ContainerArgs(
        name="trainer",
        image=image,
        command=command,
        # With torchrun the arguments follow the script path; otherwise they follow the entrypoint.
        args=arguments,
        env=[k8s.core.v1.EnvVarArgs(name="PYTHONUNBUFFERED", value="1"), *access.env],
        resources=placement.resources,
        security_context=container_security_context(),
        volume_mounts=[*mounts, *access.volume_mounts],
        ports=[k8s.core.v1.ContainerPortArgs(name="rendezvous", container_port=RENDEZVOUS_PORT)]
        if training.nodes > 1
        else None,
    )
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(labels)),
        spec=k8s.core.v1.PodSpecArgs(
            # OnFailure would restart in place and hide preemptions from backoffLimit; Never makes each
            # failure a new pod, which resumes from the last checkpoint.
            restart_policy="Never",
            service_account_name=access.service_account_name,
            # Workloads never call the Kubernetes API; cloud identities use their own projected token.
            automount_service_account_token=False,
            security_context=pod_security_context(),
            node_selector=dict(placement.node_selector) or None,
            tolerations=list(placement.tolerations) or None,
            subdomain=subdomain,
            containers=[container],
            volumes=[*volumes, *access.volumes],
        ),
    )


def serving_pod_template(
    *,
    model: str,
    image: pulumi.Input[str],
    model_uri: pulumi.Input[str],
    serving: ServingConfig,
    access: ArtifactAccess,
    placement: Placement,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
) -> k8s.core.v1.PodTemplateSpecArgs:
    volumes, mounts = _scratch(placement.gpus)
    probe_port = SERVER_PORT_NAME
    container = k8s.core.v1.ContainerArgs(
        name="server",
        image=image,
        ports=[k8s.core.v1.ContainerPortArgs(name=SERVER_PORT_NAME, container_port=SERVER_PORT)],
        env=[
            k8s.core.v1.EnvVarArgs(name="MODEL_URI", value=model_uri),
            k8s.core.v1.EnvVarArgs(name="MODEL_NAME", value=model),
            k8s.core.v1.EnvVarArgs(name="PORT", value=str(SERVER_PORT)),
            k8s.core.v1.EnvVarArgs(name="MAX_INSTANCES", value=str(serving.max_batch_size)),
            *access.env,
        ],
        resources=placement.resources,
        security_context=container_security_context(),
        volume_mounts=[*mounts, *access.volume_mounts],
        # Ready only once the model is loaded; the server keeps retrying a missing model.
        readiness_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path=READINESS_PATH, port=probe_port),
            period_seconds=5,
            failure_threshold=3,
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path=LIVENESS_PATH, port=probe_port),
            period_seconds=10,
            failure_threshold=3,
        ),
        startup_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path=LIVENESS_PATH, port=probe_port),
            period_seconds=2,
            failure_threshold=30,
        ),
        # Keep serving while the endpoint controller removes the pod, then SIGTERM drains in-flight requests.
        lifecycle=k8s.core.v1.LifecycleArgs(
            pre_stop=k8s.core.v1.LifecycleHandlerArgs(sleep=k8s.core.v1.SleepActionArgs(seconds=SHUTDOWN_DRAIN_SECONDS))
        ),
    )
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(labels)),
        spec=k8s.core.v1.PodSpecArgs(
            service_account_name=access.service_account_name,
            # Workloads never call the Kubernetes API; cloud identities use their own projected token.
            automount_service_account_token=False,
            security_context=pod_security_context(),
            node_selector=dict(placement.node_selector) or None,
            tolerations=list(placement.tolerations) or None,
            termination_grace_period_seconds=30,
            topology_spread_constraints=[
                k8s.core.v1.TopologySpreadConstraintArgs(
                    max_skew=1,
                    topology_key=key,
                    when_unsatisfiable="ScheduleAnyway",
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
                )
                for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
            ],
            containers=[container],
            volumes=[*volumes, *access.volumes],
        ),
    )
