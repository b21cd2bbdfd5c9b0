"""What every registry backend gives each image: where to push it and with which credentials."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi


@dataclass(frozen=True, kw_only=True)
class RegistryCredentials:
    server: pulumi.Input[str]
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
