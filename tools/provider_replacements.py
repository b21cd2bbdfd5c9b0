"""Inputs whose change makes the provider replace a resource instead of updating it in place.

The offline preview (tools/render_diff.py) has no provider to ask, so it flags a replacement when
a changed input matches a row here, for the resource types the stacks use. Each row names the
provider source it was read from; a provider upgrade can change these, so the preview calls its
answer an approximation and a real `pulumi preview` decides.

Patterns use Pulumi's property paths: `a.b` matches `a.b` and anything below it, `[*]` any list
index. Paths are the Pulumi (camelCase) names of the inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

# Where each group of rows was read (the file that declares the property ForceNew / replaceOnChanges).
KUBERNETES_SOURCE = (
    "pulumi/pulumi-kubernetes provider/pkg/provider/diff.go (forceNewProperties; commit cafe8c4a, "
    "provider v4 with the default enableConfigMapMutable=false)"
)
AWS_EKS_SOURCE = "hashicorp/terraform-provider-aws internal/service/eks/node_group.go (ForceNew; bridged by pulumi-aws)"
AWS_S3_SOURCE = "hashicorp/terraform-provider-aws internal/service/s3/bucket.go (ForceNew; bridged by pulumi-aws)"
AWS_ECR_SOURCE = "hashicorp/terraform-provider-aws internal/service/ecr/repository.go (ForceNew; bridged by pulumi-aws)"
GCP_NODE_POOL_SOURCE = (
    "hashicorp/terraform-provider-google google/services/container/resource_container_node_pool.go and "
    "node_config.go (ForceNew; bridged by pulumi-gcp)"
)
GCP_BUCKET_SOURCE = (
    "hashicorp/terraform-provider-google google/services/storage/resource_storage_bucket.go "
    "(ForceNew; bridged by pulumi-gcp)"
)
GCP_IAM_MEMBER_SOURCE = (
    "hashicorp/terraform-provider-google google/tpgiamresource/resource_iam_member.go (IamMemberBaseSchema: "
    "role, member and condition ForceNew) and each resource's IamSchema (its parent ForceNew; bridged by pulumi-gcp)"
)
AWS_IAM_SOURCE = (
    "hashicorp/terraform-provider-aws internal/service/iam/role_policy_attachment.go (role, policy_arn ForceNew; "
    "bridged by pulumi-aws)"
)
COMMAND_SOURCE = 'pulumi/pulumi-command common.ResourceInputs (Triggers `provider:"replaceOnChanges"`)'


@dataclass(frozen=True)
class Rule:
    type: str
    """Pulumi type token, e.g. `aws:eks/nodeGroup:NodeGroup`; `kubernetes:*` matches every Kubernetes kind."""
    paths: tuple[str, ...]
    source: str


_K8S_SELECTOR = ("spec.selector",)
_K8S_CONTAINER_FIELDS = (
    "args",
    "command",
    "env",
    "image",
    "imagePullPolicy",
    "lifecycle",
    "livenessProbe",
    "ports",
    "readinessProbe",
    "resources",
    "securityContext",
    "stdin",
    "stdinOnce",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "tty",
    "volumeDevices",
    "volumeMounts",
    "workingDir",
)

RULES: tuple[Rule, ...] = (
    # Kubernetes: every object is replaced when its name or namespace changes.
    Rule("kubernetes:*", ("metadata.name", "metadata.namespace"), KUBERNETES_SOURCE),
    Rule(
        "kubernetes:batch/v1:Job",
        ("spec.completions", "spec.parallelism", "spec.template", *_K8S_SELECTOR),
        KUBERNETES_SOURCE,
    ),
    Rule("kubernetes:apps/v1:Deployment", _K8S_SELECTOR, KUBERNETES_SOURCE),
    Rule("kubernetes:apps/v1:DaemonSet", _K8S_SELECTOR, KUBERNETES_SOURCE),
    Rule(
        "kubernetes:apps/v1:StatefulSet",
        (
            "spec.podManagementPolicy",
            "spec.revisionHistoryLimit",
            "spec.serviceName",
            "spec.volumeClaimTemplates",
            *_K8S_SELECTOR,
        ),
        KUBERNETES_SOURCE,
    ),
    # Only clusterIP: a Service's `type` changes in place.
    Rule("kubernetes:core/v1:Service", ("spec.clusterIP",), KUBERNETES_SOURCE),
    Rule(
        "kubernetes:core/v1:PersistentVolumeClaim",
        ("spec.accessModes", "spec.storageClassName", "spec.volumeName", *_K8S_SELECTOR),
        KUBERNETES_SOURCE,
    ),
    Rule("kubernetes:core/v1:ConfigMap", ("data", "binaryData"), KUBERNETES_SOURCE),
    Rule("kubernetes:core/v1:Secret", ("type", "data", "stringData"), KUBERNETES_SOURCE),
    Rule(
        "kubernetes:core/v1:Pod",
        (
            "spec.affinity",
            "spec.automountServiceAccountToken",
            "spec.nodeSelector",
            "spec.securityContext",
            "spec.serviceAccountName",
            "spec.volumes",
            *(f"spec.containers[*].{field}" for field in _K8S_CONTAINER_FIELDS),
        ),
        KUBERNETES_SOURCE,
    ),
    Rule("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", ("roleRef",), KUBERNETES_SOURCE),
    Rule("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", ("roleRef",), KUBERNETES_SOURCE),
    Rule("kubernetes:storage.k8s.io/v1:StorageClass", ("parameters", "provisioner"), KUBERNETES_SOURCE),
    # AWS (prod-eks).
    Rule(
        "aws:eks/nodeGroup:NodeGroup",
        (
            "amiType",
            "capacityType",
            "clusterName",
            "diskSize",
            "instanceTypes",
            "launchTemplate.id",
            "launchTemplate.name",
            "nodeGroupName",
            "nodeGroupNamePrefix",
            "nodeRoleArn",
            "remoteAccess",
            "subnetIds",
        ),
        AWS_EKS_SOURCE,
    ),
    Rule("aws:s3/bucket:Bucket", ("bucket", "bucketPrefix"), AWS_S3_SOURCE),
    Rule("aws:s3/bucketV2:BucketV2", ("bucket", "bucketPrefix"), AWS_S3_SOURCE),
    Rule(
        "aws:ecr/repository:Repository",
        ("name", "encryptionConfigurations"),
        AWS_ECR_SOURCE,
    ),
    # GCP (prod-gke).
    Rule(
        "gcp:container/nodePool:NodePool",
        (
            "cluster",
            "location",
            "project",
            "initialNodeCount",
            "maxPodsPerNode",
            "placementPolicy",
            "queuedProvisioning",
            "nodeConfig.guestAccelerators",
            "nodeConfig.localSsdCount",
            "nodeConfig.metadata",
            "nodeConfig.minCpuPlatform",
            "nodeConfig.oauthScopes",
            "nodeConfig.preemptible",
            "nodeConfig.spot",
            "nodeConfig.serviceAccount",
            "nodeConfig.shieldedInstanceConfig",
            "nodeConfig.reservationAffinity",
            "nodeConfig.gvnic",
        ),
        GCP_NODE_POOL_SOURCE,
    ),
    Rule("gcp:storage/bucket:Bucket", ("name", "location", "project"), GCP_BUCKET_SOURCE),
    # An IAM member is one (parent, role, member, condition): any other grant is another resource.
    *(
        Rule(type_token, ("role", "member", "condition", *parent), GCP_IAM_MEMBER_SOURCE)
        for type_token, parent in (
            ("gcp:storage/bucketIAMMember:BucketIAMMember", ("bucket",)),
            ("gcp:projects/iAMMember:IAMMember", ("project",)),
            ("gcp:serviceaccount/iAMMember:IAMMember", ("serviceAccountId",)),
            ("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember", ("repository", "location", "project")),
            ("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", ("cryptoKeyId",)),
        )
    ),
    Rule("aws:iam/rolePolicyAttachment:RolePolicyAttachment", ("role", "policyArn"), AWS_IAM_SOURCE),
    # pulumi-command: the kind cluster is recreated when its config (a trigger) changes.
    Rule("command:local:Command", ("triggers",), COMMAND_SOURCE),
)


def _type_matches(pattern: str, type_token: str) -> bool:
    return pattern == type_token or (pattern.endswith(":*") and type_token.startswith(pattern[:-1]))


def rules_for(type_token: str) -> tuple[Rule, ...]:
    return tuple(rule for rule in RULES if _type_matches(rule.type, type_token))
