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

from components.schema import BackendSettings, Problem, Quantity, Schema, ServiceType, StackFacts, matching

KUBECONFIG_KEY = "kubeconfig"
"""Secret key (project namespace) holding a whole kubeconfig, for CI; instead of `kubeconfigPath`."""
OBJECT_STORE_SECRET_KEY = "objectStoreSecretAccessKey"  # noqa: S105 - a config key's name, not a secret
"""Secret key (project namespace) of the object store's secret access key."""

_DNS_SUBDOMAIN = r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"({_DNS_SUBDOMAIN}/)?{_LABEL_NAME}")
_LABEL_VALUE = re.compile(rf"({_LABEL_NAME})?")


def _node_selector(value: dict[str, str]) -> dict[str, str]:
    for key, label in value.items():
        if not _LABEL_KEY.fullmatch(key):
            raise ValueError(f"{key!r} is not a Kubernetes label key")
        if not _LABEL_VALUE.fullmatch(label):
            raise ValueError(f"{label!r} (of {key!r}) is not a Kubernetes label value")
    return value


LabelKey = Annotated[str, matching(_LABEL_KEY.pattern, "must be a Kubernetes label key, e.g. nvidia.com/gpu")]
ResourceName = Annotated[
    str,
    matching(
        rf"{_DNS_SUBDOMAIN}/{_LABEL_NAME}",
        "must be an extended resource name <domain>/<name>, e.g. nvidia.com/gpu or amd.com/gpu",
    ),
]
StorageClassName = Annotated[str, matching(_DNS_SUBDOMAIN, "must be a StorageClass name (a DNS subdomain)")]


class Toleration(Schema):
    """A taint the cluster's GPU nodes carry, which GPU pods tolerate."""

    key: LabelKey = Field(description="Taint key, e.g. nvidia.com/gpu or sku.")
    operator: Literal["Exists", "Equal"] = Field(default="Exists", description="Exists (any value) or Equal.")
    value: str | None = Field(default=None, description="Taint value; required with Equal, not allowed with Exists.")
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
    node_selector: Annotated[dict[str, str], AfterValidator(_node_selector)] = Field(
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
    size: Quantity = Field(default="5Gi", description="Size of the claim (default 5Gi).")


class ObjectStore(Schema):
    """Model artifacts in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...)."""

    uri: Annotated[
        str,
        matching(
            r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]*[A-Za-z0-9!_.*'()-])?",
            "must be s3://<bucket>[/<prefix>], without a trailing '/'",
        ),
    ] = Field(description="Bucket and optional prefix; models live under <uri>/models/<model>.")
    endpoint: Annotated[str, matching(r"https?://[^\s/]+(/[^\s]*)?", "must be an http(s) URL")] | None = Field(
        default=None, description="Endpoint of an S3-compatible store (MinIO: http(s)://host:9000); omit for AWS S3."
    )
    region: Annotated[str, matching(r"[a-z0-9-]{1,32}", "must be a region name such as us-east-1")] | None = Field(
        default=None, description="Region, where the store needs one."
    )
    access_key_id: Annotated[str, matching(r"[A-Za-z0-9+/=_.-]{3,128}", "must be an access key id")] = Field(
        description=f"Access key id; its secret key is the secret `ml-platform:{OBJECT_STORE_SECRET_KEY}`."
    )


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

    @model_validator(mode="after")
    def _unique_service_types(self) -> Self:
        if len(set(self.service_types)) != len(self.service_types):
            raise ValueError(f"serviceTypes {self.service_types} lists a type twice")
        return self

    def required_secrets(self) -> tuple[str, ...]:
        return (OBJECT_STORE_SECRET_KEY,) if self.artifacts.object_store is not None else ()

    def offered_service_types(self) -> tuple[str, ...]:
        return tuple(self.service_types)

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
            shared = [f"{workload} = {pods}" for workload, pods in facts.pods_per_workload if pods > 1]
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
