"""Schema of the `ml-platform:gke` stack object (clusterBackend: gke), and of the `gcp:` provider
keys the backend reads.

Pure pydantic: no Pulumi or Google Cloud SDK import, so validating a stack stays cheap. The backend
table (`components.backends`) registers both.

Errors come out as `ml-platform:gke.<path> = <value>: <what is allowed>`, like every other key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, StrictBool, StrictInt, model_validator

from components.backends.addresses import Cidr, ipv4_network, private_cidr
from components.backends.exposure import exposure_warnings, load_balancer_problems
from components.backends.gpu_capacity import PoolCapacity, check_unique_pool_names, gpu_scheduling_problems
from components.backends.label_syntax import labels_validator
from components.schema import BackendSettings, NonNegativeInt, PositiveInt, Problem, Schema, StackFacts, matching

# GKE node pool names are at most 40 characters; Pulumi's auto-naming adds 8 to the logical name
# `cluster-gpu-<name>`, so a pool's own name stays short. It also becomes a node label value.
_POOL_NAME = r"[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?"
_CLUSTER_NAME = r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?"
_MACHINE_TYPE = r"[a-z][a-z0-9]*-[a-z0-9-]+"
_REGION = r"[a-z]+-[a-z]+[0-9]+"
_ZONE = r"[a-z]+-[a-z]+[0-9]+-[a-z]"
_PROJECT = r"[a-z][-a-z0-9]{4,28}[a-z0-9]"
# The label keys the platform (or GKE) sets on nodes; a pool may not override them.
RESERVED_LABEL_PREFIXES = ("ml-platform/", "kubernetes.io/", "k8s.io/", "cloud.google.com/", "node.kubernetes.io/")

ACCELERATOR_MACHINE_FAMILIES: Mapping[str, tuple[str, ...]] = {
    # Accelerator type -> machine-type prefixes it can be attached to (Compute Engine's GPU
    # machine families: N1 takes attachable GPUs, the accelerator-optimized A2/A3/A4/G2 come with theirs).
    "nvidia-tesla-t4": ("n1-",),
    "nvidia-tesla-p4": ("n1-",),
    "nvidia-tesla-v100": ("n1-",),
    "nvidia-tesla-p100": ("n1-",),
    "nvidia-l4": ("g2-",),
    "nvidia-tesla-a100": ("a2-highgpu-", "a2-megagpu-"),
    "nvidia-a100-80gb": ("a2-ultragpu-",),
    "nvidia-h100-80gb": ("a3-highgpu-",),
    "nvidia-h100-mega-80gb": ("a3-megagpu-",),
    "nvidia-h200-141gb": ("a3-ultragpu-",),
    "nvidia-b200": ("a4-highgpu-",),
}
"""The accelerator types a GPU pool may ask for; anything else is a config error listing these."""
# G2 machine types carry a fixed number of L4s that their name does not spell out.
_G2_GPUS = {"g2-standard-4": 1, "g2-standard-8": 1, "g2-standard-12": 1, "g2-standard-16": 1, "g2-standard-32": 1}
_G2_GPUS |= {"g2-standard-24": 2, "g2-standard-48": 4, "g2-standard-96": 8}
_N1_GPU_COUNTS = (1, 2, 4, 8)
# A2/A3/A4 names end in the GPU count: a2-highgpu-4g has 4.
_GPUS_IN_NAME = re.compile(r"-([0-9]+)g\Z")


def expected_gpu_count(machine_type: str) -> int | None:
    """GPUs an accelerator-optimized machine type comes with; None when the count is chosen (N1)."""
    if machine_type.startswith("g2-"):
        return _G2_GPUS.get(machine_type)
    match = _GPUS_IN_NAME.search(machine_type)
    return int(match.group(1)) if match and machine_type.startswith(("a2-", "a3-", "a4-")) else None


# Google's smallest subnet range is a /29.
PrivateCidr = Annotated[str, private_cidr(min_prefix=8, max_prefix=29, example="10.10.0.0/20")]
PoolName = Annotated[
    str,
    matching(_POOL_NAME, "must be 1-20 lower-case letters, digits or '-', starting and ending with a letter or digit"),
]
MachineType = Annotated[
    str, matching(_MACHINE_TYPE, "must be a Compute Engine machine type such as e2-standard-4 or g2-standard-8")
]
Zone = Annotated[str, matching(_ZONE, "must be a Compute Engine zone such as us-central1-a")]
AcceleratorType = Literal[
    "nvidia-tesla-t4",
    "nvidia-tesla-p4",
    "nvidia-tesla-v100",
    "nvidia-tesla-p100",
    "nvidia-l4",
    "nvidia-tesla-a100",
    "nvidia-a100-80gb",
    "nvidia-h100-80gb",
    "nvidia-h100-mega-80gb",
    "nvidia-h200-141gb",
    "nvidia-b200",
]
NodeLabels = Annotated[dict[str, str], labels_validator(RESERVED_LABEL_PREFIXES)]
DiskSizeGb = Annotated[StrictInt, Field(ge=20, le=65536)]


def region_of(zone: str) -> str:
    """`us-central1-a` -> `us-central1`."""
    return zone.rsplit("-", 1)[0]


def _check_sizes(min_nodes: int, max_nodes: int) -> None:
    """What every node pool's model validator checks, so errors name the pool."""
    if max_nodes < min_nodes:
        raise ValueError(f"maxNodes ({max_nodes}) must be at least minNodes ({min_nodes})")


class SystemNodePool(Schema):
    """CPU nodes for GKE's system pods and the CPU workloads (serving)."""

    machine_type: MachineType = Field(default="e2-standard-4", description="Machine type (default e2-standard-4).")
    min_nodes: PositiveInt = Field(
        default=2, description="Never below this many nodes in total; kube-dns and the metrics agents live here."
    )
    max_nodes: PositiveInt = Field(default=4, description="The autoscaler grows the pool up to this, in total.")
    zones: list[Zone] = Field(
        default_factory=list,
        description="Zones of the pool; default: the cluster's (every zone of the region for a regional cluster).",
    )
    disk_size_gb: DiskSizeGb = Field(default=50, description="Boot disk per node, GB (default 50).")

    @model_validator(mode="after")
    def _sizes(self) -> Self:
        _check_sizes(self.min_nodes, self.max_nodes)
        return self


class GpuSharing(Schema):
    """Several containers on one GPU (GKE's GPU sharing); each still asks for `nvidia.com/gpu: 1`."""

    strategy: Literal["TIME_SHARING", "MPS"] = Field(
        description="TIME_SHARING (context switching) or MPS (NVIDIA Multi-Process Service, concurrent)."
    )
    max_shared_clients_per_gpu: Annotated[StrictInt, Field(ge=2, le=48)] = Field(
        description="Containers that share one physical GPU, 2-48."
    )


class GpuNodePool(Schema):
    """One GPU node pool: tainted `nvidia.com/gpu=present:NoSchedule`, scaled from zero by GKE."""

    name: PoolName = Field(description="Unique pool name; becomes the node label `ml-platform/node-pool`.")
    machine_type: MachineType = Field(description="Machine type the accelerator is offered on (g2-standard-8 for L4).")
    accelerator_type: AcceleratorType = Field(description="GPU type, e.g. nvidia-l4 or nvidia-tesla-t4.")
    accelerator_count: PositiveInt = Field(
        default=1, description="GPUs per node; must match the machine type for A2/A3/A4/G2 machines."
    )
    zones: Annotated[list[Zone], Field(min_length=1)] = Field(
        description=(
            "Zones of the region that offer the accelerator (`gcloud compute accelerator-types list`); required, "
            "since GPU types are offered in some zones only."
        )
    )
    gpu_driver_version: Literal["DEFAULT", "LATEST"] = Field(
        default="LATEST",
        description=(
            "Driver GKE installs: LATEST (newest for the node version; the trainer's CUDA 13 build needs R580+) "
            "or DEFAULT. Never left unspecified, which on older node versions installs no driver."
        ),
    )
    gpu_sharing: GpuSharing | None = Field(default=None, description="Share each GPU between containers; default off.")
    spot: StrictBool = Field(
        default=False, description="Spot VMs: cheaper, reclaimable at any time (training resumes from checkpoints)."
    )
    min_nodes: NonNegativeInt = Field(default=0, description="Default 0: no GPU node, and no GPU bill, while idle.")
    max_nodes: PositiveInt = Field(description="Most nodes the autoscaler may start, over all the pool's zones.")
    disk_size_gb: DiskSizeGb = Field(
        default=100, description="Boot disk per node, GB (default 100: CUDA images are large)."
    )
    labels: NodeLabels = Field(
        default_factory=dict, description="Extra node labels; `ml-platform/*` and GKE's keys are reserved."
    )

    @model_validator(mode="after")
    def _accelerator_fits_the_machine(self) -> Self:
        _check_sizes(self.min_nodes, self.max_nodes)
        families = ACCELERATOR_MACHINE_FAMILIES[self.accelerator_type]
        if not self.machine_type.startswith(families):
            raise ValueError(
                f"machineType {self.machine_type} cannot carry {self.accelerator_type}; "
                f"use a machine type starting with {' or '.join(families)}"
            )
        expected = expected_gpu_count(self.machine_type)
        if expected is not None and expected != self.accelerator_count:
            raise ValueError(
                f"acceleratorCount ({self.accelerator_count}) must be {expected}: {self.machine_type} "
                f"comes with {expected} GPU(s)"
            )
        if expected is None and self.accelerator_count not in _N1_GPU_COUNTS:
            raise ValueError(
                f"acceleratorCount ({self.accelerator_count}) must be one of "
                + ", ".join(str(count) for count in _N1_GPU_COUNTS)
            )
        if len({region_of(zone) for zone in self.zones}) > 1:
            raise ValueError(f"zones {self.zones} must all be in one region")
        return self


class EndpointAccess(Schema):
    """Who may reach the Kubernetes API server (master authorized networks)."""

    public: StrictBool = Field(
        default=True,
        description="False: the private endpoint only (reach it from the VPC, a VPN or a bastion).",
    )
    authorized_networks: Annotated[list[Cidr], Field(min_length=1)] = Field(
        description=(
            "CIDRs allowed on the API server (the public endpoint, and the private one too: enforced on both). "
            "No open default; 0.0.0.0/0 is accepted with a warning."
        )
    )


class LoadBalancing(Schema):
    """Load balancers of `serviceType: LoadBalancer` model services."""

    internal: StrictBool = Field(
        default=False, description="True: an internal passthrough Network Load Balancer, reachable from the VPC only."
    )
    source_cidrs: list[Cidr] = Field(
        default_factory=list,
        description=(
            "Client CIDRs the load balancer admits; required when a model is served as LoadBalancer (no open "
            'default: ["0.0.0.0/0"] says so explicitly, with a warning).'
        ),
    )


class NetworkRanges(Schema):
    """The VPC-native subnet: nodes on its primary range, pods and Services on two secondary ranges;
    each inside a private block (`addresses.PRIVATE_RANGES`) and none overlapping another."""

    nodes_cidr: PrivateCidr = Field(default="10.10.0.0/20", description="Primary range: node addresses (4,096).")
    pods_cidr: PrivateCidr = Field(
        default="10.16.0.0/14", description="Secondary range for pods: a /24 per node, so /14 holds 1,024 nodes."
    )
    services_cidr: PrivateCidr = Field(default="10.20.0.0/20", description="Secondary range for Service IPs.")

    @model_validator(mode="after")
    def _disjoint(self) -> Self:
        ranges = {"nodesCidr": self.nodes_cidr, "podsCidr": self.pods_cidr, "servicesCidr": self.services_cidr}
        networks = {key: ipv4_network(value) for key, value in ranges.items()}
        keys = list(networks)
        for index, first in enumerate(keys):
            for second in keys[index + 1 :]:
                if networks[first].overlaps(networks[second]):
                    raise ValueError(f"{first} ({ranges[first]}) and {second} ({ranges[second]}) must not overlap")
        return self


class RegistrySettings(Schema):
    """The Artifact Registry Docker repository of the stack's images."""

    images_kept: Annotated[StrictInt, Field(ge=1, le=1000)] = Field(
        default=30, description="Newest versions kept per image (older ones are deleted); pods run by digest."
    )
    untagged_expiry_days: Annotated[StrictInt, Field(ge=1, le=365)] = Field(
        default=1, description="Untagged versions (superseded or failed pushes) are deleted after this many days."
    )
    vulnerability_scanning: StrictBool = Field(
        default=True,
        description=(
            "Scan pushed images (needs the Container Scanning API; billed per image). False: scanning disabled "
            "for this repository."
        ),
    )


class GkeSettings(BackendSettings):
    """The GKE Standard cluster, its network, node pools and registry (clusterBackend: gke)."""

    cluster_name: Annotated[str, matching(_CLUSTER_NAME, "must be 1-40 lower-case letters, digits or '-'")] | None = (
        Field(default=None, description="GKE cluster name (`gcloud container clusters` uses it); default: ml-<stack>.")
    )
    zone: Zone | None = Field(
        default=None,
        description=(
            "A zonal cluster in this zone (one control-plane replica, cheaper nodes count); default: a regional "
            "cluster in gcp:region, its control plane replicated over the region's zones."
        ),
    )
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = Field(
        default="REGULAR", description="GKE release channel: how soon control plane and nodes get new versions."
    )
    network: NetworkRanges = Field(default_factory=NetworkRanges, description="Address ranges of the subnet.")
    endpoint: EndpointAccess = Field(description="API server access; there is no open default.")
    system_node_pool: SystemNodePool = Field(default_factory=SystemNodePool, description="The CPU system node pool.")
    gpu_node_pools: list[GpuNodePool] = Field(
        default_factory=list, description="GPU node pools; none: GPU workloads run on CPU with a warning."
    )
    load_balancer: LoadBalancing = Field(
        default_factory=LoadBalancing, description="Load balancers of LoadBalancer services."
    )
    registry: RegistrySettings = Field(
        default_factory=RegistrySettings, description="The Artifact Registry repository of the stack's images."
    )
    protect: StrictBool = Field(
        default=True,
        description=(
            "Protect the cluster (and set its deletion protection), the repository and the bucket from "
            "`pulumi destroy` (false: throwaway stacks)."
        ),
    )

    @model_validator(mode="after")
    def _unique_pools(self) -> Self:
        check_unique_pool_names([pool.name for pool in self.gpu_node_pools])
        return self

    def problems(self, key: str, facts: StackFacts) -> list[Problem]:
        pools = [
            PoolCapacity(
                pool.name,
                pool.accelerator_count,
                pool.max_nodes,
                pool.gpu_sharing.max_shared_clients_per_gpu if pool.gpu_sharing is not None else 1,
            )
            for pool in self.gpu_node_pools
        ]
        return [
            *self._zone_problems(key, facts),
            *gpu_scheduling_problems(pools, key, facts, gpus_field="acceleratorCount", nodes_field="maxNodes"),
            *load_balancer_problems(f"{key}.loadBalancer.sourceCidrs", self.load_balancer.source_cidrs, facts),
        ]

    def warnings(self, key: str, facts: StackFacts) -> list[Problem]:
        return exposure_warnings(
            endpoint_key=f"{key}.endpoint.authorizedNetworks",
            endpoint_public=self.endpoint.public,
            endpoint_cidrs=self.endpoint.authorized_networks,
            sources_key=f"{key}.loadBalancer.sourceCidrs",
            source_cidrs=self.load_balancer.source_cidrs,
            internal=self.load_balancer.internal,
            facts=facts,
        )

    def _zone_problems(self, key: str, facts: StackFacts) -> list[Problem]:
        """Every zone the stack names must be in gcp:region (the provider keys are checked first)."""
        if not isinstance(facts.provider, GcpProvider):
            return []
        region = facts.provider.region
        named: list[tuple[str, str]] = [(f"{key}.zone", self.zone)] if self.zone else []
        named += [(f"{key}.systemNodePool.zones", zone) for zone in self.system_node_pool.zones]
        for index, pool in enumerate(self.gpu_node_pools):
            named += [(f"{key}.gpuNodePools[{index}].zones", zone) for zone in pool.zones]
        return [
            Problem(path, zone, f"must be a zone of gcp:region {region} ({region}-a, {region}-b, ...)")
            for path, zone in named
            if region_of(zone) != region
        ]


class GcpProvider(Schema):
    """The `gcp:` provider keys the GKE backend reads; the provider's others (`gcp:credentials`,
    `gcp:impersonateServiceAccount`, ...) are the Google provider's to check."""

    model_config = ConfigDict(extra="ignore")

    project: Annotated[
        str,
        matching(_PROJECT, "must be a Google Cloud project ID: 6-30 lower-case letters, digits or '-'"),
    ] = Field(description="Project of every resource of the stack; also names the Workload Identity pool.")
    region: Annotated[str, matching(_REGION, "must be a Google Cloud region such as us-central1")] = Field(
        description="Region of the network, the cluster (unless zonal), the registry and the bucket."
    )
