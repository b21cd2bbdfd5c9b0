"""A registry container on the laptop, for the kind cluster (kind's own local-registry recipe).

Published on a loopback port only; pushed images live in a named volume, so they survive a
restart of the container or of Docker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_docker as docker

from components.backends.kind.settings import KindSettings
from components.contracts.registry import ImageRepository, Registry

if TYPE_CHECKING:
    from components.config import StackConfig

REGISTRY_PORT = 5000
"""Port the registry listens on inside its container (and on the kind network)."""


@dataclass(frozen=True, kw_only=True)
class LocalRegistryArgs:
    image: str
    """Registry image, pinned by digest."""
    host_port: int
    """Loopback port on the laptop; images are tagged `localhost:<host_port>/<name>`."""
    image_names: Sequence[str]


class LocalRegistry(pulumi.ComponentResource):
    host: pulumi.Output[str]
    """`localhost:<port>`: the name images are pushed to and pods pull from."""
    container_name: pulumi.Output[str]
    """The container's name, which is its DNS name on the kind network."""
    repositories: dict[str, ImageRepository]

    def __init__(self, name: str, args: LocalRegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:registry:LocalRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        image = docker.RemoteImage(f"{name}-image", name=args.image, keep_locally=True, opts=child)
        data = docker.Volume(f"{name}-data", opts=child)
        container = docker.Container(
            f"{name}-container",
            image=image.image_id,
            restart="always",
            ports=[docker.ContainerPortArgs(internal=REGISTRY_PORT, external=args.host_port, ip="127.0.0.1")],
            volumes=[docker.ContainerVolumeArgs(volume_name=data.name, container_path="/var/lib/registry")],
            opts=child,
        )
        host = f"localhost:{args.host_port}"
        self.host = pulumi.Output.from_input(host)
        self.container_name = container.name
        self.repositories = {
            image_name: ImageRepository(url=f"{host}/{image_name}", depends_on=(container,))
            for image_name in args.image_names
        }
        self.register_outputs({"host": self.host, "container_name": self.container_name})


@dataclass(frozen=True, kw_only=True)
class LocalRegistryEndpoint(Registry):
    """The local registry as the kind cluster needs it, to wire containerd to it."""

    host: pulumi.Output[str]
    container_name: pulumi.Output[str]


def provision(config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> LocalRegistryEndpoint:
    settings = config.backend_settings_as(KindSettings)
    registry = LocalRegistry(
        "registry",
        LocalRegistryArgs(
            image=settings.registry_image, host_port=settings.registry_host_port, image_names=sorted(config.images)
        ),
        opts,
    )
    return LocalRegistryEndpoint(
        repositories=registry.repositories, host=registry.host, container_name=registry.container_name
    )
