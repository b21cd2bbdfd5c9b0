"""metrics-server, for backends whose cluster does not serve the resource metrics API
(metrics.k8s.io) on its own: HorizontalPodAutoscalers read CPU use from it (so does `kubectl top`).
kind and EKS install it with this chart, each with its own values; GKE has it built in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

METRICS_SERVER_CHART = "metrics-server"
METRICS_SERVER_REPO = "https://kubernetes-sigs.github.io/metrics-server/"
METRICS_SERVER_NAMESPACE = "kube-system"


def metrics_server(
    name: str, version: str, values: Mapping[str, Any], opts: pulumi.ResourceOptions
) -> k8s.helm.v4.Chart:
    """The kubernetes-sigs chart at a pinned `version` (a backend setting), in kube-system; `opts`
    carries the cluster's provider and the caller's parent."""
    return k8s.helm.v4.Chart(
        f"{name}-metrics-server",
        chart=METRICS_SERVER_CHART,
        version=version,
        repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=METRICS_SERVER_REPO),
        namespace=METRICS_SERVER_NAMESPACE,
        values=dict(values),
        opts=opts,
    )
