"""Model artifacts in S3: a hardened bucket, and per-workload IAM roles for service accounts (IRSA).

Why IRSA rather than EKS Pod Identity: IRSA needs nothing running on the nodes (Pod Identity needs
its agent add-on, a host-network DaemonSet), its trust is visible in the role itself, and every AWS
SDK, s3fs included, reads the web-identity token the EKS webhook injects.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import labels
from components.backends.eks import policies as eks_policies
from components.contracts.artifacts import ArtifactAccess, ArtifactAccessMode
from components.contracts.service_account import workload_service_account

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
# Old object versions are kept for recovery, then expire.
NONCURRENT_VERSION_DAYS = 30


@dataclass(frozen=True, kw_only=True)
class S3ArtifactsArgs:
    protect: bool = True
    """Protect the bucket from `pulumi destroy` (and from deletion while it holds objects)."""


class S3Artifacts(pulumi.ComponentResource):
    """The bucket and its encryption key."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: S3ArtifactsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:cluster:S3Artifacts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        protected = pulumi.ResourceOptions(parent=self, protect=args.protect)
        tags = labels.cloud_tags("artifacts")

        key = aws.kms.Key(
            f"{name}-key",
            description="ml-platform model artifacts",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            opts=protected,
        )
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            # Never delete trained models with the stack; `protect` guards the bucket itself.
            force_destroy=False,
            tags=tags,
            opts=protected,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            # ACLs disabled: access is decided by IAM policies alone.
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key.arn
                    ),
                    # One data key per bucket rather than per object: far fewer KMS calls.
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-old-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=NONCURRENT_VERSION_DAYS
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                )
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=bucket.arn.apply(eks_policies.tls_only_bucket_policy),
            opts=child,
        )

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.kms_key_arn = key.arn
        self.register_outputs(
            {"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn, "kms_key_arn": self.kms_key_arn}
        )


class S3ArtifactStore:
    """The `ArtifactStore` of EKS: each grant is one IAM role, trusted by the cluster's OIDC provider
    for exactly one service account, with a policy limited to one model's prefix."""

    def __init__(
        self,
        *,
        artifacts: S3Artifacts,
        region: str,
        namespace: pulumi.Input[str],
        oidc_provider_arn: pulumi.Input[str],
        oidc_issuer: pulumi.Input[str],
    ):
        self._artifacts = artifacts
        self._region = region
        self._namespace = namespace
        self._oidc_provider_arn = oidc_provider_arn
        self._oidc_issuer = oidc_issuer

    def grant(self, name: str, model: str, mode: ArtifactAccessMode, opts: pulumi.ResourceOptions) -> ArtifactAccess:
        writable = mode is ArtifactAccessMode.READ_WRITE
        # The caller's opts carry the Kubernetes provider; AWS resources only share its parent.
        on_aws = pulumi.ResourceOptions(parent=opts.parent)
        tags = labels.cloud_tags("identity", {"model": model, "access": mode.value})
        # The trust policy names the account, so the account's name is fixed (unique per workload).
        account_name = name

        role = aws.iam.Role(
            f"{name}-role",
            description=f"ml-platform {name}: {mode.value} access to model {model}",
            assume_role_policy=pulumi.Output.all(self._oidc_provider_arn, self._oidc_issuer, self._namespace).apply(
                lambda values: eks_policies.irsa_trust_policy(values[0], values[1], values[2], account_name)
            ),
            tags=tags,
            opts=on_aws,
        )
        policy = aws.iam.Policy(
            f"{name}-policy",
            description=f"ml-platform {name}: {mode.value} on s3 prefix {eks_policies.model_scope(model)}",
            policy=pulumi.Output.all(self._artifacts.bucket_arn, self._artifacts.kms_key_arn).apply(
                lambda values: eks_policies.artifact_policy(values[0], values[1], model, writable)
            ),
            tags=tags,
            opts=on_aws,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-policy-attachment", role=role.name, policy_arn=policy.arn, opts=on_aws
        )
        account = workload_service_account(
            name, model, self._namespace, opts, annotations={ROLE_ARN_ANNOTATION: role.arn}, account_name=account_name
        )
        return ArtifactAccess(
            model_root_uri=pulumi.Output.concat(
                "s3://", self._artifacts.bucket_name, "/", eks_policies.model_prefix(model)
            ),
            service_account_name=account.metadata.name,
            env=[
                k8s.core.v1.EnvVarArgs(name="AWS_REGION", value=self._region),
                k8s.core.v1.EnvVarArgs(name="AWS_DEFAULT_REGION", value=self._region),
            ],
            depends_on=[attachment],
        )
