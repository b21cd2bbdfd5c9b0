"""Serves a trained model: a Deployment of the model server, a Service in front of its inference
port, a NetworkPolicy that opens that port to clients and the admin port to metrics scrapers, a
PodDisruptionBudget that keeps it answering through node drains, and, with `serving.autoscaling`,
a HorizontalPodAutoscaler that owns the replica count (`scaling.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import labels
from components.config import ROLLING_UPDATE_SURGE, ServingConfig
from components.contracts.artifacts import ArtifactAccessMode
from components.contracts.cluster import ClusterContract
from components.workloads import pod, scaling, serving_pod

COMPONENT = "serving"


@dataclass(frozen=True, kw_only=True)
class ModelServiceArgs:
    model: str
    image: pulumi.Input[str]
    """Digest-pinned server image."""
    model_uri: pulumi.Input[str]
    """The training run's output location (`TrainingJob.model_uri`)."""
    serving: ServingConfig
    cluster: ClusterContract
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """Usually the training Job: with awaited training, servers start after the model exists."""
    auth_token: pulumi.Input[str] | None = None
    """The predict routes' bearer token (a secret), when `serving.require_token`; kept in a
    Kubernetes Secret mounted into the pods. Required exactly then."""


def rolling_update() -> k8s.apps.v1.DeploymentStrategyArgs:
    """Never below the configured capacity during an update: surge one pod, remove none early."""
    return k8s.apps.v1.DeploymentStrategyArgs(
        type="RollingUpdate",
        rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=ROLLING_UPDATE_SURGE, max_unavailable=0),
    )


def load_balancer_address(status: k8s.core.v1.outputs.ServiceStatus | None) -> str | None:
    """The address a cloud load balancer published on the Service, once it has one."""
    ingress = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    return next((entry.hostname or entry.ip for entry in ingress if entry.hostname or entry.ip), None)


class ModelService(pulumi.ComponentResource):
    deployment_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    """In-cluster URL of the model's KServe V1 predict endpoint."""
    local_access: pulumi.Output[str]
    """A command that reaches the service from a laptop with kubectl."""
    external_address: pulumi.Output[str | None]
    """The load balancer's hostname or IP for `LoadBalancer` Services; None otherwise."""

    def __init__(self, name: str, args: ModelServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:model_service:ModelService", name, None, opts)
        cluster = args.cluster
        serving = args.serving
        child = pulumi.ResourceOptions(parent=self, provider=cluster.provider)

        access = cluster.artifacts.grant(name, args.model, ArtifactAccessMode.READ_ONLY, child)
        placement = pod.place(serving.resources, cluster.gpu, f"model {args.model} serving")
        if placement.warning:
            pulumi.log.warn(placement.warning, resource=self)

        selector = labels.selector_labels(COMPONENT, args.model)
        pod_labels = labels.kubernetes_labels(COMPONENT, args.model)
        token_secret = self._token_secret(name, args, pod_labels, child) if serving.require_token else None
        template = serving_pod.serving_pod_template(
            model=args.model,
            image=args.image,
            model_uri=args.model_uri,
            serving=serving,
            access=access,
            placement=placement,
            labels=pod_labels,
            selector=selector,
            image_pull_secrets=cluster.image_pull_secrets,
            token_secret=token_secret.metadata.name if token_secret is not None else None,
        )
        metadata = k8s.meta.v1.ObjectMetaArgs(namespace=cluster.namespace, labels=pod_labels)
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata,
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # With an autoscaler: its minimum, on create only (see scaling.deployment_ignore_changes).
                replicas=scaling.minimum_replicas(serving),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=rolling_update(),
                template=template,
            ),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=[*access.depends_on, *cluster.ready, *args.depends_on],
                    ignore_changes=scaling.deployment_ignore_changes(serving),
                ),
            ),
        )
        if serving.autoscaling is not None:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-autoscaler",
                metadata=metadata,
                spec=scaling.autoscaler_spec(serving, deployment.metadata.name),
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(cluster.metrics_api))),
            )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                namespace=cluster.namespace,
                labels=pod_labels,
                annotations=dict(cluster.service_annotations.get(serving.service_type, {})) or None,
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type=serving.service_type,
                # The API server refuses source ranges on any other type.
                load_balancer_source_ranges=list(cluster.load_balancer_source_ranges)
                if serving.service_type == "LoadBalancer" and cluster.load_balancer_source_ranges
                else None,
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name=serving_pod.SERVER_PORT_NAME, port=serving.port, target_port=serving_pod.SERVER_PORT_NAME
                    )
                ],
            ),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=metadata,
            spec=serving_pod.serving_network_policy(selector),
            opts=child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-disruption-budget",
            metadata=metadata,
            spec=scaling.disruption_budget_spec(serving, selector),
            opts=child,
        )

        self.deployment_name = deployment.metadata.name
        self.service_name = service.metadata.name
        predict_path = f"/v1/models/{args.model}:predict"
        self.endpoint = pulumi.Output.format(
            "http://{0}.{1}.svc.cluster.local:{2}{3}",
            service.metadata.name,
            cluster.namespace,
            serving.port,
            predict_path,
        )
        self.local_access = pulumi.Output.format(
            "kubectl -n {0} port-forward svc/{1} 8080:{2}  # then POST http://localhost:8080{3}",
            cluster.namespace,
            service.metadata.name,
            serving.port,
            predict_path,
        )
        self.external_address = (
            service.status.apply(load_balancer_address)
            if serving.service_type == "LoadBalancer"
            else pulumi.Output.from_input(None)
        )
        self.register_outputs(
            {
                "external_address": self.external_address,
                "deployment_name": self.deployment_name,
                "service_name": self.service_name,
                "endpoint": self.endpoint,
                "local_access": self.local_access,
            }
        )

    @staticmethod
    def _token_secret(
        name: str, args: ModelServiceArgs, pod_labels: dict[str, str], child: pulumi.ResourceOptions
    ) -> k8s.core.v1.Secret:
        if args.auth_token is None:
            raise ValueError(f"model {args.model} requires a token (serving.requireToken) but none was given")
        return k8s.core.v1.Secret(
            f"{name}-auth-token",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=args.cluster.namespace, labels=pod_labels),
            type="Opaque",
            string_data={serving_pod.TOKEN_FILE: pulumi.Output.secret(args.auth_token)},
            opts=child,
        )
