"""The backends, as data: a row per cluster backend and per registry backend.

Generic code (config validation, `components.platform`, the render tool's mocks) loops over these
tables and never names a backend. A row holds only what validation needs before any resource
exists (the settings schema, which is pure pydantic, and what the backend supports); the
backend's code, and with it its cloud SDK, is imported only when a stack selects it.

Adding a cloud is a package `components/backends/<name>/` (settings, platform with `provision`,
mocks) and a row in `CLUSTERS` (and in `REGISTRIES` for its registry).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

import pulumi

from components.backends.eks.settings import AwsProvider, EksSettings
from components.backends.gke.settings import GcpProvider, GkeSettings
from components.backends.kind.settings import KindSettings
from components.schema import BackendSettings, Schema

if TYPE_CHECKING:
    from components.config import StackConfig
    from components.contracts.platform import ProvisionedCluster
    from components.contracts.registry import Registry


class ClusterModule(Protocol):
    def provision(
        self, config: StackConfig, registry: Registry, opts: pulumi.ResourceOptions | None = None
    ) -> ProvisionedCluster: ...


class RegistryModule(Protocol):
    def provision(self, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> Registry: ...


@dataclass(frozen=True, kw_only=True)
class ProviderConfig:
    """A cloud provider's own config namespace (`aws:region`), validated like the project's keys."""

    namespace: str
    schema: type[Schema]
    """The keys the program reads; the provider's other keys (`aws:profile`, ...) pass through."""


@dataclass(frozen=True, kw_only=True)
class ClusterBackend:
    name: str
    settings_key: str
    """Stack key of the backend's settings object: `ml-platform:<settings_key>`."""
    settings: type[BackendSettings]
    provider: ProviderConfig | None
    registries: tuple[str, ...]
    """Registry backends whose images this cluster can pull."""
    service_types: tuple[str, ...]
    """Service types that get a reachable endpoint on this cluster."""
    module: str
    """Module with `provision(config, registry, opts) -> ProvisionedCluster`; imported only when selected."""
    mocks: str
    """Module with `MOCKS`, the cloud API answers the offline render needs for this backend."""

    def load(self) -> ClusterModule:
        return cast("ClusterModule", importlib.import_module(self.module))


@dataclass(frozen=True, kw_only=True)
class RegistryBackend:
    name: str
    module: str
    """Module with `provision(config, opts) -> Registry`; imported only when selected."""
    mocks: str

    def load(self) -> RegistryModule:
        return cast("RegistryModule", importlib.import_module(self.module))


CLUSTERS: Mapping[str, ClusterBackend] = {
    "kind": ClusterBackend(
        name="kind",
        settings_key="kind",
        settings=KindSettings,
        provider=None,
        registries=("local",),
        # kind has no load-balancer controller. `kubectl port-forward` reaches a ClusterIP Service
        # from any laptop; a NodePort only from Linux hosts (the node's container IP).
        service_types=("ClusterIP", "NodePort"),
        module="components.backends.kind.platform",
        mocks="components.backends.kind.mocks",
    ),
    "eks": ClusterBackend(
        name="eks",
        settings_key="eks",
        settings=EksSettings,
        provider=ProviderConfig(namespace="aws", schema=AwsProvider),
        registries=("ecr",),
        service_types=("ClusterIP", "LoadBalancer"),
        module="components.backends.eks.platform",
        mocks="components.backends.eks.mocks",
    ),
    "gke": ClusterBackend(
        name="gke",
        settings_key="gke",
        settings=GkeSettings,
        provider=ProviderConfig(namespace="gcp", schema=GcpProvider),
        registries=("artifact-registry",),
        service_types=("ClusterIP", "LoadBalancer"),
        module="components.backends.gke.platform",
        mocks="components.backends.gke.mocks",
    ),
}

REGISTRIES: Mapping[str, RegistryBackend] = {
    "local": RegistryBackend(
        name="local", module="components.backends.kind.registry", mocks="components.backends.kind.mocks"
    ),
    "ecr": RegistryBackend(
        name="ecr", module="components.backends.eks.registry", mocks="components.backends.eks.mocks"
    ),
    "artifact-registry": RegistryBackend(
        name="artifact-registry", module="components.backends.gke.registry", mocks="components.backends.gke.mocks"
    ),
}


def mock_modules() -> list[str]:
    """Every backend's mocks module, once each: the render tool loads them all (they import no SDK)."""
    modules = [backend.mocks for backend in CLUSTERS.values()] + [backend.mocks for backend in REGISTRIES.values()]
    return sorted(set(modules))
