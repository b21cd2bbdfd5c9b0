"""Tier 3: the prod-gke stack's CI identity as its real program declares it from the real stack
file's `ci` section, rendered offline: the pool and provider, who may impersonate each service
account (evaluated against GitHub tokens of intended and forged jobs), their project roles, and
the outputs the repository variables are set from."""

from __future__ import annotations

from typing import Any

import pytest

from components import outputs
from components.backends.gke import ci_identity
from components.backends.gke.ci_settings import GcpCiSettings
from tests.github_oidc import Job, forged, intended
from tests.gke.test_ci_identity import for_google, may_impersonate
from tests.rendering import Rendered, stack_document

STACK = "prod-gke"


@pytest.fixture(scope="module")
def gke(rendered_stack) -> Rendered:
    return rendered_stack(STACK)


def _ci() -> GcpCiSettings:
    return GcpCiSettings.model_validate(stack_document(STACK)["config"]["ml-platform:ci"])


def _accounts(rendered: Rendered) -> dict[str, str]:
    """Service account resource name (what bindings name) -> logical name."""
    return {
        f"projects/{a['inputs']['project']}/serviceAccounts/{a['inputs']['accountId']}@"
        f"{a['inputs']['project']}.iam.gserviceaccount.com": a["name"]
        for a in rendered.of_type("gcp:serviceaccount/account:Account")
    }


def _members(rendered: Rendered, account: str) -> list[str]:
    names = _accounts(rendered)
    return [
        b["inputs"]["member"]
        for b in rendered.of_type("gcp:serviceaccount/iAMMember:IAMMember")
        if names.get(b["inputs"]["serviceAccountId"]) == account
        and b["inputs"]["role"] == ci_identity.WORKLOAD_IDENTITY_USER
    ]


def _condition(rendered: Rendered) -> str:
    provider = rendered.one("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider", "ci-github")
    return str(provider["inputs"]["attributeCondition"])


@pytest.mark.parametrize("job", intended(STACK) + forged(STACK), ids=lambda job: job.name)
def test_rendered_accounts_are_impersonated_by_exactly_their_jobs(gke, job: Job):
    provider = gke.outputs[outputs.CI_WORKLOAD_IDENTITY_PROVIDER]
    claims = for_google(job.claims, provider)
    condition = _condition(gke)
    assert may_impersonate(_members(gke, "ci-preview"), claims, condition, provider) is job.preview
    assert may_impersonate(_members(gke, "ci-deploy"), claims, condition, provider) is job.deploy


def test_rendered_provider_admits_the_stack_files_repository_only(gke):
    provider = gke.one("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider", "ci-github")["inputs"]
    assert provider["attributeCondition"] == f"assertion.repository == '{_ci().github_repository}'"
    assert provider["attributeMapping"] == ci_identity.attribute_mapping()
    assert provider["oidc"] == {"issuerUri": "https://token.actions.githubusercontent.com"}
    assert "allowedAudiences" not in provider["oidc"], (
        "the provider's own URL, which google-github-actions/auth asks for"
    )
    pool = gke.one("gcp:iam/workloadIdentityPool:WorkloadIdentityPool", "ci-pool")["inputs"]
    assert pool["workloadIdentityPoolId"] == ci_identity.pool_id(STACK)


def test_rendered_bindings_are_the_stack_files_principal_sets(gke):
    pool = gke.outputs[outputs.CI_WORKLOAD_IDENTITY_PROVIDER].rsplit("/providers/", 1)[0]
    assert sorted(_members(gke, "ci-preview")) == sorted(ci_identity.preview_members(pool, _ci()).values())
    assert sorted(_members(gke, "ci-deploy")) == sorted(ci_identity.deploy_members(pool, _ci(), STACK).values())
    assert _ci().environments(STACK) == (STACK,), "the deploy workflow runs in `environment: <stack>`"


def _project_roles(rendered: Rendered) -> list[dict[str, Any]]:
    return [r["inputs"] for r in rendered.of_type("gcp:projects/iAMMember:IAMMember")]


def test_project_roles_are_curated_and_grants_limited_to_the_stacks_own(gke):
    emails = {f"serviceAccount:{path.rsplit('/', 1)[1]}": name for path, name in _accounts(gke).items()}
    by_account: dict[str, set[str]] = {}
    for grant in _project_roles(gke):
        by_account.setdefault(emails[grant["member"]], set()).add(grant["role"])
    assert by_account["ci-preview"] == set(ci_identity.PREVIEW_ROLES)
    assert by_account["ci-deploy"] == {*ci_identity.DEPLOY_ROLES, ci_identity.PROJECT_IAM_ADMIN}
    (admin,) = [g for g in _project_roles(gke) if g["role"] == ci_identity.PROJECT_IAM_ADMIN]
    assert admin["condition"]["expression"] == ci_identity.grantable_roles_condition(
        ci_identity.GRANTABLE_PROJECT_ROLES
    )
    # What the rest of the stack grants on the project is exactly what the deploy account may grant.
    stack_grants = {g["role"] for g in _project_roles(gke) if not emails[g["member"]].startswith("ci-")}
    assert stack_grants <= set(ci_identity.GRANTABLE_PROJECT_ROLES)


def test_deploy_account_acts_as_the_node_account_only(gke):
    """Creating a node pool needs actAs on the account its nodes run as: granted on that one account,
    never on the project, so the deploy account cannot act as (or mint tokens for) any other account."""
    names = _accounts(gke)
    deploy = f"serviceAccount:{gke.outputs[outputs.CI_DEPLOY_IDENTITY]}"
    held = [
        (names[b["inputs"]["serviceAccountId"]], b["inputs"]["role"])
        for b in gke.of_type("gcp:serviceaccount/iAMMember:IAMMember")
        if b["inputs"]["member"] == deploy
    ]
    assert held == [("cluster-node-service-account", ci_identity.ACT_AS_ROLE)]
    act_as = {"roles/iam.serviceAccountUser", "roles/iam.serviceAccountAdmin", "roles/iam.serviceAccountTokenCreator"}
    assert not {g["role"] for g in _project_roles(gke)} & act_as, "no account-wide role on the project"
    node_pools = gke.of_type("gcp:container/nodePool:NodePool")
    node_email = gke.one("gcp:serviceaccount/account:Account", "cluster-node-service-account")["inputs"]["accountId"]
    assert {p["inputs"]["nodeConfig"]["serviceAccount"].split("@")[0] for p in node_pools} == {node_email}


def test_outputs_are_what_the_repository_variables_need(gke):
    project = stack_document(STACK)["config"]["gcp:project"]
    assert gke.outputs[outputs.CI_WORKLOAD_IDENTITY_PROVIDER] == (
        f"projects/123456789012/locations/global/workloadIdentityPools/{ci_identity.pool_id(STACK)}/providers/github"
    )
    for key, role in ((outputs.CI_PREVIEW_IDENTITY, "preview"), (outputs.CI_DEPLOY_IDENTITY, "deploy")):
        assert gke.outputs[key] == f"{ci_identity.service_account_id(STACK, role)}@{project}.iam.gserviceaccount.com"
    assert outputs.CI_OIDC_PROVIDER_ARN not in gke.outputs
