"""Model artifacts on one PersistentVolumeClaim, for clusters whose backend stores them on a volume
(kind's local-path volume, an existing cluster's storage class): training mounts it read-write,
serving read-only, and both see `file:///models/<model>`."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import labels
from components.contracts.artifacts import ArtifactAccess, ArtifactAccessMode
from components.contracts.service_account import workload_service_account

ARTIFACT_MOUNT_PATH = "/models"
ARTIFACT_VOLUME_NAME = "models"


def artifact_claim(
    name: str,
    *,
    namespace: pulumi.Input[str],
    storage_class: str,
    access_modes: Sequence[str],
    size: str,
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.PersistentVolumeClaim:
    """The claim every grant mounts. `name` is the owning component's; `opts` carry its parent and provider."""
    return k8s.core.v1.PersistentVolumeClaim(
        f"{name}-artifacts",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=namespace,
            labels=labels.kubernetes_labels("artifacts"),
            # Classes that bind on first consumer (kind's local-path, many others) bind when the
            # training pod, which needs this claim first, is scheduled: waiting for Bound here
            # would wait forever.
            annotations={"pulumi.com/skipAwait": "true"},
        ),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=list(access_modes),
            storage_class_name=storage_class,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size}),
        ),
        opts=opts,
    )


class VolumeArtifactStore:
    """Artifacts on one PersistentVolumeClaim: training mounts it read-write, serving read-only."""

    def __init__(self, claim_name: pulumi.Input[str], namespace: pulumi.Input[str]):
        self._claim_name = claim_name
        self._namespace = namespace

    def grant(self, name: str, model: str, mode: ArtifactAccessMode, opts: pulumi.ResourceOptions) -> ArtifactAccess:
        read_only = mode is ArtifactAccessMode.READ_ONLY
        account = workload_service_account(name, model, self._namespace, opts)
        return ArtifactAccess(
            model_root_uri=f"file://{ARTIFACT_MOUNT_PATH}/{model}",
            service_account_name=account.metadata.name,
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name=ARTIFACT_VOLUME_NAME,
                    persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                        claim_name=self._claim_name, read_only=read_only
                    ),
                )
            ],
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(
                    name=ARTIFACT_VOLUME_NAME, mount_path=ARTIFACT_MOUNT_PATH, read_only=read_only
                )
            ],
        )
