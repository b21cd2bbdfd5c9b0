"""Schema of the `ml-platform:registry` stack object (registryBackend: oci). Pure pydantic.

The password or token is never in this object: it is the secret key `ml-platform:registryPassword`
(`pulumi config set --secret`), which the backend row declares and config validation requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, StrictBool, model_validator

from components.backends.addresses import check_registry_host
from components.schema import BackendSettings, matching

PASSWORD_KEY = "registryPassword"  # noqa: S105 - a config key's name, not a secret
"""Secret key (project namespace) of the registry password or access token."""


@dataclass(frozen=True, kw_only=True)
class Preset:
    server: str
    """Host images are named and pushed under."""
    auth_key: str
    """Key of the `auths` entry kubelets match pulls against (Docker Hub's is its v1 index URL,
    what `kubectl create secret docker-registry` writes by default)."""
    single_level_prefix: bool = False
    """The registry allows one path level before the image name (Docker Hub: `user/image`)."""


PRESETS: dict[str, Preset] = {
    "ghcr": Preset(server="ghcr.io", auth_key="ghcr.io"),
    "dockerhub": Preset(server="docker.io", auth_key="https://index.docker.io/v1/", single_level_prefix=True),
}

# OCI distribution spec: path components are lower-case alphanumerics separated by '.', '_', '__' or '-'.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
RepositoryPrefix = Annotated[
    str,
    matching(
        rf"{_COMPONENT}(?:/{_COMPONENT})*",
        "must be a user or organisation, optionally followed by /path, in lower case (e.g. acme or acme/ml)",
    ),
]


def _server(value: str) -> str:
    try:
        return check_registry_host(value)
    except ValueError as error:
        raise ValueError(
            f"must be a registry host, optionally with a port (e.g. registry.example.com:5000), without a scheme: "
            f"{error}"
        ) from None


Server = Annotated[str, AfterValidator(_server)]
Username = Annotated[str, matching(r"[^\s:]{1,256}", "must be a user name without spaces or ':'")]


class OciRegistrySettings(BackendSettings):
    """A registry reached with a username and a token (registryBackend: oci)."""

    preset: Literal["ghcr", "dockerhub"] | None = Field(
        default=None, description="ghcr (ghcr.io) or dockerhub (docker.io); omit for another registry and set `server`."
    )
    server: Server | None = Field(
        default=None, description="Registry host (and port); required without a preset, set by a preset otherwise."
    )
    repository_prefix: RepositoryPrefix = Field(
        description="User or organisation the images live under: images are <server>/<prefix>/<image name>."
    )
    username: Username = Field(description="User the token belongs to (a bot account is best).")
    public: StrictBool = Field(
        default=False,
        description=(
            "True: the repositories are public and pods pull anonymously (no imagePullSecret). "
            "Default false: pods pull with the same credentials, from an imagePullSecret."
        ),
    )

    @model_validator(mode="after")
    def _server_and_preset(self) -> Self:
        if self.preset is None and self.server is None:
            raise ValueError("set either preset (ghcr, dockerhub) or server (the registry host)")
        if self.preset is not None and self.server is not None and self.server != PRESETS[self.preset].server:
            raise ValueError(f"server {self.server!r} conflicts with preset {self.preset}; omit server")
        if self.preset is not None and PRESETS[self.preset].single_level_prefix and "/" in self.repository_prefix:
            raise ValueError(
                f"repositoryPrefix {self.repository_prefix!r}: {self.preset} allows one level (the user or "
                "organisation) before the image name"
            )
        return self

    @property
    def host(self) -> str:
        """Where images are pushed: the preset's server or `server`."""
        if self.preset is not None:
            return PRESETS[self.preset].server
        if self.server is None:  # excluded by the validator
            raise ValueError("an OCI registry needs a server")
        return self.server

    @property
    def auth_key(self) -> str:
        """The `auths` key of the pull secret that kubelets match the images' host against."""
        return PRESETS[self.preset].auth_key if self.preset is not None else self.host

    def repository(self, image_name: str) -> str:
        return f"{self.host}/{self.repository_prefix}/{image_name}"
