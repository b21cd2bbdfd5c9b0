"""What every registry backend gives each image: where to push it and with which credentials.
The cluster backend receives the provisioned `Registry`, so a cluster can be wired to it (kind's
local registry) without any workload knowing which registry it is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi


@dataclass(frozen=True, kw_only=True)
class RegistryCredentials:
    server: pulumi.Input[str]
    """Registry host as the client matches it: pushes log in to it, kubelets match image hosts against it."""
    username: pulumi.Input[str]
    password: pulumi.Input[str]
    """Always a secret Output."""


@dataclass(frozen=True, kw_only=True)
class ImageRepository:
    url: pulumi.Input[str]
    """Repository to push to and pull from, without tag, e.g. `localhost:5001/trainer`."""
    credentials: RegistryCredentials | None = None
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources that must exist before a push (the registry container, the repository)."""


@dataclass(frozen=True, kw_only=True)
class Registry:
    """What a registry backend provisions: one repository per image of the stack."""

    repositories: Mapping[str, ImageRepository]
    pull_credentials: RegistryCredentials | None = None
    """What pods pull with, through an imagePullSecret in the workloads' namespace (a private registry
    reached with a token). None: the nodes pull on their own - with their cloud identity (ECR,
    Artifact Registry), through the cluster's wiring (kind's local registry) - or the images are public."""
