"""The model server's pod: its port, probes, environment and spread over zones and nodes. A pure
function; `ModelService` creates the resources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config import ServingConfig
from components.contracts.artifacts import ArtifactAccess
from components.workloads.pod import (
    Placement,
    container_security_context,
    pod_security_context,
    pull_secret_references,
    scratch_volumes,
    with_configured_env,
)

SERVER_PORT = 8080
SERVER_PORT_NAME = "http"
READINESS_PATH = "/readyz"
LIVENESS_PATH = "/healthz"
SHUTDOWN_DRAIN_SECONDS = 5
"""Seconds a stopping server keeps serving while endpoints drop it, before SIGTERM."""


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
    image_pull_secrets: Sequence[pulumi.Input[str]] = (),
) -> k8s.core.v1.PodTemplateSpecArgs:
    volumes, mounts = scratch_volumes(placement.gpus)
    probe_port = SERVER_PORT_NAME
    container = k8s.core.v1.ContainerArgs(
        name="server",
        image=image,
        ports=[k8s.core.v1.ContainerPortArgs(name=SERVER_PORT_NAME, container_port=SERVER_PORT)],
        env=with_configured_env(
            [
                k8s.core.v1.EnvVarArgs(name="MODEL_URI", value=model_uri),
                k8s.core.v1.EnvVarArgs(name="MODEL_NAME", value=model),
                k8s.core.v1.EnvVarArgs(name="PORT", value=str(SERVER_PORT)),
                k8s.core.v1.EnvVarArgs(name="MAX_INSTANCES", value=str(serving.max_batch_size)),
                *access.env,
            ],
            serving.env,
        ),
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
            image_pull_secrets=pull_secret_references(image_pull_secrets),
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
