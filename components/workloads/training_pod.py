"""The training pod: the trainer's flags, torchrun for multi-process and multi-node runs, and the
pod template of the training Job. Pure functions; `TrainingJob` creates the resources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import workload_options
from components.config import TrainingConfig
from components.contracts.artifacts import ArtifactAccess
from components.workloads.pod import (
    Placement,
    container_security_context,
    pod_security_context,
    pull_secret_references,
    scratch_volumes,
    with_configured_env,
)

RENDEZVOUS_PORT = 29500
TRAINER_CONTAINER = "trainer"
TRAINER_SCRIPT = "/app/train.py"


def training_arguments(model: str, training: TrainingConfig, model_uri: pulumi.Input[str]) -> list[pulumi.Input[str]]:
    """The platform's flags (`workload_options.TRAINER_FLAGS`), then the stack's `training.args`,
    which config validation keeps from repeating any of them."""
    return [
        "--output-uri", model_uri,
        "--model-name", model,
        "--epochs", str(training.epochs),
        "--batch-size", str(training.batch_size),
        "--learning-rate", repr(training.learning_rate),
        "--seed", str(training.seed),
        *training.args,
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
    image_pull_secrets: Sequence[pulumi.Input[str]] = (),
) -> k8s.core.v1.PodTemplateSpecArgs:
    volumes, mounts = scratch_volumes(placement.gpus)
    command = training_command(training, rendezvous_host)
    arguments = training_arguments(model, training, model_uri)
    container = k8s.core.v1.ContainerArgs(
        name=TRAINER_CONTAINER,
        image=image,
        command=command,
        # With torchrun the arguments follow the script path; otherwise they follow the entrypoint.
        args=arguments,
        env=with_configured_env(
            [k8s.core.v1.EnvVarArgs(name="PYTHONUNBUFFERED", value="1"), *access.env],
            training.env,
            workload_options.training_env_owner,
        ),
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
            image_pull_secrets=pull_secret_references(image_pull_secrets),
            node_selector=dict(placement.node_selector) or None,
            tolerations=list(placement.tolerations) or None,
            subdomain=subdomain,
            containers=[container],
            volumes=[*volumes, *access.volumes],
        ),
    )
