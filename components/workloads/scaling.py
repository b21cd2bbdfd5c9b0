"""How many server pods run, and who decides: the stack file's `replicas`, or a
HorizontalPodAutoscaler within `autoscaling`'s bounds; and the PodDisruptionBudget that stays
coherent with the fewest pods there may be. Pure functions; `ModelService` creates the resources."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.config import ServingConfig

REPLICAS_PATH = "spec.replicas"
"""The Deployment property the autoscaler owns once there is one; Pulumi ignores changes to it."""


def minimum_replicas(serving: ServingConfig) -> int:
    """The fewest server pods: `autoscaling.minReplicas`, else the fixed `replicas`."""
    return serving.autoscaling.min_replicas if serving.autoscaling is not None else serving.replicas


def deployment_ignore_changes(serving: ServingConfig) -> list[str] | None:
    """With an autoscaler, the Deployment's replica count is declared once, on create (the minimum),
    and never again: the HPA changes it through the scale subresource, and a `pulumi up` that set it
    back would undo the autoscaler's work (or fail on a server-side apply conflict with
    kube-controller-manager). Pulumi's advice for a field another controller manages is
    `ignoreChanges` (pulumi/pulumi-kubernetes#2258), as node group sizes are left to the
    cluster-autoscaler. Without an autoscaler Pulumi owns the count."""
    return [REPLICAS_PATH] if serving.autoscaling is not None else None


def disruption_budget_spec(
    serving: ServingConfig, selector: Mapping[str, str]
) -> k8s.policy.v1.PodDisruptionBudgetSpecArgs:
    """At most one pod down to voluntary disruptions (drains, node upgrades, scale-down), however
    many the autoscaler runs; at the minimum of two or more, that leaves at least one serving.

    With a minimum of one, `maxUnavailable: 1` would let a drain take the only pod and the model
    would be down until its replacement is ready; `minAvailable: 1` forbids that. Its price: while
    just one pod runs, a drain of its node waits until the autoscaler (or an operator) adds a second.
    Set minReplicas (or replicas) to 2 or more where drains must never wait.

    Unhealthy pods may always be evicted: a pod that is not ready serves nothing, so keeping it
    protects no capacity and would block drains behind a model that never loads."""
    match_labels = k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector))
    if minimum_replicas(serving) == 1:
        return k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            min_available=1, selector=match_labels, unhealthy_pod_eviction_policy="AlwaysAllow"
        )
    return k8s.policy.v1.PodDisruptionBudgetSpecArgs(
        max_unavailable=1, selector=match_labels, unhealthy_pod_eviction_policy="AlwaysAllow"
    )


def autoscaler_spec(
    serving: ServingConfig, deployment_name: pulumi.Input[str]
) -> k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs:
    """Scales the Deployment on average CPU use against each pod's CPU request (the default
    behaviour: out at once, in after five minutes of lower use, so a lull does not drop capacity)."""
    autoscaling = serving.autoscaling
    if autoscaling is None:
        raise ValueError("serving has no autoscaling section")
    return k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
        scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
            api_version="apps/v1", kind="Deployment", name=deployment_name
        ),
        min_replicas=autoscaling.min_replicas,
        max_replicas=autoscaling.max_replicas,
        metrics=[
            k8s.autoscaling.v2.MetricSpecArgs(
                type="Resource",
                resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                    name="cpu",
                    target=k8s.autoscaling.v2.MetricTargetArgs(
                        type="Utilization", average_utilization=autoscaling.target_cpu_utilization
                    ),
                ),
            )
        ],
    )
