"""The model server's pod: its port, probes, environment and spread over zones and nodes. A pure
function; `ModelService` creates the resources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import workload_options
from components.config import ServingConfig
from components.contracts.artifacts import ArtifactAccess
from components.workloads.pod import (
    IngressRule,
    Placement,
    container_security_context,
    ingress_policy,
    pod_security_context,
    pull_secret_references,
    scratch_volumes,
    with_configured_env,
)

LISTEN_ADDRESS = "0.0.0.0"  # noqa: S104 - a pod listens on its own address; the Service and NetworkPolicy bound who reaches it
"""Every interface: the kubelet probes the pod's IP and the Service forwards to it."""
SERVER_PORT = 8080
SERVER_PORT_NAME = "http"
"""The inference port: the KServe V1 routes only; what the Service exposes."""
ADMIN_PORT = 8081
ADMIN_PORT_NAME = "admin"
"""Probes and /metrics: never behind the Service, reached by the kubelet and by metrics scrapers."""
READINESS_PATH = "/readyz"
LIVENESS_PATH = "/healthz"
METRICS_PATH = "/metrics"
METRICS_SCRAPER_LABEL = "ml-platform/metrics-scraper"
"""A namespace labelled `<this>: "true"` (where Prometheus runs) may reach the admin port."""
TOKEN_DIRECTORY = "/var/run/secrets/ml-platform/auth"  # noqa: S105 - where the token Secret is mounted
TOKEN_FILE = "token"  # noqa: S105 - a file name, not a secret
"""The key of the token Secret, and the file it becomes in TOKEN_DIRECTORY."""
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
    token_secret: pulumi.Input[str] | None = None,
) -> k8s.core.v1.PodTemplateSpecArgs:
    """`token_secret`: the Secret holding the predict routes' bearer token (serving.requireToken)."""
    volumes, mounts = scratch_volumes(placement.gpus)
    token_env: list[k8s.core.v1.EnvVarArgs] = []
    if token_secret is not None:
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name="auth-token",
                secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=token_secret, default_mode=0o440),
            )
        )
        mounts.append(k8s.core.v1.VolumeMountArgs(name="auth-token", mount_path=TOKEN_DIRECTORY, read_only=True))
        token_env.append(k8s.core.v1.EnvVarArgs(name="AUTH_TOKEN_FILE", value=f"{TOKEN_DIRECTORY}/{TOKEN_FILE}"))
    probe_port = ADMIN_PORT_NAME
    container = k8s.core.v1.ContainerArgs(
        name="server",
        image=image,
        ports=[
            k8s.core.v1.ContainerPortArgs(name=SERVER_PORT_NAME, container_port=SERVER_PORT),
            k8s.core.v1.ContainerPortArgs(name=ADMIN_PORT_NAME, container_port=ADMIN_PORT),
        ],
        env=with_configured_env(
            [
                k8s.core.v1.EnvVarArgs(name="MODEL_URI", value=model_uri),
                k8s.core.v1.EnvVarArgs(name="MODEL_NAME", value=model),
                # The server's default too, set here because the probes and the Service depend on it.
                k8s.core.v1.EnvVarArgs(name="HOST", value=LISTEN_ADDRESS),
                k8s.core.v1.EnvVarArgs(name="PORT", value=str(SERVER_PORT)),
                k8s.core.v1.EnvVarArgs(name="ADMIN_PORT", value=str(ADMIN_PORT)),
                k8s.core.v1.EnvVarArgs(name="MAX_INSTANCES", value=str(serving.max_batch_size)),
                *token_env,
                *access.env,
            ],
            serving.env,
            workload_options.serving_env_owner,
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
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=dict(labels), annotations=scrape_annotations()),
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


def scrape_annotations() -> dict[str, str]:
    """The annotations Prometheus' common pod discovery reads: scrape /metrics on the admin port."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(ADMIN_PORT), "prometheus.io/path": METRICS_PATH}


def serving_network_policy(selector: Mapping[str, str]) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Clients reach the inference port from anywhere the Service is exposed; the admin port only
    from namespaces labelled as metrics scrapers (kubelet probes are not subject to policies)."""
    return ingress_policy(
        selector,
        [
            IngressRule(port=SERVER_PORT),
            IngressRule(port=ADMIN_PORT, peer_namespaces={METRICS_SCRAPER_LABEL: "true"}),
        ],
    )
