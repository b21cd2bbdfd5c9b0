"""The GKE stack's CI identity: a workload identity pool with GitHub's OIDC provider, accepting only
tokens of one repository, and two service accounts, read-only (previews, drift check) and deploy,
that only the intended jobs of that repository may impersonate.

The GKE backend's `provision` calls `provision` below when the stack has a `ci` section; its
outputs are the repository variables the workflows read: the provider's full name and the emails.

Who may impersonate what is decided twice, so that neither alone is a single point of failure:
1. the provider's attribute condition refuses every token whose `repository` is not the one
   configured (other repositories, forks, look-alike names);
2. each service account's `roles/iam.workloadIdentityUser` goes only to principal sets filtered on
   the repository *and* the job: the preview account to the repository's `pull_request` events
   (not `pull_request_target`, which runs with a fork's input) and to its deploy branch (drift
   check); the deploy account to jobs in an allowed environment *on the deploy branch* (stricter
   than AWS, where only the `sub` claim can be checked and the environment's branch rule does this).

The deploy account holds no service-account role on the project (the policy pack's
`iam-no-write-on-all-resources`: there it would act as every account of the project). It needs none:
`pulumi up` creates no Google service account after the first, administrator's run (workloads reach
the bucket as their Kubernetes service accounts, `artifacts.py`), and the one account it must act
as, the nodes', grants it `roles/iam.serviceAccountUser` on that account only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from components import outputs
from components.backends.gke.ci_settings import GcpCiSettings, check_subjects
from components.backends.gke.iam import WORKLOAD_IDENTITY_USER, list_prefix_condition, object_prefix_condition
from components.backends.gke.node_pools import NODE_ROLE
from components.ci import GITHUB_OIDC_ISSUER, CiSettings, SecretsKey, StateBackend

PROVIDER_ID = "github"
PREVIEW_ROLES = ("roles/iam.securityReviewer", "roles/viewer")
"""Read the configuration of everything, IAM policies included (a refresh reads them); no object data."""
DEPLOY_ROLES = (
    "roles/artifactregistry.admin",
    "roles/compute.networkAdmin",
    "roles/container.admin",
    "roles/serviceusage.serviceUsageConsumer",
    "roles/storage.admin",
    "roles/viewer",
)
"""What `pulumi up` of the GKE stack changes: network, router and NAT, cluster and node pools (and
everything inside the cluster), the repository, the bucket and its grants. Not its service accounts
(the nodes' and CI's), which an administrator's run creates and changes, nor their IAM policies.
Never roles/owner or roles/editor, nor a service-account role on the whole project (the policy
pack's `iam-no-write-on-all-resources`)."""
ACT_AS_ROLE = "roles/iam.serviceAccountUser"
"""Granted to the deploy account on the node account only: creating a node pool that runs as it needs actAs."""
PROJECT_IAM_ADMIN = "roles/resourcemanager.projectIamAdmin"
GRANTABLE_PROJECT_ROLES = (NODE_ROLE,)
"""The project roles the stack grants (its nodes' account's); the deploy account may grant these only."""
STATE_OBJECT_VIEWER = "roles/storage.objectViewer"
STATE_OBJECT_USER = "roles/storage.objectUser"
STATE_KEY_ROLE = "roles/cloudkms.cryptoKeyDecrypter"

# Attributes the provider maps from GitHub's token. Each combined one joins claims with ':'; a claim
# a token may lack (environment) becomes '' there, never an error: bindings for jobs outside an
# environment expect it empty, and an environment's name is never empty.
CLAIMS = {"repository": "repository", "ref": "ref", "event": "event_name"}
COMBINED = {
    "repository_event_environment": ("repository", "event_name", "environment"),
    "repository_environment_ref": ("repository", "environment", "ref"),
}
OPTIONAL_CLAIMS = frozenset({"environment"})


def _claim_cel(claim: str) -> str:
    if claim in OPTIONAL_CLAIMS:
        return f"(has(assertion.{claim}) ? assertion.{claim} : '')"
    return f"assertion.{claim}"


def attribute_mapping() -> dict[str, str]:
    """The provider's attribute mapping (CEL over the token's claims, `assertion`)."""
    mapping = {"google.subject": "assertion.sub"}
    mapping |= {f"attribute.{name}": f"assertion.{claim}" for name, claim in CLAIMS.items()}
    mapping |= {
        f"attribute.{name}": " + ':' + ".join(_claim_cel(claim) for claim in claims)
        for name, claims in COMBINED.items()
    }
    return mapping


def attribute_values(claims: Mapping[str, str]) -> dict[str, str]:
    """What `attribute_mapping` gives for a token's claims: the values principal sets match on.
    (Evaluated here from the same table, to test bindings against real and forged tokens.)"""
    values = {name: claims[claim] for name, claim in CLAIMS.items()}
    values |= {name: ":".join(claims.get(claim, "") for claim in parts) for name, parts in COMBINED.items()}
    return values


def attribute_condition(repository: str) -> str:
    """Only tokens of this repository are accepted at all (the schema allows no quote in it)."""
    return f"assertion.repository == '{repository}'"


def principal_set(pool_name: str, attribute: str, value: str) -> str:
    """Every identity of the pool whose mapped `attribute` equals `value`."""
    return f"principalSet://iam.googleapis.com/{pool_name}/attribute.{attribute}/{value}"


def preview_members(pool_name: str, ci: CiSettings) -> dict[str, str]:
    """Logical name suffix -> member: the repository's pull requests (if allowed) and its deploy
    branch, both outside any environment (as on AWS, where such jobs have another `sub`)."""
    repository = ci.github_repository
    members = {}
    if ci.pull_request_preview:
        members["pull-requests"] = principal_set(
            pool_name, "repository_event_environment", f"{repository}:pull_request:"
        )
    members["deploy-branch"] = principal_set(
        pool_name, "repository_environment_ref", f"{repository}::refs/heads/{ci.deploy_branch}"
    )
    return members


def deploy_members(pool_name: str, ci: CiSettings, stack: str) -> dict[str, str]:
    """Logical name suffix -> member: jobs in an allowed environment, on the deploy branch."""
    ref = f"refs/heads/{ci.deploy_branch}"
    return {
        f"environment-{_slug(env)}": principal_set(
            pool_name, "repository_environment_ref", f"{ci.github_repository}:{env}:{ref}"
        )
        for env in ci.environments(stack)
    }


def pool_id(stack: str) -> str:
    """`github-<stack>`, cut to Google's 32 characters."""
    return f"github-{_slug(stack)}"[:32].rstrip("-")


def pool_id_of(ci: CiSettings, stack: str) -> str:
    """The configured pool ID (GcpCiSettings.workloadIdentityPoolId), else `pool_id(stack)`."""
    if isinstance(ci, GcpCiSettings) and ci.workload_identity_pool_id is not None:
        return ci.workload_identity_pool_id
    return pool_id(stack)


def service_account_id(stack: str, role: str) -> str:
    """`ci-<role>-<stack, cut>-<hash>`: 6-30 characters, unique per stack and role in a project."""
    digest = hashlib.sha256(f"{stack}\0{role}".encode()).hexdigest()[:6]
    return f"ci-{role}-{_slug(stack)}"[:23].rstrip("-") + f"-{digest}"


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")


def state_object_condition(state: StateBackend, *parts: str) -> str:
    """CEL: the request is for one of Pulumi's objects (under `<prefix>/.pulumi/<parts>`)."""
    return object_prefix_condition(state.bucket, f"{state.object_prefix(*parts)}/")


def state_list_condition(state: StateBackend) -> str:
    """CEL: the request lists Pulumi's objects (the list prefix is empty on other requests)."""
    return list_prefix_condition(state.object_prefix())


def grantable_roles_condition(roles: Sequence[str]) -> str:
    """CEL: a project IAM change that adds or removes only these roles."""
    return f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly({json.dumps(sorted(roles))})"


@dataclass(frozen=True, kw_only=True)
class GithubWorkloadIdentityArgs:
    settings: CiSettings
    """The stack's `ci` section (GcpCiSettings for a pool ID of its own)."""
    stack: str
    """The stack's name: the default deploy environment, and part of the pool's and accounts' IDs."""
    project: str
    deploy_roles: Sequence[str] = DEPLOY_ROLES
    """Project roles of the deploy account; default: what the GKE stack's resources need."""
    grantable_project_roles: Sequence[str] = GRANTABLE_PROJECT_ROLES
    """Project roles the deploy account may grant (a conditional projectIamAdmin); empty: none."""
    act_as: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Logical name suffix -> service account (`projects/<p>/serviceAccounts/<email>`) the deploy
    account may act as, with `ACT_AS_ROLE` on that account only: the nodes' account. Default: none."""


class GithubWorkloadIdentity(pulumi.ComponentResource):
    provider_name: pulumi.Output[str]
    """projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER."""
    preview_email: pulumi.Output[str]
    deploy_email: pulumi.Output[str]

    def __init__(self, name: str, args: GithubWorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:ci_identity:GithubWorkloadIdentity", name, None, opts)
        ci, project = args.settings, args.project
        check_subjects(ci.deploy_subjects(args.stack))
        child = pulumi.ResourceOptions(parent=self)

        pool = gcp.iam.WorkloadIdentityPool(
            f"{name}-pool",
            project=project,
            workload_identity_pool_id=pool_id_of(ci, args.stack),
            display_name="GitHub Actions",
            description=f"GitHub Actions of {ci.github_repository}, for stack {args.stack}",
            opts=child,
        )
        provider = gcp.iam.WorkloadIdentityPoolProvider(
            f"{name}-github",
            project=project,
            workload_identity_pool_id=pool.workload_identity_pool_id,
            workload_identity_pool_provider_id=PROVIDER_ID,
            display_name="GitHub",
            description=f"tokens of {ci.github_repository} only",
            attribute_mapping=attribute_mapping(),
            attribute_condition=attribute_condition(ci.github_repository),
            # No allowed audiences: the provider's own URL, which google-github-actions/auth requests.
            oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=GITHUB_OIDC_ISSUER),
            opts=child,
        )
        preview = self._account(f"{name}-preview", args, "preview", "pull-request previews and the drift check")
        deploy = self._account(f"{name}-deploy", args, "deploy", "deploys from the GitHub environment")
        self._federate(f"{name}-preview", preview, pool, lambda pool_name: preview_members(pool_name, ci))
        self._federate(f"{name}-deploy", deploy, pool, lambda pool_name: deploy_members(pool_name, ci, args.stack))
        for role in PREVIEW_ROLES:
            self._project_role(f"{name}-preview", project, preview, role)
        for role in args.deploy_roles:
            self._project_role(f"{name}-deploy", project, deploy, role)
        for suffix, service_account in args.act_as.items():
            gcp.serviceaccount.IAMMember(
                f"{name}-deploy-acts-as-{suffix}",
                service_account_id=service_account,
                role=ACT_AS_ROLE,
                member=deploy.member,
                opts=child,
            )
        if args.grantable_project_roles:
            self._project_role(
                f"{name}-deploy",
                project,
                deploy,
                PROJECT_IAM_ADMIN,
                gcp.projects.IAMMemberConditionArgs(
                    title="grants-stack-roles-only",
                    description="may grant or revoke only the project roles the stack itself grants",
                    expression=grantable_roles_condition(args.grantable_project_roles),
                ),
            )
        state, key = ci.state_backend(), ci.secrets_key()
        if state is not None:
            self._state_access(f"{name}-preview", state, preview, writable=False)
            self._state_access(f"{name}-deploy", state, deploy, writable=True)
        if key is not None:
            self._key_access(f"{name}-preview", key, preview)
            self._key_access(f"{name}-deploy", key, deploy)

        self.provider_name = provider.name
        self.preview_email = preview.email
        self.deploy_email = deploy.email
        self.register_outputs(
            {
                "provider_name": self.provider_name,
                "preview_email": self.preview_email,
                "deploy_email": self.deploy_email,
            }
        )

    def _account(
        self, name: str, args: GithubWorkloadIdentityArgs, role: str, purpose: str
    ) -> gcp.serviceaccount.Account:
        return gcp.serviceaccount.Account(
            name,
            project=args.project,
            account_id=service_account_id(args.stack, role),
            display_name=f"CI {role} {args.stack}"[:100],
            description=f"GitHub Actions of {args.settings.github_repository}: {purpose} of stack {args.stack}",
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _federate(
        self,
        name: str,
        account: gcp.serviceaccount.Account,
        pool: gcp.iam.WorkloadIdentityPool,
        members: Callable[[str], dict[str, str]],
    ) -> None:
        # Which members there are never depends on the pool's name (only their text does), so the
        # bindings are declared now, one per member, and never inside `apply`.
        for key in members(""):

            def member(pool_name: str, key: str = key) -> str:
                return members(pool_name)[key]

            gcp.serviceaccount.IAMMember(
                f"{name}-from-{key}",
                service_account_id=account.name,
                role=WORKLOAD_IDENTITY_USER,
                member=pool.name.apply(member),
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _project_role(
        self,
        name: str,
        project: str,
        account: gcp.serviceaccount.Account,
        role: str,
        condition: gcp.projects.IAMMemberConditionArgs | None = None,
    ) -> None:
        gcp.projects.IAMMember(
            f"{name}-{_slug(role.removeprefix('roles/').replace('.', '-'))}",
            project=project,
            role=role,
            member=account.member,
            condition=condition,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _state_access(
        self, name: str, state: StateBackend, account: gcp.serviceaccount.Account, *, writable: bool
    ) -> None:
        """Read Pulumi's objects and list them; write every one (deploy) or the locks only (preview)."""
        child = pulumi.ResourceOptions(parent=self)
        grants = {
            "state-read": (STATE_OBJECT_VIEWER, state_object_condition(state), "Pulumi's objects"),
            "state-list": (STATE_OBJECT_VIEWER, state_list_condition(state), "listings of Pulumi's objects"),
            "state-write": (
                STATE_OBJECT_USER,
                state_object_condition(state) if writable else state_object_condition(state, "locks"),
                "Pulumi's objects" if writable else "the stack's locks",
            ),
        }
        for suffix, (role, expression, what) in grants.items():
            gcp.storage.BucketIAMMember(
                f"{name}-{suffix}",
                bucket=state.bucket,
                role=role,
                member=account.member,
                condition=gcp.storage.BucketIAMMemberConditionArgs(
                    title=f"{suffix}", description=f"{what} under {state.object_prefix()}", expression=expression
                ),
                opts=child,
            )

    def _key_access(self, name: str, key: SecretsKey, account: gcp.serviceaccount.Account) -> None:
        gcp.kms.CryptoKeyIAMMember(
            f"{name}-state-secrets",
            crypto_key_id=key.key,
            role=STATE_KEY_ROLE,
            member=account.member,
            opts=pulumi.ResourceOptions(parent=self),
        )


def provision(
    ci: CiSettings,
    *,
    project: str,
    node_service_account: pulumi.Input[str] | None = None,
    opts: pulumi.ResourceOptions | None = None,
) -> dict[str, pulumi.Output[str]]:
    """The GKE stack's CI identity from its `ci` section: call from the GKE backend's `provision`
    and merge the result into its outputs (keys from `components.outputs`). `node_service_account`:
    the account node pools run as (`projects/<p>/serviceAccounts/<email>`), which the deploy account
    may act as; None: it may act as none."""
    act_as = {"nodes": node_service_account} if node_service_account is not None else {}
    identity = GithubWorkloadIdentity(
        "ci",
        GithubWorkloadIdentityArgs(settings=ci, stack=pulumi.get_stack(), project=project, act_as=act_as),
        opts,
    )
    return {
        outputs.CI_WORKLOAD_IDENTITY_PROVIDER: identity.provider_name,
        outputs.CI_PREVIEW_IDENTITY: identity.preview_email,
        outputs.CI_DEPLOY_IDENTITY: identity.deploy_email,
    }
