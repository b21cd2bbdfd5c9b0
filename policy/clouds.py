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
# A list of allowed ranges is judged as a whole: it is open when the ranges together cover every
# IPv4 address or every IPv6 address (0.0.0.0/0, or 0.0.0.0/1 with 128.0.0.0/1, ...). Ranges that
# leave a gap, however wide (0.0.0.0/1 alone), are listed clients and pass: the config layer's
# `components.schema.covers_whole_internet` draws the same line for the warning that names these
# rules, and tests/test_policy_rules.py holds the two to the same answers.


def parse_range(text: Any) -> Network | None:
    """A range as Kubernetes and the clouds read it (surrounding spaces trimmed, host bits allowed,
    any spelling of the prefix: `0.0.0.0/00`); None when it is not an address or a CIDR."""
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        return None


def unparsable_ranges(cidrs: Sequence[Any]) -> list[str]:
    return [str(cidr) for cidr in cidrs if parse_range(cidr) is None]


def _whole_space(networks: Sequence[Network]) -> bool:
    ipv4 = [network for network in networks if isinstance(network, ipaddress.IPv4Network)]
    ipv6 = [network for network in networks if isinstance(network, ipaddress.IPv6Network)]
    collapsed: list[Network] = [*ipaddress.collapse_addresses(ipv4), *ipaddress.collapse_addresses(ipv6)]
    return any(network.prefixlen == 0 for network in collapsed)


def covers_every_address(cidrs: Sequence[Any]) -> bool:
    """Whether the ranges together admit every IPv4 or every IPv6 address. The config layer's
    `components.schema.covers_whole_internet` answers the same for IPv4 (the pack cannot import it)."""
    return _whole_space([network for network in map(parse_range, cidrs) if network is not None])


def describe_open(cidrs: Sequence[Any]) -> str:
    """How ranges that cover every address do it: `0.0.0.0/0`, or `0.0.0.0/1, 128.0.0.0/1 (together
    every IPv4 address)`."""
    parsed = [(str(cidr).strip(), parse_range(cidr)) for cidr in cidrs]
    for version in (4, 6):
        ranges = [(text, network) for text, network in parsed if network is not None and network.version == version]
        if not _whole_space([network for _, network in ranges]):
            continue
        whole = [text for text, network in ranges if network.prefixlen == 0]
        if whole:
            return ", ".join(whole)
        return f"{', '.join(text for text, _ in ranges)} (together every IPv{version} address)"
    return ", ".join(str(cidr) for cidr in cidrs)


def range_exposure(cidrs: Sequence[Any], field: str, admitted_by: str) -> str | None:
    """What is wrong with a list of allowed ranges, or None: entries that are not ranges (the cloud
    refuses or misreads them), and ranges that together admit every address. `field`: where the
    list is (`publicAccessCidrs`); `admitted_by`: what it opens (`the public API endpoint`)."""
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


# `api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([...])`: the condition
# GCP documents for delegating the granting of listed roles only.
_GRANTABLE_ROLES = re.compile(
    r"""api\.getAttribute\(\s*['"]iam\.googleapis\.com/modifiedGrantsByRole['"]\s*,\s*\[\s*\]\s*\)"""
    r"""\s*\.hasOnly\(\s*\[(?P<roles>[^\]]*)\]\s*\)"""
)


def grantable_roles(condition: Mapping[str, Any]) -> list[str] | None:
    """The roles an IAM-admin grant may grant under its condition: one conjunct of the expression is
    `...modifiedGrantsByRole...hasOnly([roles])` and nothing can widen it (no `||`, `!` or `?:`).
    None when the condition does not bound them."""
    expression = str(condition.get("expression") or "")
    if not expression or any(widening in expression for widening in ("||", "!", "?")):
        return None
    for conjunct in expression.split("&&"):
        match = _GRANTABLE_ROLES.fullmatch(conjunct.strip())
        if match:
            return re.findall(r"""['"]([^'"]+)['"]""", match.group("roles"))
    return None


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


def _role_entities(props: Props) -> list[str]:
    """`READER:allUsers` -> `allUsers`."""
    return [str(entry).split(":", 1)[-1] for entry in sequence(props.get("roleEntities"))]


# Cloud Storage ACL resources and the entities they grant to (`allUsers`, `user-...`).
GCS_ACL_ENTITIES: Mapping[str, Callable[[Props], list[str]]] = {
    "gcp:storage/bucketAccessControl:BucketAccessControl": lambda props: _documents(props.get("entity")),
    "gcp:storage/objectAccessControl:ObjectAccessControl": lambda props: _documents(props.get("entity")),
    "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl": lambda props: _documents(props.get("entity")),
    "gcp:storage/bucketACL:BucketACL": _role_entities,
    "gcp:storage/defaultObjectACL:DefaultObjectACL": _role_entities,
    "gcp:storage/objectACL:ObjectACL": _role_entities,
}


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


def matches_every_resource(pattern: str) -> bool:
    """`*`, or an ARN pattern that names no resource: every part after the service is a wildcard or
    empty (`arn:*:*:*:*:*`, `arn:aws:iam::*:*`, `arn:aws:s3:::*`, `arn:aws:s3:::*/*`): every resource of
    the service, or of every service. Empty region and account parts count as wildcards (IAM's and
    S3's resources have none). A named region or account narrows to the stack's own account
    (`arn:aws:ec2:us-west-2:123456789012:*`), and a resource type names resources (`role/*`)."""
    if _wildcard(pattern):
        return True
    parts = pattern.split(":", 5)
    if parts[0].lower() != "arn" or len(parts) < 2:
        return False
    if len(parts) < 6:
        # A short pattern reaches the missing parts only through a final wildcard.
        return _wildcard(parts[-1]) and all(_wildcard(part) or not part for part in parts[3:])
    region, account, resource = parts[3:]
    return all(_wildcard(part) or not part for part in (region, account)) and all(
        _wildcard(part) for part in re.split(r"[/:]", resource)
    )


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


def public_statements(document: Any) -> list[str]:
    """Allow statements of a resource policy that admit anyone: a `*` principal (`"Principal": "*"`,
    `{"AWS": "*"}`, `*` in a list) or a NotPrincipal (everyone but those listed), with no Condition.
    Each by its Sid, or its position."""
    found = []
    for index, statement in enumerate(map(mapping, _statements(parse_document(document))), start=1):
        if statement.get("Effect") != "Allow" or mapping(statement.get("Condition")):
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
