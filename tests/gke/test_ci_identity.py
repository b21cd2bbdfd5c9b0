"""The GKE stack's CI identity (components/backends/gke/ci_identity.py), standalone until the GKE
backend calls it: tier 1 on its attribute condition, mapping and principal sets, evaluated against
GitHub tokens of intended and forged jobs the way Google evaluates them; tier 2 on the component
under Pulumi's mocks, in process."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pulumi
import pydantic
import pytest
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

from components import outputs
from components.backends.gke import ci_identity
from components.backends.gke.ci_settings import SUBJECT_LIMIT_BYTES, GcpCiSettings
from components.ci import CiSettings, parse_state_backend
from tests.github_oidc import REPOSITORY, Job, deploying, forged, intended, pr
from tests.rendering import refused_for
from tools.mocks import PlatformMocks, RecordingMonitor

STACK = "prod-gke"
PROJECT = "my-ml-project"
PROJECT_NUMBER = "123456789012"
POOL = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/github-{STACK}"
PROVIDER = f"{POOL}/providers/{ci_identity.PROVIDER_ID}"
AUDIENCE = f"https://iam.googleapis.com/{PROVIDER}"
"""What google-github-actions/auth requests, and what a provider without allowed audiences accepts."""
CI = GcpCiSettings(github_repository=REPOSITORY)


def for_google(claims: dict[str, str], provider: str = PROVIDER) -> dict[str, str]:
    """The same job's token as google-github-actions/auth requests it (only the audience differs)."""
    return (
        claims | {"aud": f"https://iam.googleapis.com/{provider}"} if claims["aud"] == "sts.amazonaws.com" else claims
    )


def _condition_holds(condition: str, claims: dict[str, str]) -> bool:
    match = re.fullmatch(r"assertion\.repository == '([^'\\]*)'", condition)
    assert match, f"not the condition this model evaluates: {condition}"
    return claims["repository"] == match.group(1)


def _member_matches(member: str, attributes: dict[str, str], pool: str) -> bool:
    match = re.fullmatch(rf"principalSet://iam\.googleapis\.com/{re.escape(pool)}/attribute\.([a-z_]+)/(.+)", member)
    assert match, f"not a principal set of the pool filtered on an attribute: {member}"
    attribute, value = match.groups()
    return attributes[attribute] == value


def may_impersonate(members: Iterable[str], claims: dict[str, str], condition: str, provider: str = PROVIDER) -> bool:
    """Google's decision: the token is for this provider (a provider without allowed audiences
    accepts its own URL), passes the attribute condition, and the attributes mapped from it match
    one of the service account's workloadIdentityUser members."""
    if claims["aud"] != f"https://iam.googleapis.com/{provider}" or not _condition_holds(condition, claims):
        return False
    attributes = ci_identity.attribute_values(claims)
    pool = provider.rsplit("/providers/", 1)[0]
    return any(_member_matches(member, attributes, pool) for member in members)


CONDITION = ci_identity.attribute_condition(REPOSITORY)


@pytest.mark.parametrize("job", intended(STACK) + forged(STACK), ids=lambda job: job.name)
def test_each_service_account_is_impersonated_by_exactly_its_jobs(job: Job):
    claims = for_google(job.claims)
    assert may_impersonate(ci_identity.preview_members(POOL, CI).values(), claims, CONDITION) is job.preview
    assert may_impersonate(ci_identity.deploy_members(POOL, CI, STACK).values(), claims, CONDITION) is job.deploy


def test_google_also_refuses_what_only_github_settings_refuse_on_aws():
    """Unlike AWS, the bindings see the event and the ref: a deploy-environment job on another branch,
    and pull_request_target (a base-repository run on a fork's input), are refused here too."""
    deploy = ci_identity.deploy_members(POOL, CI, STACK).values()
    preview = ci_identity.preview_members(POOL, CI).values()
    assert not may_impersonate(deploy, for_google(deploying(environment=STACK, branch="feature")), CONDITION)
    assert not may_impersonate(preview, for_google(pr(event="pull_request_target")), CONDITION)


def test_the_attribute_condition_admits_the_repository_only():
    assert ci_identity.attribute_condition(REPOSITORY) == "assertion.repository == 'your-org/ml-platform'"


def test_attribute_mapping_is_exact():
    assert ci_identity.attribute_mapping() == {
        "google.subject": "assertion.sub",
        "attribute.repository": "assertion.repository",
        "attribute.ref": "assertion.ref",
        "attribute.event": "assertion.event_name",
        "attribute.repository_event_environment": (
            "assertion.repository + ':' + assertion.event_name + ':' "
            "+ (has(assertion.environment) ? assertion.environment : '')"
        ),
        "attribute.repository_environment_ref": (
            "assertion.repository + ':' + (has(assertion.environment) ? assertion.environment : '') "
            "+ ':' + assertion.ref"
        ),
    }


def test_principal_sets_are_filtered_on_the_repository_and_the_job():
    assert ci_identity.preview_members(POOL, CI) == {
        "pull-requests": (
            f"principalSet://iam.googleapis.com/{POOL}/attribute.repository_event_environment/{REPOSITORY}:pull_request:"
        ),
        "deploy-branch": (
            f"principalSet://iam.googleapis.com/{POOL}/attribute.repository_environment_ref/{REPOSITORY}::refs/heads/main"
        ),
    }
    assert ci_identity.deploy_members(POOL, CI, STACK) == {
        f"environment-{STACK}": (
            f"principalSet://iam.googleapis.com/{POOL}/attribute.repository_environment_ref/"
            f"{REPOSITORY}:{STACK}:refs/heads/main"
        )
    }
    no_prs = GcpCiSettings(github_repository=REPOSITORY, pull_request_preview=False)
    assert list(ci_identity.preview_members(POOL, no_prs)) == ["deploy-branch"]


def test_a_missing_environment_claim_maps_to_an_empty_part():
    attributes = ci_identity.attribute_values(for_google(pr()))
    assert attributes["repository_environment_ref"] == f"{REPOSITORY}::refs/pull/7/merge"
    assert attributes["repository_event_environment"] == f"{REPOSITORY}:pull_request:"
    attributes = ci_identity.attribute_values(for_google(deploying()))
    assert attributes["repository_event_environment"] == f"{REPOSITORY}:push:prod-eks"


@pytest.mark.parametrize("stack", ["prod-gke", "Prod_GKE.eu", "a" * 60, "x"])
def test_generated_ids_fit_googles_rules(stack):
    pool = ci_identity.pool_id(stack)
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{2,30}[a-z0-9]", pool) and not pool.startswith("gcp-")
    for role in ("preview", "deploy"):
        account = ci_identity.service_account_id(stack, role)
        assert re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", account), account
    assert ci_identity.service_account_id(stack, "preview") != ci_identity.service_account_id(stack, "deploy")
    assert ci_identity.service_account_id(stack, "deploy") != ci_identity.service_account_id(stack + "2", "deploy")


def test_state_conditions_name_pulumis_objects_only():
    state = parse_state_backend("gs://acme-state/ml-platform")
    assert state is not None
    prefix = "projects/_/buckets/acme-state/objects/ml-platform/.pulumi"
    assert ci_identity.state_object_condition(state) == f'resource.name.startsWith("{prefix}/")'
    assert ci_identity.state_object_condition(state, "locks") == f'resource.name.startsWith("{prefix}/locks/")'
    assert ci_identity.state_list_condition(state) == (
        'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("ml-platform/.pulumi")'
    )
    assert ci_identity.grantable_roles_condition(["roles/b", "roles/a"]) == (
        'api.getAttribute(\'iam.googleapis.com/modifiedGrantsByRole\', []).hasOnly(["roles/a", "roles/b"])'
    )


def test_the_gcp_schema_is_the_generic_one_narrowed_to_google():
    assert issubclass(GcpCiSettings, CiSettings)
    assert GcpCiSettings.state_schemes == ("https", "gs") and GcpCiSettings.secrets_schemes == ("gcpkms",)


@pytest.mark.parametrize(
    "changes",
    [
        {"stateBackendUrl": "s3://state/ml"},
        {"secretsProvider": "awskms://alias/x"},
        {"workloadIdentityPoolId": "gcp-reserved"},
        {"workloadIdentityPoolId": "No"},
        {"deployEnvironments": ["e" * SUBJECT_LIMIT_BYTES]},
    ],
)
def test_what_google_refuses_is_a_config_error(changes):
    with pytest.raises(pydantic.ValidationError) as error:
        GcpCiSettings.model_validate({"githubRepository": REPOSITORY, **changes})
    refused_for(error, *changes)


# --- The component under Pulumi's mocks --------------------------------------------------------


def _named(args: pulumi_mocks.MockResourceArgs, name: str) -> tuple[str, dict[str, Any]]:
    return name, {**args.inputs, "name": name}


def _pool(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    return _named(
        args,
        f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{args.inputs['workloadIdentityPoolId']}",
    )


def _provider(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    pool = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{args.inputs['workloadIdentityPoolId']}"
    return _named(args, f"{pool}/providers/{args.inputs['workloadIdentityPoolProviderId']}")


def _account(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    email = f"{args.inputs['accountId']}@{args.inputs['project']}.iam.gserviceaccount.com"
    resource_id = f"projects/{args.inputs['project']}/serviceAccounts/{email}"
    return resource_id, {**args.inputs, "name": resource_id, "email": email, "member": f"serviceAccount:{email}"}


GCP_MOCKS = {
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": _pool,
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": _provider,
    "gcp:serviceaccount/account:Account": _account,
}


@dataclass
class Declared:
    monitor: RecordingMonitor
    outputs: dict[str, str]

    def inputs(self, type_token: str) -> dict[str, dict[str, Any]]:
        """Logical name -> inputs of every registered resource of a type."""
        return {r.name: r.inputs for r in self.monitor.registrations if r.type == type_token}


def declare(ci: GcpCiSettings, node_service_account: str | None = None) -> Declared:
    """Runs `provision` under the mocks to the end, the way the render tool runs the program, so
    that every resource is registered, including those whose inputs wait on other resources."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = PlatformMocks(resources=dict(GCP_MOCKS))
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="ml-platform", stack=STACK, preview=False, monitor=monitor)
    created = ci_identity.provision(ci, project=PROJECT, node_service_account=node_service_account)
    loop.run_until_complete(wait_for_rpcs())
    return Declared(monitor, {key: _sync_await(value.future()) for key, value in created.items()})


def test_component_outputs_are_what_the_repository_variables_need():
    declared = declare(CI)
    email = "{}@" + PROJECT + ".iam.gserviceaccount.com"
    assert declared.outputs == {
        outputs.CI_WORKLOAD_IDENTITY_PROVIDER: PROVIDER,
        outputs.CI_PREVIEW_IDENTITY: email.format(ci_identity.service_account_id(STACK, "preview")),
        outputs.CI_DEPLOY_IDENTITY: email.format(ci_identity.service_account_id(STACK, "deploy")),
    }


def test_component_declares_the_pool_provider_and_bindings():
    declared = declare(CI)
    (pool,) = declared.inputs("gcp:iam/workloadIdentityPool:WorkloadIdentityPool").values()
    assert pool["workloadIdentityPoolId"] == f"github-{STACK}" and pool["project"] == PROJECT
    (provider,) = declared.inputs("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider").values()
    assert provider["attributeCondition"] == f"assertion.repository == '{REPOSITORY}'"
    assert provider["attributeMapping"] == ci_identity.attribute_mapping()
    assert provider["oidc"] == {"issuerUri": "https://token.actions.githubusercontent.com"}

    accounts = {
        f"projects/{PROJECT}/serviceAccounts/{inputs['accountId']}@{PROJECT}.iam.gserviceaccount.com": name
        for name, inputs in declared.inputs("gcp:serviceaccount/account:Account").items()
    }
    federation = declared.inputs("gcp:serviceaccount/iAMMember:IAMMember").values()
    assert {(accounts[binding["serviceAccountId"]], binding["member"]) for binding in federation} == {
        ("ci-preview", member) for member in ci_identity.preview_members(POOL, CI).values()
    } | {("ci-deploy", member) for member in ci_identity.deploy_members(POOL, CI, STACK).values()}
    assert {binding["role"] for binding in federation} == {"roles/iam.workloadIdentityUser"}

    members = {f"serviceAccount:{path.rsplit('/', 1)[1]}": name for path, name in accounts.items()}
    project_roles = declared.inputs("gcp:projects/iAMMember:IAMMember").values()
    roles = {(members[grant["member"]], grant["role"]) for grant in project_roles}
    assert {role for who, role in roles if who == "ci-preview"} == set(ci_identity.PREVIEW_ROLES)
    assert {role for who, role in roles if who == "ci-deploy"} == {
        *ci_identity.DEPLOY_ROLES,
        ci_identity.PROJECT_IAM_ADMIN,
    }
    assert not {role for _, role in roles} & {"roles/owner", "roles/editor"}, "the policy pack forbids them"
    (admin,) = [grant for grant in project_roles if grant["role"] == ci_identity.PROJECT_IAM_ADMIN]
    assert admin["condition"]["expression"] == ci_identity.grantable_roles_condition(
        ci_identity.GRANTABLE_PROJECT_ROLES
    )
    assert not declared.inputs("gcp:storage/bucketIAMMember:BucketIAMMember"), "no state bucket configured"
    assert not declared.inputs("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")


NODE_ACCOUNT = f"projects/{PROJECT}/serviceAccounts/cluster-nodes-abc123@{PROJECT}.iam.gserviceaccount.com"


def test_deploy_account_may_act_as_the_node_account_and_no_other():
    """Node pools run as the node account, and creating one needs actAs on it: granted on that account
    only. No project role lets the deploy account act as, create or administer service accounts."""
    assert not set(ci_identity.DEPLOY_ROLES) & {
        "roles/iam.serviceAccountUser",
        "roles/iam.serviceAccountAdmin",
        "roles/iam.serviceAccountTokenCreator",
        "roles/iam.serviceAccountKeyAdmin",
    }
    declared = declare(CI, node_service_account=NODE_ACCOUNT)
    deploy = declared.outputs[outputs.CI_DEPLOY_IDENTITY]
    on_accounts = declared.inputs("gcp:serviceaccount/iAMMember:IAMMember")
    acting = {name: b for name, b in on_accounts.items() if b["role"] != ci_identity.WORKLOAD_IDENTITY_USER}
    assert acting == {
        "ci-deploy-acts-as-nodes": {
            "serviceAccountId": NODE_ACCOUNT,
            "role": "roles/iam.serviceAccountUser",
            "member": f"serviceAccount:{deploy}",
        }
    }


def test_without_a_node_account_the_deploy_account_acts_as_none():
    on_accounts = declare(CI).inputs("gcp:serviceaccount/iAMMember:IAMMember").values()
    assert {binding["role"] for binding in on_accounts} == {ci_identity.WORKLOAD_IDENTITY_USER}


def test_component_grants_the_state_bucket_and_key_when_configured():
    ci = GcpCiSettings(
        github_repository=REPOSITORY,
        state_backend_url="gs://acme-state/ml-platform",
        secrets_provider="gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/pulumi",
        workload_identity_pool_id="gh-actions",
    )
    state = ci.state_backend()
    assert state is not None
    declared = declare(ci)
    (pool,) = declared.inputs("gcp:iam/workloadIdentityPool:WorkloadIdentityPool").values()
    assert pool["workloadIdentityPoolId"] == "gh-actions"
    grants = declared.inputs("gcp:storage/bucketIAMMember:BucketIAMMember")
    assert {(name, g["role"], g["condition"]["expression"]) for name, g in grants.items()} == {
        ("ci-preview-state-read", "roles/storage.objectViewer", ci_identity.state_object_condition(state)),
        ("ci-preview-state-list", "roles/storage.objectViewer", ci_identity.state_list_condition(state)),
        ("ci-preview-state-write", "roles/storage.objectUser", ci_identity.state_object_condition(state, "locks")),
        ("ci-deploy-state-read", "roles/storage.objectViewer", ci_identity.state_object_condition(state)),
        ("ci-deploy-state-list", "roles/storage.objectViewer", ci_identity.state_list_condition(state)),
        ("ci-deploy-state-write", "roles/storage.objectUser", ci_identity.state_object_condition(state)),
    }
    assert {g["bucket"] for g in grants.values()} == {"acme-state"}
    keys = declared.inputs("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert sorted(keys) == ["ci-deploy-state-secrets", "ci-preview-state-secrets"]
    assert {(k["cryptoKeyId"], k["role"]) for k in keys.values()} == {
        ("projects/p/locations/global/keyRings/r/cryptoKeys/pulumi", "roles/cloudkms.cryptoKeyDecrypter")
    }


def test_a_default_deploy_subject_over_googles_limit_is_refused():
    """Without deployEnvironments the subject names the stack, known only when the identity is built."""
    long_stack = "s" * SUBJECT_LIMIT_BYTES
    with pytest.raises(ValueError, match="127-byte limit"):
        ci_identity.GithubWorkloadIdentity(
            "ci", ci_identity.GithubWorkloadIdentityArgs(settings=CI, stack=long_stack, project=PROJECT)
        )
