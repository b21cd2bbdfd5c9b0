"""Tier 3: the prod-eks stack's CI identity as its real program declares it from the real stack
file's `ci` section, rendered offline: the OIDC provider, the two roles' trust and permissions
(evaluated against GitHub tokens of intended and forged jobs), their access to the cluster, and
the outputs the repository variables are set from."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import outputs
from components.backends.eks import ci_identity, ci_policies
from components.backends.eks.ci_settings import AwsCiSettings
from components.ci import GITHUB_OIDC_ISSUER
from tests.eks.test_ci_identity import may_assume
from tests.github_oidc import FORGED, INTENDED, Job
from tests.rendering import Rendered, load, render, stack_document
from tools.mocks import auto_name

STACK = "prod-eks"
ACCOUNT = "123456789012"  # the EKS mocks' account


@pytest.fixture(scope="module")
def eks(rendered_stack) -> Rendered:
    return rendered_stack(STACK)


def _ci() -> AwsCiSettings:
    return AwsCiSettings.model_validate(stack_document(STACK)["config"]["ml-platform:ci"])


def _role(rendered: Rendered, which: str) -> dict[str, Any]:
    return rendered.one("aws:iam/role:Role", f"ci-{which}-role")


def _policy(rendered: Rendered, which: str) -> dict[str, Any]:
    return json.loads(rendered.one("aws:iam/rolePolicy:RolePolicy", f"ci-{which}-policy")["inputs"]["policy"])


def test_github_oidc_provider_is_created_for_sts(eks):
    provider = eks.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "ci-github")["inputs"]
    assert provider["url"] == GITHUB_OIDC_ISSUER
    assert provider["clientIdLists"] == ["sts.amazonaws.com"]
    assert "thumbprintLists" not in provider, "IAM trusts GitHub's certificate through its own CAs"
    assert eks.outputs[outputs.CI_OIDC_PROVIDER_ARN] == ci_policies.github_provider_arn(ACCOUNT)


@pytest.mark.parametrize("job", INTENDED + FORGED, ids=lambda job: job.name)
def test_rendered_roles_are_assumed_by_exactly_their_jobs(eks, job: Job):
    provider = eks.outputs[outputs.CI_OIDC_PROVIDER_ARN]
    preview = _role(eks, "preview")["inputs"]["assumeRolePolicy"]
    deploy = _role(eks, "deploy")["inputs"]["assumeRolePolicy"]
    assert may_assume(preview, job.claims, provider) is job.preview
    assert may_assume(deploy, job.claims, provider) is job.deploy


def test_rendered_trust_is_the_stack_files_repository_environment_and_branch(eks):
    ci = _ci()
    provider = eks.outputs[outputs.CI_OIDC_PROVIDER_ARN]
    assert _role(eks, "preview")["inputs"]["assumeRolePolicy"] == ci_policies.github_trust_policy(
        provider, ci.preview_subjects()
    )
    assert _role(eks, "deploy")["inputs"]["assumeRolePolicy"] == ci_policies.github_trust_policy(
        provider, ci.deploy_subjects(STACK)
    )
    assert ci.deploy_subjects(STACK) == (f"repo:{ci.github_repository}:environment:{STACK}",), (
        "the deploy workflow runs in `environment: <stack>`"
    )


def test_roles_live_under_the_ci_path_with_sessions_as_long_as_their_jobs(eks):
    for which, seconds in (("preview", ci_identity.PREVIEW_SESSION_SECONDS), ("deploy", 7200)):
        inputs = _role(eks, which)["inputs"]
        assert inputs["path"] == ci_policies.CI_PATH
        assert inputs["maxSessionDuration"] == seconds
    deploy_job = yaml.safe_load((Path(__file__).parents[2] / ".github/workflows/pulumi-deploy.yml").read_text())[
        "jobs"
    ]["up"]
    (login,) = [step for step in deploy_job["steps"] if step.get("uses") == "./.github/actions/cloud-credentials"]
    assert (
        deploy_job["timeout-minutes"] * 60
        <= int(login["with"]["session-seconds"])
        <= ci_identity.DEPLOY_SESSION_SECONDS
    )


def test_both_roles_read_everything_and_write_only_what_their_policy_says(eks):
    attachments = {
        a["name"]: a["inputs"]["policyArn"] for a in eks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert attachments["ci-preview-read-only"] == attachments["ci-deploy-read-only"] == ci_policies.READ_ONLY_ACCESS
    assert not [name for name in attachments if name.startswith("ci-") and not name.endswith("-read-only")]
    assert _policy(eks, "preview") == json.loads(
        ci_policies.preview_policy(None, None, region="us-west-2", account_id=ACCOUNT)
    )
    assert _policy(eks, "deploy") == json.loads(
        ci_policies.deploy_policy(
            region="us-west-2",
            account_id=ACCOUNT,
            cluster_name="ml-prod-eks",
            # The artifact bucket, as the mocks auto-name it (the real name is Pulumi's, the same way).
            artifact_bucket_arns=[f"arn:aws:s3:::{auto_name('artifacts-bucket')}"],
            state=None,
            key=None,
        )
    )


def test_cluster_access_admin_for_deploy_view_without_secrets_for_preview(eks):
    entries = {e["name"]: e for e in eks.of_type("aws:eks/accessEntry:AccessEntry")}
    policies = {p["name"]: p["inputs"] for p in eks.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")}
    assert entries["ci-deploy-access"]["inputs"]["principalArn"] == eks.outputs[outputs.CI_DEPLOY_IDENTITY]
    assert entries["ci-preview-access"]["inputs"]["principalArn"] == eks.outputs[outputs.CI_PREVIEW_IDENTITY]
    assert policies["ci-deploy-access-policy"]["policyArn"].endswith("/AmazonEKSClusterAdminPolicy")
    assert policies["ci-preview-access-policy"]["policyArn"].endswith("/AmazonEKSViewPolicy")
    assert all(p["accessScope"] == {"type": "cluster"} and p["clusterName"] == "ml-prod-eks" for p in policies.values())
    assert entries["ci-preview-access"]["inputs"]["kubernetesGroups"] == [ci_identity.PREVIEW_KUBERNETES_GROUP]
    for entry in entries.values():
        assert any(dep.endswith("eks:index:Cluster::cluster-eks") for dep in entry["dependencies"]), "after the cluster"

    (reader,) = eks.objects("ClusterRole")
    (binding,) = eks.objects("ClusterRoleBinding")
    rules = reader["rules"]
    assert all(rule["verbs"] == ["get", "list", "watch"] for rule in rules)
    assert not any("secrets" in rule["resources"] or "*" in rule["resources"] + rule["apiGroups"] for rule in rules)
    assert binding["roleRef"]["name"] == reader["metadata"]["name"]
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": ci_identity.PREVIEW_KUBERNETES_GROUP}
    ]


def test_outputs_are_what_the_repository_variables_need(eks):
    for key, which in ((outputs.CI_PREVIEW_IDENTITY, "preview"), (outputs.CI_DEPLOY_IDENTITY, "deploy")):
        assert eks.outputs[key] == f"arn:aws:iam::{ACCOUNT}:role/ml-platform-ci/{auto_name(f'ci-{which}-role')}"
    assert outputs.CI_WORKLOAD_IDENTITY_PROVIDER not in eks.outputs, "AWS has none"


@pytest.fixture(scope="module")
def reusing(tmp_path_factory) -> Rendered:
    """The stack file with an existing OIDC provider and a self-managed S3 backend."""
    document = copy.deepcopy(stack_document(STACK))
    document["config"]["ml-platform:ci"] |= {
        "oidcProviderArn": "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com",
        "stateBackendUrl": "s3://acme-pulumi-state/ml-platform?region=us-west-2",
        "secretsProvider": "awskms://alias/ml-platform-pulumi?region=us-west-2",
    }
    root = tmp_path_factory.mktemp("ci-reuse")
    (root / "stacks").mkdir()
    (root / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    render(STACK, root / "out", stacks_dir=root / "stacks")
    return load(root / "out")


def test_an_existing_provider_is_reused_not_created(reusing):
    existing = "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com"
    assert not reusing.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert reusing.outputs[outputs.CI_OIDC_PROVIDER_ARN] == existing
    for which in ("preview", "deploy"):
        (statement,) = json.loads(_role(reusing, which)["inputs"]["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Federated": existing}


def test_a_self_managed_backend_gets_its_state_grants(reusing):
    preview = {s["Sid"]: s for s in _policy(reusing, "preview")["Statement"]}
    deploy = {s["Sid"]: s for s in _policy(reusing, "deploy")["Statement"]}
    assert preview["StateLocks"]["Resource"] == "arn:aws:s3:::acme-pulumi-state/ml-platform/.pulumi/locks/*"
    assert deploy["StateWrite"]["Resource"] == "arn:aws:s3:::acme-pulumi-state/ml-platform/.pulumi/*"
    assert preview["StateSecrets"]["Action"] == deploy["StateSecrets"]["Action"] == "kms:Decrypt"
