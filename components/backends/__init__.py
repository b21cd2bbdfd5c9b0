"""The backends, as data: a row per cluster backend and per registry backend.

Generic code (config validation, `components.platform`, the render tool's mocks) loops over these
tables and never names a backend. A row holds only what validation needs before any resource
exists (the settings schema, which is pure pydantic, and what the backend supports); the
backend's code, and with it its cloud SDK, is imported only when a stack selects it.

Adding a cloud is a package `components/backends/<name>/` (settings, platform with `provision`,
mocks) and a row in `CLUSTERS` (and in `REGISTRIES` for its registry).

Which registry a cluster can pull from has one source: the registry row's `clusters`. A registry
that pods pull from with an imagePullSecret (`oci`) works with any cluster, including one added
later; one that relies on the cluster's own wiring or node identity (kind's local registry, ECR)
names its clusters.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

import pulumi

from components.backends.eks.ci_settings import AwsCiSettings
from components.backends.eks.settings import AwsProvider, EksSettings
from components.backends.existing.settings import KUBECONFIG_KEY, OBJECT_STORE_SECRET_KEY, ExistingSettings
from components.backends.gke.ci_settings import GcpCiSettings
from components.backends.gke.settings import GcpProvider, GkeSettings
from components.backends.kind.settings import KindSettings
from components.backends.oci.settings import PASSWORD_KEY, OciRegistrySettings
from components.ci import CiSettings
from components.schema import BackendSettings, Schema, SecretKey

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
    service_types: tuple[str, ...]
    """Service types that get a reachable endpoint on this cluster (unless its settings declare them)."""
    module: str
    """Module with `provision(config, registry, opts) -> ProvisionedCluster`; imported only when selected."""
    mocks: str | None
    """Module with `MOCKS`, the cloud API answers the offline render needs for this backend (None: none
    beyond the Kubernetes and Docker answers every stack gets)."""
    secrets: tuple[SecretKey, ...] = ()
    """Secret keys of the project namespace this backend reads; unknown keys unless it is selected."""
    ci: type[CiSettings] | None = None
    """Schema of `ml-platform:ci` where the backend's `provision` builds the stack's CI identity
    (`ci_identity` in its package); None: the key is an error on this backend's stacks."""

    def load(self) -> ClusterModule:
        return cast("ClusterModule", importlib.import_module(self.module))


@dataclass(frozen=True, kw_only=True)
class RegistryBackend:
    name: str
    clusters: tuple[str, ...] | None
    """Cluster backends that can pull from it; None: any cluster (pods pull with an imagePullSecret).
    The one source of which pairs are valid."""
    module: str
    """Module with `provision(config, opts) -> Registry`; imported only when selected."""
    mocks: str | None
    settings_key: str | None = None
    """Stack key of the registry's own settings object, if it has one (`ml-platform:<settings_key>`);
    a registry that belongs to a cluster backend reads that backend's object instead."""
    settings: type[BackendSettings] | None = None
    secrets: tuple[SecretKey, ...] = ()
    """Secret keys of the project namespace this backend reads; unknown keys unless it is selected."""

    def pairs_with(self, cluster: str) -> bool:
        return self.clusters is None or cluster in self.clusters

    def load(self) -> RegistryModule:
        return cast("RegistryModule", importlib.import_module(self.module))


CLUSTERS: Mapping[str, ClusterBackend] = {
    "kind": ClusterBackend(
        name="kind",
        settings_key="kind",
        settings=KindSettings,
        provider=None,
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
        service_types=("ClusterIP", "LoadBalancer"),
        module="components.backends.eks.platform",
        mocks="components.backends.eks.mocks",
        ci=AwsCiSettings,
    ),
    "existing": ClusterBackend(
        name="existing",
        settings_key="existing",
        settings=ExistingSettings,
        provider=None,
        # Nothing is provisioned, so the stack declares which types get an address (existing.serviceTypes).
        service_types=("ClusterIP",),
        module="components.backends.existing.platform",
        # Creates Kubernetes objects only, which every stack's mocks answer for.
        mocks=None,
        secrets=(
            SecretKey(
                key=KUBECONFIG_KEY,
                description="a whole kubeconfig (CI); instead of existing.kubeconfigPath or ~/.kube/config",
            ),
            SecretKey(
                key=OBJECT_STORE_SECRET_KEY,
                description="secret access key of existing.artifacts.objectStore.accessKeyId",
            ),
        ),
    ),
    "gke": ClusterBackend(
        name="gke",
        settings_key="gke",
        settings=GkeSettings,
        provider=ProviderConfig(namespace="gcp", schema=GcpProvider),
        service_types=("ClusterIP", "LoadBalancer"),
        module="components.backends.gke.platform",
        mocks="components.backends.gke.mocks",
        ci=GcpCiSettings,
    ),
}

REGISTRIES: Mapping[str, RegistryBackend] = {
    # Reached through containerd wiring on kind's nodes (and configured in the `kind` object).
    "local": RegistryBackend(
        name="local",
        clusters=("kind",),
        module="components.backends.kind.registry",
        mocks="components.backends.kind.mocks",
    ),
    # Pulled with the EKS node role's ECR policy (and configured in the `eks` object).
    "ecr": RegistryBackend(
        name="ecr",
        clusters=("eks",),
        module="components.backends.eks.registry",
        mocks="components.backends.eks.mocks",
    ),
    "oci": RegistryBackend(
        name="oci",
        clusters=None,
        module="components.backends.oci.registry",
        # Pushes are docker Image resources, which every stack's mocks answer for.
        mocks=None,
        settings_key="registry",
        settings=OciRegistrySettings,
        secrets=(
            SecretKey(
                key=PASSWORD_KEY,
                description=(
                    "the registry's password or access token (ghcr: a GitHub token (classic) with write:packages; "
                    "Docker Hub: an access token with Read & Write)"
                ),
                required=True,
            ),
        ),
    ),
    # Pulled with the GKE node service account's Artifact Registry read role (configured in the `gke` object).
    "artifact-registry": RegistryBackend(
        name="artifact-registry",
        clusters=("gke",),
        module="components.backends.gke.registry",
        mocks="components.backends.gke.mocks",
    ),
}


def mock_modules() -> list[str]:
    """Every backend's mocks module, once each: the render tool loads them all (they import no SDK)."""
    rows: list[ClusterBackend | RegistryBackend] = [*CLUSTERS.values(), *REGISTRIES.values()]
    return sorted({row.mocks for row in rows if row.mocks is not None})
