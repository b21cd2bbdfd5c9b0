"""The EKS stack's CI identity: GitHub's OIDC provider in the account, a read-only role for
previews and the drift check, a deploy role for `pulumi up`, and their access to the cluster.

Its outputs are the repository variables the workflows read (docs/ci.md): the preview and deploy
role ARNs. The documents (trust, permissions) are pure functions in `ci_policies`; this module
only creates the resources.

Kubernetes access: both roles get an EKS access entry. Deploy: cluster admin. Preview: EKS's view
policy (no Secrets) plus read access to the cluster-scoped objects the stack's charts create
(RBAC, priority classes, webhooks, CRDs), which `view` leaves out and a refresh reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import labels, outputs
from components.backends.eks import ci_policies
from components.backends.eks.artifacts import S3Artifacts
from components.backends.eks.ci_settings import AwsCiSettings
from components.backends.eks.cluster import CLUSTER_ADMIN_POLICY, EksCluster
from components.backends.eks.policies import STS_AUDIENCE
from components.ci import GITHUB_OIDC_ISSUER, CiSettings

CLUSTER_VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
PREVIEW_KUBERNETES_GROUP = "ml-platform:ci-preview"
PREVIEW_SESSION_SECONDS = 3600
"""The preview and drift jobs time out after 30 minutes."""
DEPLOY_SESSION_SECONDS = 7200
"""The deploy job may run 120 minutes (a new cluster, then training); the workflow asks for as long."""
# Read access `view` lacks and a refresh of the add-on charts' objects needs. Never Secrets.
PREVIEW_EXTRA_READS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("admissionregistration.k8s.io", ("mutatingwebhookconfigurations", "validatingwebhookconfigurations")),
    ("apiextensions.k8s.io", ("customresourcedefinitions",)),
    ("rbac.authorization.k8s.io", ("clusterrolebindings", "clusterroles", "rolebindings", "roles")),
    ("scheduling.k8s.io", ("priorityclasses",)),
    ("storage.k8s.io", ("csidrivers", "storageclasses")),
)


@dataclass(frozen=True, kw_only=True)
class GithubCiIdentityArgs:
    settings: AwsCiSettings
    stack: str
    """The stack's name: the default deploy environment."""
    region: str
    cluster_name: str
    """Physical EKS name: the deploy role's EKS permissions and both access entries name it."""
    kubernetes: k8s.Provider
    """The cluster's provider, for the preview role's extra read access."""
    artifact_bucket_arns: Sequence[pulumi.Input[str]] = ()
    """Buckets the deploy role may configure (never their objects)."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What must exist before the access entries (the cluster)."""


class GithubCiIdentity(pulumi.ComponentResource):
    oidc_provider_arn: pulumi.Output[str]
    preview_role_arn: pulumi.Output[str]
    deploy_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: GithubCiIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:ci_identity:GithubCiIdentity", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        tags = labels.cloud_tags("ci-identity", {"github-repository": settings.github_repository})
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        if settings.oidc_provider_arn is not None:
            self.oidc_provider_arn = pulumi.Output.from_input(settings.oidc_provider_arn)
        else:
            # No thumbprint: IAM verifies GitHub's certificate through its own trusted CAs.
            provider = aws.iam.OpenIdConnectProvider(
                f"{name}-github",
                url=GITHUB_OIDC_ISSUER,
                client_id_lists=[STS_AUDIENCE],
                tags=tags,
                opts=child,
            )
            self.oidc_provider_arn = provider.arn

        state, key = settings.state_backend(), settings.secrets_key()
        preview = self._role(
            f"{name}-preview",
            "pull-request previews and the drift check (read-only)",
            self.oidc_provider_arn.apply(lambda arn: ci_policies.github_trust_policy(arn, settings.preview_subjects())),
            PREVIEW_SESSION_SECONDS,
            account_id.apply(
                lambda account: ci_policies.preview_policy(state, key, region=args.region, account_id=account)
            ),
            tags,
        )
        deploy = self._role(
            f"{name}-deploy",
            f"deploys of stack {args.stack} from its GitHub environment",
            self.oidc_provider_arn.apply(
                lambda arn: ci_policies.github_trust_policy(arn, settings.deploy_subjects(args.stack))
            ),
            DEPLOY_SESSION_SECONDS,
            pulumi.Output.all(account_id, *args.artifact_bucket_arns).apply(
                lambda values: ci_policies.deploy_policy(
                    region=args.region,
                    account_id=values[0],
                    cluster_name=args.cluster_name,
                    artifact_bucket_arns=values[1:],
                    state=state,
                    key=key,
                )
            ),
            tags,
        )
        self.preview_role_arn = preview.arn
        self.deploy_role_arn = deploy.arn

        after_cluster = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self._cluster_access(f"{name}-deploy", args, deploy, CLUSTER_ADMIN_POLICY, (), tags, after_cluster)
        self._cluster_access(
            f"{name}-preview", args, preview, CLUSTER_VIEW_POLICY, (PREVIEW_KUBERNETES_GROUP,), tags, after_cluster
        )
        self._preview_reads(name, pulumi.ResourceOptions(parent=self, provider=args.kubernetes))
        self.register_outputs(
            {
                "oidc_provider_arn": self.oidc_provider_arn,
                "preview_role_arn": self.preview_role_arn,
                "deploy_role_arn": self.deploy_role_arn,
            }
        )

    def _role(
        self,
        name: str,
        purpose: str,
        trust: pulumi.Input[str],
        session_seconds: int,
        policy: pulumi.Input[str],
        tags: dict[str, str],
    ) -> aws.iam.Role:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            path=ci_policies.CI_PATH,
            description=f"GitHub Actions: {purpose}",
            assume_role_policy=trust,
            max_session_duration=session_seconds,
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-read-only", role=role.name, policy_arn=ci_policies.READ_ONLY_ACCESS, opts=child
        )
        aws.iam.RolePolicy(f"{name}-policy", role=role.name, policy=policy, opts=child)
        return role

    def _cluster_access(
        self,
        name: str,
        args: GithubCiIdentityArgs,
        role: aws.iam.Role,
        policy_arn: str,
        groups: Sequence[str],
        tags: dict[str, str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        entry = aws.eks.AccessEntry(
            f"{name}-access",
            cluster_name=args.cluster_name,
            principal_arn=role.arn,
            type="STANDARD",
            kubernetes_groups=list(groups) or None,
            tags=tags,
            opts=opts,
        )
        aws.eks.AccessPolicyAssociation(
            f"{name}-access-policy",
            cluster_name=args.cluster_name,
            principal_arn=role.arn,
            policy_arn=policy_arn,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[entry])),
        )

    def _preview_reads(self, name: str, opts: pulumi.ResourceOptions) -> None:
        metadata = k8s.meta.v1.ObjectMetaArgs(labels=labels.kubernetes_labels("ci-identity"))
        reader = k8s.rbac.v1.ClusterRole(
            f"{name}-preview-reader",
            metadata=metadata,
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[group], resources=list(resources), verbs=["get", "list", "watch"]
                )
                for group, resources in PREVIEW_EXTRA_READS
            ],
            opts=opts,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-preview-reader",
            metadata=metadata,
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=reader.metadata.name
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    api_group="rbac.authorization.k8s.io", kind="Group", name=PREVIEW_KUBERNETES_GROUP
                )
            ],
            opts=opts,
        )


def provision(
    ci: CiSettings,
    *,
    region: str,
    cluster_name: str,
    cluster: EksCluster,
    artifacts: S3Artifacts,
    opts: pulumi.ResourceOptions | None = None,
) -> dict[str, pulumi.Output[str]]:
    """The stack's CI identity from its `ci` section; returns the stack outputs the repository
    variables are set from (docs/ci.md)."""
    if not isinstance(ci, AwsCiSettings):
        raise TypeError(f"the EKS backend's CI identity needs AwsCiSettings, not {type(ci).__name__}")
    identity = GithubCiIdentity(
        "ci",
        GithubCiIdentityArgs(
            settings=ci,
            stack=pulumi.get_stack(),
            region=region,
            cluster_name=cluster_name,
            kubernetes=cluster.provider,
            artifact_bucket_arns=[artifacts.bucket_arn],
            depends_on=[cluster],
        ),
        opts,
    )
    return {
        outputs.CI_PREVIEW_IDENTITY: identity.preview_role_arn,
        outputs.CI_DEPLOY_IDENTITY: identity.deploy_role_arn,
        outputs.CI_OIDC_PROVIDER_ARN: identity.oidc_provider_arn,
    }
