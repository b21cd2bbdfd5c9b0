"""How a workload reaches its model's artifacts, whatever stores them (a volume, S3, GCS): the
backend grants access, the workload mounts and sets what the grant says."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pulumi
import pulumi_kubernetes as k8s


class ArtifactAccessMode(enum.Enum):
    READ_WRITE = "read-write"
    """Training: writes checkpoints and the exported model."""
    READ_ONLY = "read-only"
    """Serving: reads the exported model, never writes."""


@dataclass(frozen=True, kw_only=True)
class ArtifactAccess:
    """What one workload's pods need to reach one model's artifacts."""

    model_root_uri: pulumi.Input[str]
    """URI under which the model's runs live, e.g. `file:///models/digits` or `s3://bucket/models/digits`."""
    service_account_name: pulumi.Input[str]
    """Service account the pods run as; carries the cloud identity where the store needs one."""
    volumes: Sequence[k8s.core.v1.VolumeArgs] = ()
    volume_mounts: Sequence[k8s.core.v1.VolumeMountArgs] = ()
    env: Sequence[k8s.core.v1.EnvVarArgs] = ()
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources that must exist before pods start (identity, policy attachments)."""


class ArtifactStore(Protocol):
    """Where model artifacts live and how pods reach them."""

    def grant(self, name: str, model: str, mode: ArtifactAccessMode, opts: pulumi.ResourceOptions) -> ArtifactAccess:
        """Gives one workload access to one model's artifacts. `name` prefixes any resource created;
        `opts` carries the caller's parent and provider."""
        ...
