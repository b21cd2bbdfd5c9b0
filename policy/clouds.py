"""Cloud resource types the rules understand, as tables: a new cloud is a row here, not a new rule.

Each row names the Pulumi type tokens it covers and reads its facts from the resource's
properties (camelCase, as the engine passes them). Field names are those of pulumi-aws 7.x,
pulumi-eks 4.x and pulumi-gcp 10.2.0 (checked against each SDK's `@pulumi.getter` names and type
tokens). A missing property means the provider's default, which each row states.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policy.kubernetes import Taint, dig, mapping, number, sequence, taint

Props = Mapping[str, Any]
OPEN_CIDRS = ("0.0.0.0/0", "::/0")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- Address ranges ----------------------------------------------------------------------------
# A list of allowed ranges is judged as a whole: it is open when the ranges together cover at least
# half of all IPv4 addresses or half of all IPv6 addresses (0.0.0.0/0; 0.0.0.0/1 alone; 0.0.0.0/0
# less one address written as many ranges). No list of real clients comes near half the internet,
# and a line drawn at "every address" lets a list that leaves out one address pass. IPv4-mapped IPv6
# ranges (::ffff:0:0/96 and inside it) count as the IPv4 range they map: Kubernetes and the clouds
# read them with Go's net.ParseCIDR, which makes ::ffff:0.0.0.0/96 0.0.0.0/0. The program's warning
# that names these rules (components/backends/exposure.py) calls `covers_every_address` itself, so
# the warning and the rules cannot disagree.

_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def parse_range(text: Any) -> Network | None:
    """A range as Kubernetes and the clouds read it (surrounding spaces trimmed, host bits allowed,
    any spelling of the prefix: `0.0.0.0/00`, an IPv4-mapped IPv6 range as its IPv4 range); None
    when it is not an address or a CIDR."""
    try:
        network = ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_IPV4_MAPPED):
        # The low 32 bits are the IPv4 address; the prefix counts from bit 96.
        mapped = ipaddress.IPv4Address(int(network.network_address) & 0xFFFFFFFF)
        return ipaddress.IPv4Network((mapped, network.prefixlen - _IPV4_MAPPED.prefixlen))
    return network


def unparsable_ranges(cidrs: Sequence[Any]) -> list[str]:
    return [str(cidr) for cidr in cidrs if parse_range(cidr) is None]


def _open_versions(networks: Sequence[Network]) -> list[int]:
    """The IP versions (4, 6) of which the networks together cover at least half of all addresses."""
    ipv4 = ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv4Network))
    ipv6 = ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv6Network))
    covered = {4: sum(n.num_addresses for n in ipv4), 6: sum(n.num_addresses for n in ipv6)}
    return [version for version, half in ((4, 2**31), (6, 2**127)) if covered[version] >= half]


def covers_every_address(cidrs: Sequence[Any]) -> bool:
    """Whether the ranges together admit at least half of all IPv4 or of all IPv6 addresses (the
    internet, as far as a list of clients goes). The program's exposure warning asks this same
    function (the program may import the pack's pure helpers; the pack imports nothing of the program)."""
    return bool(_open_versions([network for network in map(parse_range, cidrs) if network is not None]))


def describe_open(cidrs: Sequence[Any]) -> str:
    """How ranges that cover at least half of all addresses do it: `0.0.0.0/0`, or `0.0.0.0/1,
    128.0.0.0/2 (together at least half of all IPv4 addresses)`."""
    parsed = [(str(cidr).strip(), parse_range(cidr)) for cidr in cidrs]
    for version in _open_versions([network for _, network in parsed if network is not None]):
        ranges = [(text, network) for text, network in parsed if network is not None and network.version == version]
        # An IPv4-mapped range among the IPv4 ones (::ffff:0.0.0.0/96) says what it is.
        whole = [
            f"{text} (every IPv4 address)" if ":" in text else text
            for text, network in ranges
            if network.prefixlen == 0
        ]
        if whole:
            return ", ".join(whole)
        together = "together " if len(ranges) > 1 else ""
        return f"{', '.join(text for text, _ in ranges)} ({together}at least half of all IPv{version} addresses)"
    return ", ".join(str(cidr) for cidr in cidrs)


def range_exposure(cidrs: Sequence[Any], field: str, admitted_by: str) -> str | None:
    """What is wrong with a list of allowed ranges, or None: entries that are not ranges (the cloud
    refuses or misreads them), and ranges that together admit at least half of all addresses.
    `field`: where the list is (`publicAccessCidrs`); `admitted_by`: what it opens (`the public API
    endpoint`)."""
    problems = [f"{field} entry {text!r} is not an address range (address/prefix)" for text in unparsable_ranges(cidrs)]
    if covers_every_address(cidrs):
        problems.append(f"{admitted_by} admits {describe_open(cidrs)}")
    return "; ".join(problems) or None


# --- Node pools --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NodePoolType:
    type_tokens: frozenset[str]
    is_gpu: Callable[[Props], bool]
    taints: Callable[[Props], list[Taint]]
    labels: Callable[[Props], dict[str, str]]
    """Node labels the pool declares."""
    cloud_labels: Callable[[Props], dict[str, str]]
    """Node labels the cloud adds itself (capacity type, accelerator, pool name)."""
    min_nodes: Callable[[Props], float | None]
    """Fewest nodes while idle; None when the pool is not autoscaled (fixed size)."""
    spot: Callable[[Props], bool]
    taint_fix: str
    scale_fix: str
    spot_fix: str


# EKS managed node groups (`aws.eks.NodeGroup`, and pulumi-eks's ManagedNodeGroup with the same inputs).
_EKS_GPU_AMI = re.compile(r"NVIDIA|GPU", re.IGNORECASE)
# GPU instance families: p3, p4d, p5, g4dn, g5, g5g, g6, g6e, gr6 ...
_EKS_GPU_INSTANCE = re.compile(r"^(p\d|g\d|gr\d)[a-z0-9-]*\.")


def _eks_is_gpu(props: Props) -> bool:
    return bool(_EKS_GPU_AMI.search(str(props.get("amiType") or ""))) or any(
        _EKS_GPU_INSTANCE.match(str(instance)) for instance in sequence(props.get("instanceTypes"))
    )


def _eks_taints(props: Props) -> list[Taint]:
    return [taint(t.get("key"), t.get("value"), t.get("effect")) for t in map(mapping, sequence(props.get("taints")))]


def _eks_labels(props: Props) -> dict[str, str]:
    return {str(key): str(value) for key, value in mapping(props.get("labels")).items()}


def _eks_cloud_labels(props: Props) -> dict[str, str]:
    # EKS labels every node of a managed group with its capacity type (ON_DEMAND unless set).
    return {"eks.amazonaws.com/capacityType": str(props.get("capacityType") or "ON_DEMAND")}


def _eks_min_nodes(props: Props) -> float | None:
    return number(dig(props, "scalingConfig", "minSize"))


EKS_NODE_GROUP = NodePoolType(
    type_tokens=frozenset({"aws:eks/nodeGroup:NodeGroup", "eks:index:ManagedNodeGroup"}),
    is_gpu=_eks_is_gpu,
    taints=_eks_taints,
    labels=_eks_labels,
    cloud_labels=_eks_cloud_labels,
    min_nodes=_eks_min_nodes,
    spot=lambda props: props.get("capacityType") == "SPOT",
    taint_fix="add a NO_SCHEDULE taint (taints: [{key: nvidia.com/gpu, value: 'true', effect: NO_SCHEDULE}])",
    scale_fix="set scalingConfig.minSize to 0 (ml-platform:eks gpuNodePools[].minSize: 0)",
    spot_fix="set capacityType SPOT (ml-platform:eks gpuNodePools[].capacityType: SPOT)",
)


# GKE node pools. GPUs come from guestAccelerators, or with the machine type (a2, a3, g2 families).
_GKE_GPU_MACHINE = re.compile(r"^(a2|a3|a4|g2|g4)-")


def _gke_accelerators(props: Props) -> Sequence[Any]:
    return sequence(dig(props, "nodeConfig", "guestAccelerators"))


def _gke_is_gpu(props: Props) -> bool:
    machine = str(dig(props, "nodeConfig", "machineType") or "")
    return bool(_gke_accelerators(props)) or bool(_GKE_GPU_MACHINE.match(machine))


def _gke_taints(props: Props) -> list[Taint]:
    taints = map(mapping, sequence(dig(props, "nodeConfig", "taints")))
    return [taint(t.get("key"), t.get("value"), t.get("effect")) for t in taints]


def _gke_spot(props: Props) -> bool:
    return dig(props, "nodeConfig", "spot") is True or dig(props, "nodeConfig", "preemptible") is True


def _gke_labels(props: Props) -> dict[str, str]:
    return {str(key): str(value) for key, value in mapping(dig(props, "nodeConfig", "labels")).items()}


def _gke_cloud_labels(props: Props) -> dict[str, str]:
    labels = {}
    if props.get("name"):
        labels["cloud.google.com/gke-nodepool"] = str(props["name"])
    for accelerator in map(mapping, _gke_accelerators(props)):
        if accelerator.get("type"):
            labels["cloud.google.com/gke-accelerator"] = str(accelerator["type"])
    if dig(props, "nodeConfig", "spot") is True:
        labels["cloud.google.com/gke-spot"] = "true"
    if dig(props, "nodeConfig", "preemptible") is True:
        labels["cloud.google.com/gke-preemptible"] = "true"
    return labels


def _gke_min_nodes(props: Props) -> float | None:
    autoscaling = mapping(props.get("autoscaling"))
    if not autoscaling:
        return None
    # totalMinNodeCount counts the whole pool; minNodeCount counts per zone (0 either way scales from zero).
    for key in ("totalMinNodeCount", "minNodeCount"):
        value = number(autoscaling.get(key))
        if value is not None:
            return value
    return 0.0


GKE_NODE_POOL = NodePoolType(
    type_tokens=frozenset({"gcp:container/nodePool:NodePool"}),
    is_gpu=_gke_is_gpu,
    taints=_gke_taints,
    labels=_gke_labels,
    cloud_labels=_gke_cloud_labels,
    min_nodes=_gke_min_nodes,
    spot=_gke_spot,
    taint_fix="add nodeConfig.taints [{key: nvidia.com/gpu, value: present, effect: NO_SCHEDULE}]",
    scale_fix="set autoscaling.totalMinNodeCount to 0",
    spot_fix="set nodeConfig.spot true (with autoscaling.locationPolicy ANY)",
)

NODE_POOLS: tuple[NodePoolType, ...] = (EKS_NODE_GROUP, GKE_NODE_POOL)


def node_pool_type(resource_type: str) -> NodePoolType | None:
    return next((row for row in NODE_POOLS if resource_type in row.type_tokens), None)


# --- Clusters ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ClusterType:
    type_tokens: frozenset[str]
    endpoint_exposure: Callable[[Props], str | None]
    """What is open about the Kubernetes API endpoint, or None when it is restricted."""
    endpoint_fix: str
    deletion_protection: str | None
    """The input that turns on the cloud's own deletion protection, where the cloud has one."""


def _eks_exposure(public: Any, cidrs: Any, field: str) -> str | None:
    if public is False:
        return None
    # Without publicAccessCidrs AWS admits 0.0.0.0/0.
    allowed = [str(cidr) for cidr in sequence(cidrs)] or list(OPEN_CIDRS[:1])
    return range_exposure(allowed, field, "the public API endpoint")


EKS_COMPONENT_CLUSTER = ClusterType(
    # pulumi-eks: endpointPublicAccess defaults to true, publicAccessCidrs to AWS's 0.0.0.0/0.
    type_tokens=frozenset({"eks:index:Cluster"}),
    endpoint_exposure=lambda props: _eks_exposure(
        props.get("endpointPublicAccess"), props.get("publicAccessCidrs"), "publicAccessCidrs"
    ),
    endpoint_fix=(
        "list your operators' and CI's CIDRs in publicAccessCidrs (ml-platform:eks endpoint.publicCidrs) "
        "or make the endpoint private (endpointPublicAccess false)"
    ),
    deletion_protection="deletionProtection",
)
EKS_CLUSTER = ClusterType(
    type_tokens=frozenset({"aws:eks/cluster:Cluster"}),
    endpoint_exposure=lambda props: _eks_exposure(
        dig(props, "vpcConfig", "endpointPublicAccess"),
        dig(props, "vpcConfig", "publicAccessCidrs"),
        "vpcConfig.publicAccessCidrs",
    ),
    endpoint_fix="set vpcConfig.publicAccessCidrs to your CIDRs, or vpcConfig.endpointPublicAccess false",
    deletion_protection="deletionProtection",
)


def _gke_exposure(props: Props) -> str | None:
    if dig(props, "privateClusterConfig", "enablePrivateEndpoint") is True:
        return None
    if dig(props, "controlPlaneEndpointsConfig", "ipEndpointsConfig", "enabled") is False:
        return None  # DNS endpoint only, which IAM guards
    networks = props.get("masterAuthorizedNetworksConfig")
    if not isinstance(networks, Mapping):
        return "the public API endpoint admits any address (no masterAuthorizedNetworksConfig)"
    if networks.get("gcpPublicCidrsAccessEnabled") is True:
        return "the API endpoint admits every Google Cloud public IP (gcpPublicCidrsAccessEnabled)"
    blocks = [str(dig(block, "cidrBlock")) for block in sequence(networks.get("cidrBlocks"))]
    return range_exposure(blocks, "masterAuthorizedNetworksConfig.cidrBlocks", "masterAuthorizedNetworksConfig")


GKE_CLUSTER = ClusterType(
    type_tokens=frozenset({"gcp:container/cluster:Cluster"}),
    endpoint_exposure=_gke_exposure,
    endpoint_fix=(
        "set masterAuthorizedNetworksConfig.cidrBlocks to your operators' and CI's CIDRs, "
        "or privateClusterConfig.enablePrivateEndpoint true"
    ),
    deletion_protection="deletionProtection",
)

CLUSTERS: tuple[ClusterType, ...] = (EKS_COMPONENT_CLUSTER, EKS_CLUSTER, GKE_CLUSTER)


def cluster_type(resource_type: str) -> ClusterType | None:
    return next((row for row in CLUSTERS if resource_type in row.type_tokens), None)


# --- Object stores -----------------------------------------------------------------------------

Companion = tuple[str, Props]
"""(type token, properties) of a resource that configures a bucket."""
Check = Callable[[Props, Sequence[Companion]], str | None]
"""(bucket properties, the resources that configure this bucket) -> what is wrong, or None."""


@dataclass(frozen=True, kw_only=True)
class ObjectStoreType:
    type_tokens: frozenset[str]
    companion_types: frozenset[str]
    """Separate resources that configure a bucket (AWS splits settings out of the bucket)."""
    account_types: frozenset[str]
    """Resources that configure every bucket of the account (S3's account-wide public access block)."""
    public_access: Check
    versioning: Check
    encryption: Check
    public_access_fix: str
    versioning_fix: str
    encryption_fix: str


_PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
_S3_PUBLIC_ACCESS_BLOCKS = frozenset({"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"})
_S3_VERSIONING = frozenset({"aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2"})
_S3_ENCRYPTION = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
S3_ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"


def blocks_public_access(props: Props) -> bool:
    """An S3 public access block (bucket or account) with all four settings on."""
    return all(props.get(flag) is True for flag in _PUBLIC_ACCESS_FLAGS)


def _s3_public_access(_bucket: Props, companions: Sequence[Companion]) -> str | None:
    if any(kind == S3_ACCOUNT_PUBLIC_ACCESS_BLOCK and blocks_public_access(props) for kind, props in companions):
        return None
    blocks = [props for kind, props in companions if kind in _S3_PUBLIC_ACCESS_BLOCKS]
    if not blocks:
        return "no BucketPublicAccessBlock for this bucket"
    if not any(blocks_public_access(props) for props in blocks):
        off = [flag for flag in _PUBLIC_ACCESS_FLAGS if not all(props.get(flag) is True for props in blocks)]
        return f"its BucketPublicAccessBlock leaves {', '.join(off)} off"
    return None


def _s3_versioning(bucket: Props, companions: Sequence[Companion]) -> str | None:
    if dig(bucket, "versioning", "enabled") is True:
        return None
    statuses = [dig(props, "versioningConfiguration", "status") for kind, props in companions if kind in _S3_VERSIONING]
    if "Enabled" in statuses:
        return None
    if statuses:
        return f"versioning is {', '.join(str(status) for status in statuses)}"
    return "no BucketVersioning for this bucket"


def _s3_encryption(bucket: Props, companions: Sequence[Companion]) -> str | None:
    inline = dig(bucket, "serverSideEncryptionConfiguration", "rule", "applyServerSideEncryptionByDefault")
    if mapping(inline).get("sseAlgorithm"):
        return None
    for kind, props in companions:
        if kind in _S3_ENCRYPTION:
            for rule in map(mapping, sequence(props.get("rules"))):
                if dig(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm"):
                    return None
    return "no default server-side encryption (BucketServerSideEncryptionConfiguration) for this bucket"


S3_BUCKET = ObjectStoreType(
    type_tokens=frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"}),
    companion_types=_S3_PUBLIC_ACCESS_BLOCKS | _S3_VERSIONING | _S3_ENCRYPTION,
    account_types=frozenset({S3_ACCOUNT_PUBLIC_ACCESS_BLOCK}),
    public_access=_s3_public_access,
    versioning=_s3_versioning,
    encryption=_s3_encryption,
    public_access_fix="add an aws.s3.BucketPublicAccessBlock with all four block/ignore/restrict settings true",
    versioning_fix="add an aws.s3.BucketVersioning with versioningConfiguration.status Enabled",
    encryption_fix="add an aws.s3.BucketServerSideEncryptionConfiguration (sseAlgorithm aws:kms with a key)",
)


def _gcs_public_access(bucket: Props, _companions: Sequence[Companion]) -> str | None:
    problems = []
    if bucket.get("publicAccessPrevention") != "enforced":
        problems.append(f"publicAccessPrevention is {bucket.get('publicAccessPrevention') or 'inherited (default)'}")
    if bucket.get("uniformBucketLevelAccess") is not True:
        problems.append("uniformBucketLevelAccess is off (object ACLs can make objects public)")
    return "; ".join(problems) or None


GCS_BUCKET = ObjectStoreType(
    type_tokens=frozenset({"gcp:storage/bucket:Bucket"}),
    companion_types=frozenset(),
    account_types=frozenset(),
    public_access=_gcs_public_access,
    versioning=lambda bucket, _companions: (
        None if dig(bucket, "versioning", "enabled") is True else "versioning.enabled is not true"
    ),
    # Cloud Storage encrypts every object at rest (Google-managed keys unless encryption.defaultKmsKeyName).
    encryption=lambda _bucket, _companions: None,
    public_access_fix='set publicAccessPrevention "enforced" and uniformBucketLevelAccess true',
    versioning_fix="set versioning.enabled true",
    encryption_fix="set encryption.defaultKmsKeyName for a customer-managed key",
)

OBJECT_STORES: tuple[ObjectStoreType, ...] = (S3_BUCKET, GCS_BUCKET)


def object_store_type(resource_type: str) -> ObjectStoreType | None:
    return next((row for row in OBJECT_STORES if resource_type in row.type_tokens), None)


# --- Container registries ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RegistryType:
    type_tokens: frozenset[str]
    holds_images: Callable[[Props], bool]
    """Whether this repository holds container images (Artifact Registry also holds Maven, npm, ...)."""
    immutable_tags: Callable[[Props], bool]
    immutable_fix: str
    scans_on_push: Callable[[Props], bool] | None
    """None where scanning is not a repository setting (Artifact Registry: the project's Artifact Analysis)."""
    scan_fix: str
    registry_scanning_type: str | None
    """A registry-wide scanning resource that overrides the repositories' own setting, where the cloud has one."""
    repository_url: Callable[[Props], str | None]
    """Where images of this repository live (`host/path`), when the properties say."""


ECR_REGISTRY_SCANNING = "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration"


def _ecr_url(props: Props) -> str | None:
    url = props.get("repositoryUrl")
    return str(url) if url else None


ECR_REPOSITORY = RegistryType(
    type_tokens=frozenset({"aws:ecr/repository:Repository"}),
    holds_images=lambda _props: True,
    # MUTABLE is the provider's default; *_WITH_EXCLUSION lets the excluded tags move.
    immutable_tags=lambda props: props.get("imageTagMutability") == "IMMUTABLE",
    immutable_fix='set imageTagMutability "IMMUTABLE"',
    scans_on_push=lambda props: dig(props, "imageScanningConfiguration", "scanOnPush") is True,
    scan_fix="set imageScanningConfiguration.scanOnPush true, or add an aws.ecr.RegistryScanningConfiguration",
    registry_scanning_type=ECR_REGISTRY_SCANNING,
    repository_url=_ecr_url,
)


def _artifact_registry_url(props: Props) -> str | None:
    location, project, repository = props.get("location"), props.get("project"), props.get("repositoryId")
    if location and project and repository:
        return f"{location}-docker.pkg.dev/{project}/{repository}"
    return None


ARTIFACT_REGISTRY_REPOSITORY = RegistryType(
    type_tokens=frozenset({"gcp:artifactregistry/repository:Repository"}),
    holds_images=lambda props: str(props.get("format") or "").upper() == "DOCKER",
    immutable_tags=lambda props: dig(props, "dockerConfig", "immutableTags") is True,
    immutable_fix="set dockerConfig.immutableTags true",
    scans_on_push=None,
    scan_fix="",
    registry_scanning_type=None,
    repository_url=_artifact_registry_url,
)

REGISTRIES: tuple[RegistryType, ...] = (ECR_REPOSITORY, ARTIFACT_REGISTRY_REPOSITORY)


def registry_type(resource_type: str) -> RegistryType | None:
    return next((row for row in REGISTRIES if resource_type in row.type_tokens), None)


def registry_scans_on_push(props: Props) -> bool:
    """An ECR registry-wide scanning configuration that scans on push (it overrides repository settings)."""
    return any(
        dig(rule, "scanFrequency") in ("SCAN_ON_PUSH", "CONTINUOUS_SCAN") for rule in sequence(props.get("rules"))
    )


# Images the program builds and pushes: where they go tells which repositories belong to the stack.
IMAGE_BUILDS: Mapping[str, Callable[[Props], list[str]]] = {
    "docker:index/image:Image": lambda props: [str(props["imageName"])] if props.get("imageName") else [],
    "docker-build:index:Image": lambda props: [str(tag) for tag in sequence(props.get("tags"))],
}
IMAGE_PULLS: Mapping[str, Callable[[Props], list[str]]] = {
    "docker:index/remoteImage:RemoteImage": lambda props: [str(props["name"])] if props.get("name") else [],
}


# --- Production resources ----------------------------------------------------------------------

PROTECTED_KINDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("cluster", frozenset().union(*(row.type_tokens for row in CLUSTERS))),
    ("registry", frozenset().union(*(row.type_tokens for row in REGISTRIES))),
    ("artifact store", frozenset().union(*(row.type_tokens for row in OBJECT_STORES))),
)
"""What production stacks must protect from `pulumi destroy`: losing it loses state or data."""


def deletion_protection_field(resource_type: str) -> str | None:
    row = cluster_type(resource_type)
    return row.deletion_protection if row else None


# Inputs that let a destroy delete a store's contents along with it (provider default: false).
FORCE_DELETE_FIELDS: Mapping[str, str] = {
    "aws:s3/bucket:Bucket": "forceDestroy",
    "aws:s3/bucketV2:BucketV2": "forceDestroy",
    "gcp:storage/bucket:Bucket": "forceDestroy",
    "aws:ecr/repository:Repository": "forceDelete",
}


# --- Identity ----------------------------------------------------------------------------------


def _documents(value: Any) -> list[Any]:
    return [value] if value else []


# Where each IAM resource keeps its policy documents (a JSON string, or an object).
AWS_POLICY_DOCUMENTS: Mapping[str, Callable[[Props], list[Any]]] = {
    "aws:iam/policy:Policy": lambda props: _documents(props.get("policy")),
    "aws:iam/rolePolicy:RolePolicy": lambda props: _documents(props.get("policy")),
    "aws:iam/userPolicy:UserPolicy": lambda props: _documents(props.get("policy")),
    "aws:iam/groupPolicy:GroupPolicy": lambda props: _documents(props.get("policy")),
    "aws:iam/role:Role": lambda props: [
        mapping(inline).get("policy") for inline in sequence(props.get("inlinePolicies")) if mapping(inline)
    ],
    "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy": lambda props: _documents(
        props.get("inlinePolicy")
    ),
}
# Read-only API verbs; every other action (and every wildcard that is not one of these) can write.
READ_ONLY_VERBS = ("Describe", "Get", "List", "BatchGet", "Head", "View", "Search", "Lookup", "Query", "Scan")
# AWS matches action names without regard to case (`ec2:describeinstances` is `ec2:DescribeInstances`).
_READ_ONLY_PREFIXES = tuple(verb.lower() for verb in READ_ONLY_VERBS)


def _arns(*fields: str) -> Callable[[Props], list[str]]:
    """The policy ARNs in these properties, each a string or a list of strings."""
    return lambda props: [str(arn) for field in fields for arn in _as_list(props.get(field)) if arn]


# Every resource that attaches managed policies (by ARN) to a role, user, group or permission set.
AWS_MANAGED_POLICY_ATTACHMENTS: Mapping[str, Callable[[Props], list[str]]] = {
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _arns("policyArn"),
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": _arns("policyArn"),
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": _arns("policyArn"),
    "aws:iam/policyAttachment:PolicyAttachment": _arns("policyArn"),
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive": _arns("policyArns"),
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive": _arns("policyArns"),
    "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive": _arns("policyArns"),
    "aws:iam/role:Role": _arns("managedPolicyArns"),
    "aws:ssoadmin/managedPolicyAttachment:ManagedPolicyAttachment": _arns("managedPolicyArn"),
    "aws:ssoadmin/managedPolicyAttachmentsExclusive:ManagedPolicyAttachmentsExclusive": _arns("managedPolicyArns"),
}
# AWS managed policies (account `aws`, any partition) are judged by name, since their documents are not in
# the stack. Customer-managed ones are aws.iam.Policy resources whose documents the rule reads.
_AWS_MANAGED_POLICY = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/(?P<name>.+)$")
# Names of AWS managed policies that allow writes on every resource of one service or more:
# AdministratorAccess(-*), job-function/*Administrator, PowerUserAccess, *PowerUser, IAMFullAccess, *FullAccess*.
# The ones the platform needs (AmazonEKS*, AmazonEC2ContainerRegistryPullOnly/ReadOnly, ReadOnlyAccess) do not match.
_AWS_WRITE_ALL_POLICY_NAME = re.compile(r"Administrator|PowerUser|FullAccess")


def aws_managed_policy_name(arn: str) -> str | None:
    """`AmazonS3FullAccess` for `arn:aws:iam::aws:policy/AmazonS3FullAccess` (with its path, e.g.
    `job-function/SystemAdministrator`); None for a customer-managed policy."""
    match = _AWS_MANAGED_POLICY.match(arn)
    return match.group("name") if match else None


def writes_on_everything(managed_policy_name: str) -> bool:
    return bool(_AWS_WRITE_ALL_POLICY_NAME.search(managed_policy_name.rsplit("/", 1)[-1]))


# GCP grants roles through an IAM member, binding or policy resource on each kind of resource (project,
# folder, organization, service account, bucket, repository ...): `gcp:projects/iAMMember:IAMMember`,
# `gcp:storage/bucketIAMBinding:BucketIAMBinding`, `gcp:artifactregistry/repositoryIamPolicy:RepositoryIamPolicy`.
# Not IamMemberRemove (it revokes), IamAuditConfig or IAMCustomRole (they grant nothing).
# (Invokes such as `gcp:projects/getIamPolicy:getIamPolicy` are no resources: their names start lower-case.)
_GCP_IAM_GRANT = re.compile(
    r"^gcp:(?P<module>[a-zA-Z0-9]+)/[a-zA-Z0-9]*:(?=[A-Z])[a-zA-Z0-9]*?(?:IAM|Iam)(?P<kind>Member|Binding|Policy)$"
)
# GCP's basic roles: every permission of every service on what they are granted on.
GCP_WRITE_ALL_ROLES = frozenset({"roles/owner", "roles/editor"})
# What a basic role can write, by where it is granted (folders and organizations pass grants down).
GCP_GRANT_SCOPES: Mapping[str, str] = {
    "projects": "everything in the project",
    "folder": "everything in every project of the folder",
    "organizations": "everything in every project of the organization",
    "serviceaccount": "the service account, and whatever it may do when the member acts as it",
}
GCP_DEFAULT_SCOPE = "everything on the resource it is granted on"
GCP_HIERARCHY_MODULES = frozenset({"projects", "folder", "organizations"})
"""Where a grant reaches every resource of one project or more."""

# Predefined roles that let the member grant itself roles/owner when granted on a project, folder or
# organization (granted on one service account or one resource, they reach that resource only).
GCP_IAM_ADMIN_ROLES = frozenset(
    {
        "roles/resourcemanager.projectIamAdmin",
        "roles/resourcemanager.folderIamAdmin",
        "roles/resourcemanager.folderAdmin",
        "roles/resourcemanager.organizationAdmin",
        "roles/iam.securityAdmin",
    }
)
"""They set IAM policies. Bounded by a condition that lets them grant only listed roles
(`grantable_roles`), none of them an escalation, they are accepted: GCP's way to delegate grants."""
GCP_ACT_AS_ROLES = frozenset(
    {
        "roles/iam.serviceAccountUser",
        "roles/iam.serviceAccountTokenCreator",
        "roles/iam.serviceAccountKeyAdmin",
        "roles/iam.serviceAccountAdmin",
        "roles/iam.workloadIdentityUser",
    }
)
"""They act as every service account of the project (or grant themselves that), roles/owner included
wherever an account holds it."""
GCP_ROLE_ADMIN_ROLES = frozenset({"roles/iam.roleAdmin", "roles/iam.organizationRoleAdmin"})
"""They change custom roles, so the member can add any permission to a role it holds."""
GCP_ESCALATION_ROLES = GCP_IAM_ADMIN_ROLES | GCP_ACT_AS_ROLES | GCP_ROLE_ADMIN_ROLES
# Members that mean everyone: anyone on the internet, or anyone with a Google account.
GCP_PUBLIC_MEMBERS = frozenset({"allusers", "allauthenticatedusers", "principalset://goog/public:all"})


@dataclass(frozen=True)
class GcpGrant:
    role: str
    members: list[str]
    condition: Mapping[str, Any]
    """The grant's IAM condition ({title, expression}); empty when unconditional."""


def gcp_grants(resource_type: str, props: Props) -> list[GcpGrant] | None:
    """The grants of an IAM member, binding or policy resource; None for any other resource."""
    match = _GCP_IAM_GRANT.match(resource_type)
    if match is None:
        return None
    kind = match.group("kind")
    if kind == "Member":
        members = [str(props["member"])] if props.get("member") else []
        return [GcpGrant(str(props.get("role") or ""), members, mapping(props.get("condition")))]
    if kind == "Binding":
        members = [str(member) for member in sequence(props.get("members"))]
        return [GcpGrant(str(props.get("role") or ""), members, mapping(props.get("condition")))]
    # policyData: the policy as JSON, `{"bindings": [{"role": ..., "members": [...], "condition": ...}]}`.
    bindings = map(mapping, sequence(parse_document(props.get("policyData")).get("bindings")))
    return [
        GcpGrant(
            str(binding.get("role") or ""),
            [str(member) for member in sequence(binding.get("members"))],
            mapping(binding.get("condition")),
        )
        for binding in bindings
    ]


def gcp_grant_scope(resource_type: str) -> str:
    """What a basic role granted by this IAM resource can write."""
    match = _GCP_IAM_GRANT.match(resource_type)
    return GCP_GRANT_SCOPES.get(match.group("module"), GCP_DEFAULT_SCOPE) if match else GCP_DEFAULT_SCOPE


def grants_on_projects(resource_type: str) -> bool:
    """An IAM resource of a project, folder or organization (its grants reach every resource of it)."""
    match = _GCP_IAM_GRANT.match(resource_type)
    return match is not None and match.group("module") in GCP_HIERARCHY_MODULES


# CEL, as far as the delegation condition needs: string literals (a quote, then anything but that
# quote, a backslash or a newline, then the quote), names, numbers and operators. Escapes, raw or
# triple-quoted strings and comments are not tokens, so an expression with one is not read at all.
_CEL_TOKEN = re.compile(
    r"""\s*(?:(?P<string>'[^'\\\n]*'(?!')|"[^"\\\n]*"(?!"))|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>[0-9][0-9.]*[uU]?)"""
    r"""|(?P<op>&&|\|\||==|!=|<=|>=|[-+*%<>!?:.,()\[\]{}]|/(?!/)))"""
)
_CEL_STRING_PREFIXES = ("r", "R", "b", "B")
_CEL_WIDENING = frozenset({"||", "!", "?", ":"})
"""Tokens that can turn a conjunct's bound into none: or, not, the conditional `?:`."""
# The condition GCP documents for delegating the granting of listed roles only, as tokens; "ROLES"
# stands for `[` string literals separated by commas `]`.
_GRANTABLE_ROLES_TOKENS = (
    *("api", ".", "getAttribute", "(", "'iam.googleapis.com/modifiedGrantsByRole'", ",", "[", "]", ")"),
    *(".", "hasOnly", "(", "ROLES", ")"),
)


def _cel_tokens(expression: str) -> list[str] | None:
    """The expression's tokens, string literals with their quotes (`'roles/viewer'`); None when
    something in it is not a plain token (an escape, a raw or triple-quoted string, a comment)."""
    tokens, position, end = [], 0, len(expression.rstrip())
    while position < end:
        match = _CEL_TOKEN.match(expression, position)
        if match is None or (match.group("name") in _CEL_STRING_PREFIXES and expression[match.end() :][:1] in "'\""):
            return None
        tokens.append(match.group().strip())
        position = match.end()
    return tokens


def _unwrap(tokens: list[str]) -> list[str]:
    """The tokens without parentheses around all of them (`(a && b)` -> `a && b`)."""
    while tokens[:1] == ["("] and tokens[-1:] == [")"] and _closing(tokens, 0) == len(tokens) - 1:
        tokens = tokens[1:-1]
    return tokens


def _nesting(token: str) -> int:
    return 1 if token in ("(", "[", "{") else -1 if token in (")", "]", "}") else 0


def _closing(tokens: list[str], opening: int) -> int:
    """The index of the bracket that closes the one at `opening` (-1 when it is never closed)."""
    depth = 0
    for index in range(opening, len(tokens)):
        depth += _nesting(tokens[index])
        if depth == 0:
            return index
    return -1


def _conjuncts(tokens: list[str]) -> list[list[str]]:
    """The `&&` operands of an expression with no `||`, `!` or `?:`, flattened through parentheses."""
    tokens = _unwrap(tokens)
    parts: list[list[str]] = []
    current: list[str] = []
    depth = 0
    for piece in tokens:
        depth += _nesting(piece)
        if piece == "&&" and depth == 0:
            parts.append(current)
            current = []
        else:
            current.append(piece)
    parts.append(current)
    if len(parts) == 1:
        return parts
    return [conjunct for part in parts for conjunct in _conjuncts(part)]


def _listed_roles(conjunct: list[str]) -> list[str] | None:
    """The roles of a `...modifiedGrantsByRole...hasOnly([roles])` conjunct; None for any other."""
    head, tail = _GRANTABLE_ROLES_TOKENS[: _GRANTABLE_ROLES_TOKENS.index("ROLES")], _GRANTABLE_ROLES_TOKENS[-1:]
    normalized = [token.replace('"', "'") if token[:1] == '"' else token for token in conjunct]
    if normalized[: len(head)] != list(head) or normalized[-1:] != list(tail):
        return None
    listed = conjunct[len(head) : -1]
    if listed[:1] != ["["] or listed[-1:] != ["]"]:
        return None
    items = [item for item in listed[1:-1] if item != ","]
    if any(item[:1] not in ("'", '"') for item in items) or listed[2:-1:2] != [","] * len(listed[2:-1:2]):
        return None
    return [item[1:-1] for item in items]


def grantable_roles(condition: Mapping[str, Any]) -> list[str] | None:
    """The roles an IAM-admin grant may grant under its condition: a conjunct of the expression is
    `api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([...])` with plain
    string literals only (no escapes, no concatenation), and nothing can widen it (no `||`, unary
    `!` or `?:`; parentheses and `!=` elsewhere are fine). None when the condition does not bound them."""
    tokens = _cel_tokens(str(condition.get("expression") or ""))
    if not tokens or _CEL_WIDENING & set(tokens):
        return None
    bounds = [roles for roles in map(_listed_roles, _conjuncts(tokens)) if roles is not None]
    if not bounds:
        return None
    # Every bound holds at once: only roles all of them list can be granted.
    return [role for role in bounds[0] if all(role in bound for bound in bounds[1:])]


def escalation(grant: GcpGrant) -> str | None:
    """How a grant on a project, folder or organization lets its member grant itself roles/owner, or None."""
    if grant.role in GCP_IAM_ADMIN_ROLES:
        roles = grantable_roles(grant.condition)
        if roles is not None and not set(roles) & (GCP_WRITE_ALL_ROLES | GCP_ESCALATION_ROLES):
            return None
        return "it sets IAM policies, so the member can grant itself roles/owner"
    if grant.role in GCP_ACT_AS_ROLES:
        return "the member can act as every service account there, one that holds roles/owner included"
    if grant.role in GCP_ROLE_ADMIN_ROLES:
        return "the member can add any permission to a custom role it holds"
    return None


def is_public_member(member: str) -> bool:
    return member.strip().lower() in GCP_PUBLIC_MEMBERS


def _public_entities(entities: Sequence[Any]) -> list[str]:
    return [str(entity) for entity in entities if is_public_member(str(entity))]


def _public_entity(props: Props) -> list[str]:
    return _public_entities(_documents(props.get("entity")))


def _public_role_entities(props: Props) -> list[str]:
    """`READER:allUsers` -> `allUsers`."""
    return _public_entities([str(entry).split(":", 1)[-1] for entry in sequence(props.get("roleEntities"))])


# Cloud Storage predefined ACLs that grant to allUsers or allAuthenticatedUsers (compared in any case).
GCS_PUBLIC_PREDEFINED_ACLS = frozenset({"publicread", "publicreadwrite", "authenticatedread"})


def _gcs_acl_grants(props: Props) -> list[str]:
    """Public entities in `roleEntities`, and a public `predefinedAcl` (BucketACL, ObjectACL)."""
    predefined = str(props.get("predefinedAcl") or "")
    public = [f"predefinedAcl {predefined}"] if predefined.lower() in GCS_PUBLIC_PREDEFINED_ACLS else []
    return public + _public_role_entities(props)


# S3 canned ACLs that grant to everyone (AllUsers) or to anyone with an AWS account (AuthenticatedUsers).
S3_PUBLIC_CANNED_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
S3_PUBLIC_GRANTEE_GROUPS = frozenset(
    {"http://acs.amazonaws.com/groups/global/allusers", "http://acs.amazonaws.com/groups/global/authenticatedusers"}
)


def _s3_acl_grants(props: Props) -> list[str]:
    """A public canned `acl`, and grants to the AllUsers or AuthenticatedUsers group: in `grants`
    (Bucket, BucketV2, ObjectCopy: `{type: Group, uri}`) or `accessControlPolicy.grants[].grantee`
    (BucketAcl, BucketAclV2)."""
    acl = str(props.get("acl") or "")
    public = [f"acl {acl}"] if acl.strip().lower() in S3_PUBLIC_CANNED_ACLS else []
    grantees = [*map(mapping, sequence(props.get("grants")))]
    grantees += [
        mapping(mapping(grant).get("grantee")) for grant in sequence(dig(props, "accessControlPolicy", "grants"))
    ]
    uris = [str(grantee.get("uri") or "") for grantee in grantees]
    return public + [f"grantee {uri}" for uri in uris if uri.strip().lower() in S3_PUBLIC_GRANTEE_GROUPS]


# ACL resources (and resources with ACL inputs) and the public grants in them, as they write them:
# `allUsers`, `predefinedAcl publicRead`, `acl public-read`, `grantee http://acs.amazonaws.com/groups/global/AllUsers`.
PUBLIC_ACL_GRANTS: Mapping[str, Callable[[Props], list[str]]] = {
    "gcp:storage/bucketAccessControl:BucketAccessControl": _public_entity,
    "gcp:storage/objectAccessControl:ObjectAccessControl": _public_entity,
    "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl": _public_entity,
    "gcp:storage/bucketACL:BucketACL": _gcs_acl_grants,
    "gcp:storage/defaultObjectACL:DefaultObjectACL": _public_role_entities,
    "gcp:storage/objectACL:ObjectACL": _gcs_acl_grants,
    "aws:s3/bucketAcl:BucketAcl": _s3_acl_grants,
    "aws:s3/bucketAclV2:BucketAclV2": _s3_acl_grants,
    "aws:s3/bucket:Bucket": _s3_acl_grants,
    "aws:s3/bucketV2:BucketV2": _s3_acl_grants,
    "aws:s3/bucketObject:BucketObject": _s3_acl_grants,
    "aws:s3/bucketObjectv2:BucketObjectv2": _s3_acl_grants,
    "aws:s3/objectCopy:ObjectCopy": _s3_acl_grants,
}
"""pulumi-gcp 10.2's BucketObject and DefaultObjectACL have no predefined ACL input."""

LAMBDA_PERMISSION = "aws:lambda/permission:Permission"


def lambda_permission_public(props: Props) -> str | None:
    """How a Lambda permission lets anyone invoke the function, or None: a `*` principal with no
    sourceArn, sourceAccount or principalOrgId to narrow it (with functionUrlAuthType NONE, anyone on
    the internet through the function URL)."""
    if str(props.get("principal") or "").strip() != "*":
        return None
    if any(str(props.get(field) or "").strip("*? ") for field in ("sourceArn", "sourceAccount", "principalOrgId")):
        return None
    if str(props.get("functionUrlAuthType") or "").upper() == "NONE":
        return "its function URL admits anyone on the internet (principal *, functionUrlAuthType NONE)"
    return "anyone may invoke the function (principal *, and no sourceArn, sourceAccount or principalOrgId)"


@dataclass(frozen=True, kw_only=True)
class ResourcePolicyType:
    field: str
    """The input that holds the policy document (a JSON string, or an object)."""
    noun: str
    consequence: str
    """What a statement that admits anyone lets anyone do."""


# AWS resources whose policy documents name principals (resource policies): "Principal": "*" there is anyone.
AWS_RESOURCE_POLICIES: Mapping[str, ResourcePolicyType] = {
    "aws:iam/role:Role": ResourcePolicyType(
        field="assumeRolePolicy",
        noun="the trust policy (assumeRolePolicy)",
        consequence="anyone with an AWS account can assume the role and use its permissions",
    ),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ResourcePolicyType(
        field="policy", noun="the repository policy", consequence="anyone may use the repository as it allows"
    ),
    "aws:ecr/registryPolicy:RegistryPolicy": ResourcePolicyType(
        field="policy", noun="the registry policy", consequence="anyone may use the registry as it allows"
    ),
    "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate": ResourcePolicyType(
        field="repositoryPolicy",
        noun="the template's repositoryPolicy",
        consequence="anyone may use every repository it creates as it allows",
    ),
    "aws:s3/bucketPolicy:BucketPolicy": ResourcePolicyType(
        field="policy", noun="the bucket policy", consequence="anyone may use the bucket as it allows"
    ),
    "aws:s3/bucket:Bucket": ResourcePolicyType(
        field="policy", noun="the bucket's policy", consequence="anyone may use the bucket as it allows"
    ),
    "aws:s3/bucketV2:BucketV2": ResourcePolicyType(
        field="policy", noun="the bucket's policy", consequence="anyone may use the bucket as it allows"
    ),
    "aws:kms/key:Key": ResourcePolicyType(
        field="policy", noun="the key policy", consequence="anyone may use the key as it allows"
    ),
    "aws:kms/keyPolicy:KeyPolicy": ResourcePolicyType(
        field="policy", noun="the key policy", consequence="anyone may use the key as it allows"
    ),
    "aws:secretsmanager/secretPolicy:SecretPolicy": ResourcePolicyType(
        field="policy", noun="the secret policy", consequence="anyone may use the secret as it allows"
    ),
    "aws:secretsmanager/secret:Secret": ResourcePolicyType(
        field="policy", noun="the secret's policy", consequence="anyone may use the secret as it allows"
    ),
    "aws:sns/topic:Topic": ResourcePolicyType(
        field="policy", noun="the topic policy", consequence="anyone may use the topic as it allows"
    ),
    "aws:sns/topicPolicy:TopicPolicy": ResourcePolicyType(
        field="policy", noun="the topic policy", consequence="anyone may use the topic as it allows"
    ),
    "aws:sqs/queue:Queue": ResourcePolicyType(
        field="policy", noun="the queue policy", consequence="anyone may use the queue as it allows"
    ),
    "aws:sqs/queuePolicy:QueuePolicy": ResourcePolicyType(
        field="policy", noun="the queue policy", consequence="anyone may use the queue as it allows"
    ),
}


def parse_document(document: Any) -> Mapping[str, Any]:
    if isinstance(document, Mapping):
        return document
    try:
        return mapping(json.loads(str(document)))
    except ValueError:
        return {}


def is_write_action(action: str) -> bool:
    """Anything but a read-only verb (or a wildcard within one: `ec2:Describe*`), in any case."""
    verb = action.split(":", 1)[-1].lower()
    return not verb.startswith(_READ_ONLY_PREFIXES)


def _wildcard(part: str) -> bool:
    """Matches every value of an ARN part: `*` (with `?` at most beside it)."""
    return "*" in part and not part.strip("*?")


def _reaches_every_type(resource: str) -> bool:
    """Whether an ARN pattern's resource part (or a whole pattern) matches resources of every type:
    it neither begins with literal text (`role/*`, `my-bucket*`) nor has a literal segment between
    `/` or `:` separators (`*/my-cluster/*`). So `*`, `*/*`, `*:*` and `*role/*` (anything whose path
    ends in role/...) reach every type."""
    if not resource:
        return False
    literal_start = resource[:1] not in ("*", "?")
    literal_segment = any(segment and not set(segment) & {"*", "?"} for segment in re.split(r"[/:]", resource))
    return not (literal_start or literal_segment)


def matches_every_resource(pattern: str) -> bool:
    """`*`, or an ARN pattern whose resource part names no resource (`arn:*:*:*:*:*`,
    `arn:aws:iam::*:*`, `arn:aws:s3:::*/*`, `arn:aws:iam::123456789012:*`, `arn:aws:iam::*:*role/*`):
    every resource of the service, or of every service. The region and account parts never narrow:
    an identity policy reaches its own account only, so `iam:*` on every IAM resource of the account
    is full admin whether the account is named or not. What narrows is a resource part with literal
    text before its first wildcard (`role/*`, `my-bucket/*`)."""
    if _wildcard(pattern):
        return True
    parts = pattern.split(":", 5)
    if parts[0].lower() != "arn":
        # Not an ARN: IAM matches it against whole ARNs, so a leading wildcard reaches every one.
        return _reaches_every_type(pattern)
    if len(parts) < 6:
        # A short pattern reaches the resource only through a wildcard, which then matches any resource.
        return "*" in parts[-1]
    return _reaches_every_type(parts[5])


def _everything(statement: Mapping[str, Any]) -> list[str]:
    """How a statement names every resource, as it writes it; empty when it names resources."""
    if statement.get("NotResource") is not None:
        return ['"NotResource" (every resource but those listed)']
    resources = [str(resource) for resource in _as_list(statement.get("Resource"))]
    return [f'"Resource": "{resource}"' for resource in resources if matches_every_resource(resource)]


@dataclass(frozen=True)
class WritesOnEverything:
    actions: list[str]
    resources: list[str]
    """How the statements name every resource: `"Resource": "*"`, `"Resource": "arn:aws:iam::*:*"`."""


def document_writes_on_everything(document: Any) -> WritesOnEverything:
    """Actions Allow statements grant on every resource (`*`, an ARN pattern that names none, or
    everything but a NotResource list) that can write."""
    actions: list[str] = []
    resources: list[str] = []
    for statement in map(mapping, _statements(parse_document(document))):
        everything = _everything(statement)
        if statement.get("Effect") != "Allow" or not everything:
            continue
        found = [str(action) for action in _as_list(statement.get("Action")) if is_write_action(str(action))]
        if statement.get("NotAction") is not None:
            found.insert(0, "NotAction (every action but those listed)")
        if found:
            actions += found
            resources += [resource for resource in everything if resource not in resources]
    return WritesOnEverything(actions, resources)


def write_actions_on_everything(document: Any) -> list[str]:
    return document_writes_on_everything(document).actions


# Condition keys that narrow WHO a `*` principal is: the caller's organization, account or ARN, the
# resource a service acts for, the network endpoint inside the owner's VPC, the external ID a third
# party is given, a web identity's subject. Not aws:SourceIp: an address is no identity (NAT, shared
# cloud egress), and not aws:SecureTransport, aws:UserAgent or the time: anyone can meet those.
NARROWING_CONDITION_KEYS = frozenset(
    {
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceowner",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:userid",
        "sts:externalid",
    }
)
# Operators that require a match (StringNotEquals & co admit everyone else; ...IfExists and
# ForAllValues pass when the key is absent, so they narrow nothing).
_MATCHING_OPERATORS = frozenset({"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike"})
# The audience every GitHub Actions and EKS token names for STS: it does not tell one caller from another.
_SHARED_AUDIENCE = "sts.amazonaws.com"


def _narrowing_key(key: str, values: Sequence[Any]) -> bool:
    """A condition key that names who the caller is (compared without case, as AWS does), with values
    that are not bare wildcards. A web identity's `<provider>:sub` narrows; its `:aud` narrows unless
    it is the audience every token of the provider names (`sts.amazonaws.com`)."""
    key = key.strip().lower()
    texts = [str(value).strip() for value in values]
    if not texts or any(not text.strip("*?") for text in texts):
        return False
    if key in NARROWING_CONDITION_KEYS or key.endswith(":sub"):
        return True
    return key.endswith(":aud") and _SHARED_AUDIENCE not in (text.lower() for text in texts)


def narrows_principal(condition: Any) -> bool:
    """Whether a statement's Condition admits only named callers: one matching operator
    (StringEquals, StringLike, ArnLike ..., optionally ForAnyValue:) on a key that names who the
    caller is, with a value that is not a bare wildcard. Conditions are ANDed, so one such is enough."""
    for operator, block in mapping(condition).items():
        name = str(operator).strip().lower().removeprefix("foranyvalue:")
        if name not in _MATCHING_OPERATORS:
            continue
        if any(_narrowing_key(str(key), _as_list(values)) for key, values in mapping(block).items()):
            return True
    return False


def public_statements(document: Any) -> list[str]:
    """Allow statements of a resource policy that admit anyone: a `*` principal (`"Principal": "*"`,
    `{"AWS": "*"}`, `*` in a list) or a NotPrincipal (everyone but those listed), with no Condition
    that narrows who the caller is (`narrows_principal`). Each by its Sid, or its position."""
    found = []
    for index, statement in enumerate(map(mapping, _statements(parse_document(document))), start=1):
        if statement.get("Effect") != "Allow" or narrows_principal(statement.get("Condition")):
            continue
        if statement.get("NotPrincipal") is not None or _admits_anyone(statement.get("Principal")):
            found.append(str(statement.get("Sid") or f"statement {index}"))
    return found


def _admits_anyone(principal: Any) -> bool:
    if isinstance(principal, str):
        return principal.strip() == "*"
    return any(str(value).strip() == "*" for values in mapping(principal).values() for value in _as_list(values))


def _statements(document: Mapping[str, Any]) -> Sequence[Any]:
    statement = document.get("Statement")
    return [statement] if isinstance(statement, Mapping) else sequence(statement)


def _as_list(value: Any) -> Sequence[Any]:
    if value is None:
        return ()
    return [value] if isinstance(value, str) else sequence(value)


# --- Load balancers ----------------------------------------------------------------------------

# Service annotations that make a cloud's load balancer internal (reachable from the network only).
INTERNAL_LOAD_BALANCER_ANNOTATIONS: Mapping[str, str] = {
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "networking.gke.io/load-balancer-type": "internal",
    "cloud.google.com/load-balancer-type": "internal",
    "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
}
SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"
