"""Model artifacts on one PersistentVolumeClaim of the kind cluster: training mounts it read-write,
serving read-only, and both see `file:///models/<model>`."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.contracts.artifacts import ArtifactAccess, ArtifactAccessMode
from components.contracts.service_account import workload_service_account

ARTIFACT_MOUNT_PATH = "/models"
ARTIFACT_VOLUME_NAME = "models"


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
