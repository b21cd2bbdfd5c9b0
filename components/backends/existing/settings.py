"""Schema of the `ml-platform:existing` stack object (clusterBackend: existing). Pure pydantic.

Nothing here is provisioned, so the stack declares what the cluster offers: how GPU pods are
scheduled (or that there are no GPUs), where model artifacts live (a volume of a storage class, or
an S3-compatible object store) and which Service types get an address. Secrets are keys of their
own (`ml-platform:kubeconfig`, `ml-platform:objectStoreSecretAccessKey`), never values here.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, StrictBool, model_validator

from components.backends.addresses import Cidr, check_host
from components.backends.exposure import load_balancer_warnings
from components.backends.label_syntax import DNS_SUBDOMAIN, LABEL_NAME, LabelKey, Labels, LabelValue
from components.schema import (
    BackendSettings,
    Problem,
    Schema,
    ServiceType,
    StackFacts,
    StorageQuantity,
    matching,
)

KUBECONFIG_KEY = "kubeconfig"
"""Secret key (project namespace) holding a whole kubeconfig, for CI; instead of `kubeconfigPath`."""
OBJECT_STORE_SECRET_KEY = "objectStoreSecretAccessKey"  # noqa: S105 - a config key's name, not a secret
"""Secret key (project namespace) of the object store's secret access key."""

ResourceName = Annotated[
    str,
    matching(
        rf"{DNS_SUBDOMAIN}/{LABEL_NAME}",
        "must be an extended resource name <domain>/<name>, e.g. nvidia.com/gpu or amd.com/gpu",
    ),
]
StorageClassName = Annotated[str, matching(DNS_SUBDOMAIN, "must be a StorageClass name (a DNS subdomain)")]
_URL = re.compile(r"https?://(?P<host>[^/]*)(?P<path>/[!-~]*)?")
_URL_ALLOWED = "must be an http(s) URL, http(s)://<host>[:port][/path]"


def _endpoint_url(value: str) -> str:
    match = _URL.fullmatch(value)
    if not match:
        raise ValueError(_URL_ALLOWED)
    try:
        check_host(match["host"])
    except ValueError as error:
        raise ValueError(f"{_URL_ALLOWED}: {error}") from None
    return value


EndpointUrl = Annotated[str, AfterValidator(_endpoint_url)]


class Toleration(Schema):
    """A taint the cluster's GPU nodes carry, which GPU pods tolerate."""

    key: LabelKey = Field(description="Taint key, e.g. nvidia.com/gpu or sku.")
    operator: Literal["Exists", "Equal"] = Field(default="Exists", description="Exists (any value) or Equal.")
    value: LabelValue | None = Field(
        default=None, description="Taint value; required with Equal, not allowed with Exists."
    )
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(
        default="NoSchedule", description="The taint's effect."
    )

    @model_validator(mode="after")
    def _value_matches_operator(self) -> Self:
        if self.operator == "Equal" and self.value is None:
            raise ValueError("operator Equal needs a value")
        if self.operator == "Exists" and self.value is not None:
            raise ValueError("operator Exists takes no value; use Equal to match a value")
        return self


class GpuOffer(Schema):
    """How GPU pods are scheduled on this cluster (its device plugin and GPU node pool)."""

    resource_name: ResourceName = Field(
        default="nvidia.com/gpu", description="Extended resource the device plugin advertises."
    )
    node_selector: Labels = Field(
        default_factory=dict, description="Labels of the GPU nodes GPU pods select (default none)."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, description="Taints of the GPU nodes that GPU pods tolerate (default none)."
    )


class VolumeStore(Schema):
    """Model artifacts on one PersistentVolumeClaim of a storage class the cluster has."""

    storage_class: StorageClassName = Field(description="StorageClass of the claim (`kubectl get storageclass`).")
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = Field(
        description=(
            "ReadWriteMany when training and serving may run on different nodes (any multi-node cluster); "
            "ReadWriteOnce only with singleNode: true."
        )
    )
    size: StorageQuantity = Field(default="5Gi", description="Size of the claim, at least 1Mi (default 5Gi).")


class ObjectStore(Schema):
    """Model artifacts in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...)."""

    uri: Annotated[
        str,
        matching(
            r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]*[A-Za-z0-9!_.*'()-])?",
            "must be s3://<bucket>[/<prefix>], without a trailing '/'",
        ),
    ] = Field(description="Bucket and optional prefix; models live under <uri>/models/<model>.")
    endpoint: EndpointUrl | None = Field(
        default=None, description="Endpoint of an S3-compatible store (MinIO: http(s)://host:9000); omit for AWS S3."
    )
    region: Annotated[str, matching(r"[a-z0-9-]{1,32}", "must be a region name such as us-east-1")] | None = Field(
        default=None, description="Region, where the store needs one."
    )
    access_key_id: Annotated[
        str, matching(r"[A-Za-z0-9+/=_.-]{3,128}", "must be an access key id: 3-128 letters, digits or +/=_.-")
    ] = Field(description=f"Access key id; its secret key is the secret `ml-platform:{OBJECT_STORE_SECRET_KEY}`.")


class ArtifactStoreOffer(Schema):
    """Where model artifacts live: exactly one of `volume` and `objectStore`."""

    volume: VolumeStore | None = Field(
        default=None, description="A PersistentVolumeClaim (conflicts with objectStore)."
    )
    object_store: ObjectStore | None = Field(
        default=None, description="An S3-compatible store (conflicts with volume)."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.volume is None) == (self.object_store is None):
            raise ValueError("set exactly one of volume and objectStore")
        return self


class LoadBalancing(Schema):
    """Who may reach the `serviceType: LoadBalancer` model services (when serviceTypes offers it)."""

    source_cidrs: list[Cidr] = Field(
        default_factory=list,
        description=(
            "Client CIDRs a LoadBalancer Service admits: its spec.loadBalancerSourceRanges, which kube-proxy and "
            "cloud load balancers enforce. Default none: whoever reaches the load balancer's address (on a cloud, "
            'the whole internet), with a warning; ["0.0.0.0/0"] says so explicitly, with a warning too.'
        ),
    )


def _default_service_types() -> list[ServiceType]:
    return ["ClusterIP"]


class ExistingSettings(BackendSettings):
    """A cluster that already exists, reached by kubeconfig and context (clusterBackend: existing)."""

    context: Annotated[str, matching(r"\S{1,253}", "must be a kubeconfig context name")] = Field(
        description=(
            "kubeconfig context of the cluster (`kubectl config get-contexts`); required, so that a stack "
            "never deploys to whichever context happens to be current."
        )
    )
    kubeconfig_path: Annotated[str, matching(r"/\S*", "must be an absolute path")] | None = Field(
        default=None,
        description=(
            "Absolute path of the kubeconfig file. Default: $KUBECONFIG or ~/.kube/config. Conflicts with the "
            f"secret `ml-platform:{KUBECONFIG_KEY}` (a whole kubeconfig, for CI)."
        ),
    )
    single_node: StrictBool = Field(
        default=False,
        description=(
            "True: the cluster has one node (minikube, Docker Desktop, one-machine k3s), so every pod lands "
            "on it and a ReadWriteOnce volume serves them all."
        ),
    )
    create_namespace: StrictBool = Field(
        default=True,
        description=(
            "True: the stack creates the workloads' namespace (restricted Pod Security). False: it exists "
            "already (a shared cluster) and the stack creates namespaced objects only; label it restricted."
        ),
    )
    gpu: GpuOffer | None = Field(
        default=None, description="GPU scheduling the cluster offers; omit when it has no GPUs (pods run on CPU)."
    )
    artifacts: ArtifactStoreOffer = Field(description="Where model artifacts live: a volume or an object store.")
    service_types: Annotated[list[ServiceType], Field(min_length=1)] = Field(
        default_factory=_default_service_types,
        description=(
            "Service types that get an address here (default ClusterIP; LoadBalancer needs a load-balancer "
            "controller: the cloud's, MetalLB, k3s ServiceLB or `minikube tunnel`)."
        ),
    )
    load_balancer: LoadBalancing = Field(
        default_factory=LoadBalancing, description="Client CIDRs of the LoadBalancer model services."
    )

    @model_validator(mode="after")
    def _unique_service_types(self) -> Self:
        if len(set(self.service_types)) != len(self.service_types):
            raise ValueError(f"serviceTypes {self.service_types} lists a type twice")
        return self

    def required_secrets(self) -> tuple[str, ...]:
        return (OBJECT_STORE_SECRET_KEY,) if self.artifacts.object_store is not None else ()

    def offered_service_types(self) -> tuple[str, ...]:
        return tuple(self.service_types)

    def warnings(self, key: str, facts: StackFacts) -> list[Problem]:
        # A warning, not the error EKS and GKE make of missing source ranges: whether this cluster's load
        # balancer addresses face the internet (a cloud's) or a LAN (MetalLB, `minikube tunnel`) is the
        # stack's to know, not the platform's.
        sources = self.load_balancer.source_cidrs
        return load_balancer_warnings(f"{key}.loadBalancer.sourceCidrs", sources, internal=None, facts=facts)

    def problems(self, key: str, facts: StackFacts) -> list[Problem]:
        problems = []
        if self.kubeconfig_path is not None and KUBECONFIG_KEY in facts.secrets_set:
            problems.append(
                Problem(
                    f"{key}.kubeconfigPath",
                    self.kubeconfig_path,
                    f"conflicts with the secret ml-platform:{KUBECONFIG_KEY}; set one of them",
                )
            )
        volume = self.artifacts.volume
        if volume is not None and volume.access_mode == "ReadWriteOnce" and not self.single_node:
            shared = [str(count) for count in facts.pods_per_workload if count.value > 1]
            problems.append(
                Problem(
                    f"{key}.artifacts.volume.accessMode",
                    volume.access_mode,
                    "a ReadWriteOnce volume is attached to one node at a time, and on a multi-node cluster "
                    "training and serving pods may land on different nodes"
                    + (f" (so may the pods of {', '.join(shared)})" if shared else "")
                    + ": ReadWriteMany is needed, from a storage class that offers it (e.g. azurefile-csi on "
                    "AKS, an NFS provisioner); or, on a one-node cluster, set singleNode: true",
                )
            )
        return problems
