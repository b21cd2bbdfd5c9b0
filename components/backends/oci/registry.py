"""The OCI registry's `provision`: nothing to create (ghcr.io and Docker Hub create a repository on
its first push), one repository per image under `<server>/<repositoryPrefix>/`, pushed with the
configured user and the secret token, and pulled by pods with the same credentials unless public."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

from components.backends.oci.settings import PASSWORD_KEY, OciRegistrySettings
from components.contracts.registry import ImageRepository, Registry, RegistryCredentials
from components.schema import NAMESPACE

if TYPE_CHECKING:
    from components.config import StackConfig


def provision(config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> Registry:
    settings = config.registry_settings_as(OciRegistrySettings)
    # A secret Output from here on: never in state, previews or outputs in clear.
    password = pulumi.Config(NAMESPACE).require_secret(PASSWORD_KEY)
    push = RegistryCredentials(server=settings.host, username=settings.username, password=password)
    pull = (
        None
        if settings.public
        else RegistryCredentials(server=settings.auth_key, username=settings.username, password=password)
    )
    return Registry(
        repositories={
            image_name: ImageRepository(url=settings.repository(image_name), credentials=push)
            for image_name in sorted(config.images)
        },
        pull_credentials=pull,
    )
