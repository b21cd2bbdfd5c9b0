"""Schema of the `ml-platform:kind` stack object (clusterBackend: kind). Pure pydantic, like every
backend's settings: validating a stack imports no Pulumi provider."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

from components.schema import (
    BackendSettings,
    ChartVersion,
    DnsName,
    PinnedImage,
    Problem,
    Schema,
    StackFacts,
    StorageQuantity,
)


class KindCharts(Schema):
    """Pinned Helm chart versions of what the kind cluster lacks out of the box."""

    metrics_server: ChartVersion = Field(
        # Chart 3.13.0 ships metrics-server v0.8.0 (the chart's CHANGELOG.md).
        default="3.13.0",
        description="metrics-server chart (https://kubernetes-sigs.github.io/metrics-server/), for autoscalers.",
    )


class KindSettings(BackendSettings):
    """The local kind cluster and its registry (clusterBackend: kind)."""

    cluster_name: DnsName | None = Field(
        default=None, description="Name the kind CLI knows the cluster by; default: ml-<stack>."
    )
    node_image: PinnedImage = Field(
        # kind v0.29.0's image for Kubernetes 1.33, as published in kind's release notes.
        default="kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f",
        description="kindest/node image, pinned by digest; its version must match kubernetesVersion.",
    )
    registry_image: PinnedImage = Field(
        default="registry:2.8.3@sha256:a3d8aaa63ed8681a604f1dea0aa03f100d5895b6a58ace528858a7b332415373",
        description="Image of the local registry container, pinned by digest.",
    )
    registry_host_port: Annotated[StrictInt, Field(ge=1024, le=65535)] = Field(
        default=5001,
        description="Loopback port the registry is published on; images are tagged localhost:<port>/<name>.",
    )
    artifact_volume_size: StorageQuantity = Field(
        default="5Gi", description="Size of the model artifact volume (at least 1Mi)."
    )
    charts: KindCharts = Field(default_factory=KindCharts, description="Pinned add-on chart versions.")

    def problems(self, key: str, facts: StackFacts) -> list[Problem]:
        tag = self.node_image.split("@")[0].rpartition(":")[2]
        if tag.startswith(f"v{facts.kubernetes_version}."):
            return []
        return [
            Problem(
                f"{key}.nodeImage",
                self.node_image,
                f"its Kubernetes version ({tag}) must match kubernetesVersion {facts.kubernetes_version}",
            )
        ]
