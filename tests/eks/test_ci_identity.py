"""Tier 1 for the EKS stack's CI identity: the `ci` schema on an EKS stack and the IAM documents of
`ci_policies`, evaluated against GitHub tokens of the intended jobs and of forged ones: no role
may be assumed from another repository, a fork, a look-alike name, another branch or audience."""

from __future__ import annotations

import copy
import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import config
from components.backends.eks import ci_policies
from components.backends.eks.ci_settings import AwsCiSettings
from components.ci import GITHUB_OIDC_HOST, parse_secrets_provider, parse_state_backend
from policy.clouds import write_actions_on_everything
from tests import github_oidc
from tests.github_oidc import FORGED, INTENDED, REPOSITORY, Job
from tests.rendering import raw_config, stack_document

STACK = "prod-eks"
ACCOUNT = "123456789012"
REGION = "us-west-2"
PROVIDER = ci_policies.github_provider_arn(ACCOUNT)
SETTINGS = AwsCiSettings(github_repository=REPOSITORY)


def _as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


def _condition_holds(condition: dict[str, dict[str, Any]], claims: dict[str, str]) -> bool:
    """IAM's evaluation of a web-identity trust condition: every operator and key must hold; a key
    holds when the claim matches any of its values; a missing claim never matches."""
    for operator, entries in condition.items():
        for key, expected in entries.items():
            host, _, claim = key.rpartition(":")
            assert host == GITHUB_OIDC_HOST, f"condition on {key}: not a GitHub claim"
            actual = claims.get(claim)
            values = _as_list(expected)
            if operator == "StringEquals":
                matched = actual in values
            elif operator == "StringLike":
                matched = actual is not None and any(fnmatch.fnmatchcase(actual, value) for value in values)
            else:
                raise AssertionError(f"operator {operator} is not modelled by this test")
            if not matched:
                return False
    return True


def may_assume(trust_policy: str, claims: dict[str, str], provider_arn: str = PROVIDER) -> bool:
    """Whether STS lets a token with `claims`, presented through `provider_arn`, assume the role."""
    allowed = False
    for statement in json.loads(trust_policy)["Statement"]:
        if "sts:AssumeRoleWithWebIdentity" not in _as_list(statement["Action"]):
            continue
        if statement.get("Principal") != {"Federated": provider_arn}:
            continue
        if _condition_holds(statement.get("Condition", {}), claims):
            if statement["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


def _trusts(settings: AwsCiSettings = SETTINGS) -> tuple[str, str]:
    preview = ci_policies.github_trust_policy(PROVIDER, settings.preview_subjects())
    deploy = ci_policies.github_trust_policy(PROVIDER, settings.deploy_subjects(STACK))
    return preview, deploy


@pytest.mark.parametrize("job", INTENDED + FORGED, ids=lambda job: job.name)
def test_each_role_is_assumed_by_exactly_its_jobs(job: Job):
    preview, deploy = _trusts()
    assert may_assume(preview, job.claims) is job.preview
    assert may_assume(deploy, job.claims) is job.deploy


def test_trust_conditions_are_exact_strings_on_subject_and_audience():
    """StringEquals on both claims, the exact subjects, no wildcard anywhere, GitHub's provider only."""
    preview, deploy = (json.loads(policy)["Statement"] for policy in _trusts())
    for statements, subjects in (
        (preview, [f"repo:{REPOSITORY}:pull_request", f"repo:{REPOSITORY}:ref:refs/heads/main"]),
        (deploy, [f"repo:{REPOSITORY}:environment:{STACK}"]),
    ):
        (statement,) = statements
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"] == {"Federated": PROVIDER}
        assert statement["Condition"] == {
            "StringEquals": {
                f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
                f"{GITHUB_OIDC_HOST}:sub": subjects,
            }
        }
        rendered_subjects = statement["Condition"]["StringEquals"][f"{GITHUB_OIDC_HOST}:sub"]
        assert not any(wildcard in subject for subject in rendered_subjects for wildcard in "*?")


def test_a_token_from_another_provider_is_refused():
    preview, _ = _trusts()
    other = "arn:aws:iam::123456789012:oidc-provider/gitlab.com"
    assert not may_assume(preview, github_oidc.pr(), provider_arn=other)


def test_pull_requests_may_be_refused_the_preview_role():
    preview, _ = _trusts(AwsCiSettings(github_repository=REPOSITORY, pull_request_preview=False))
    assert not may_assume(preview, github_oidc.pr())
    assert may_assume(preview, github_oidc.on_branch())


def test_configured_branch_and_environments_replace_the_defaults():
    settings = AwsCiSettings(
        github_repository=REPOSITORY, deploy_branch="release/v1", deploy_environments=["prod-a", "prod-b"]
    )
    preview, deploy = _trusts(settings)
    assert may_assume(preview, github_oidc.on_branch(branch="release/v1"))
    assert not may_assume(preview, github_oidc.on_branch())
    assert may_assume(deploy, github_oidc.deploying(environment="prod-a"))
    assert may_assume(deploy, github_oidc.deploying(environment="prod-b"))
    assert not may_assume(deploy, github_oidc.deploying(environment=STACK)), "the default is replaced"


def test_what_only_github_settings_can_refuse_on_aws():
    """AWS checks `sub` and `aud` only (GitHub: no custom claims in AWS). Two jobs therefore carry
    a trusted subject that the trust cannot tell apart; docs/ci.md names the GitHub settings that
    refuse them (environment branch rule: main; no pull_request_target workflow asks for a token).
    If this test fails, AWS gained a way to check them: use it."""
    preview, deploy = _trusts()
    assert may_assume(deploy, github_oidc.deploying(branch="feature"))
    assert may_assume(preview, github_oidc.pr(event="pull_request_target"))


def test_no_workflow_gives_a_run_on_fork_input_an_oidc_token():
    """The GitHub side of the limitation above: pull_request_target and workflow_run runs have the
    base repository's identity while acting on a fork's input, so none may request an OIDC token."""
    workflows = sorted((Path(__file__).parents[2] / ".github" / "workflows").glob("*.yml"))
    assert workflows
    for path in workflows:
        document = yaml.safe_load(path.read_text())
        triggers = document.get("on", document.get(True))  # YAML 1.1 reads a bare `on` as true
        if not {"pull_request_target", "workflow_run"} & set(triggers):
            continue
        grants = [document.get("permissions") or {}] + [
            job.get("permissions") or {} for job in document["jobs"].values()
        ]
        assert all(not isinstance(grant, dict) or grant.get("id-token") != "write" for grant in grants), path.name
        assert all(grant != "write-all" for grant in grants), path.name


# --- Permissions -------------------------------------------------------------------------------

STATE = parse_state_backend("s3://acme-pulumi-state/ml-platform?region=us-west-2")
ALIAS = parse_secrets_provider("awskms://alias/ml-platform-pulumi?region=us-west-2")
BUCKET = "arn:aws:s3:::artifacts-bucket-0123456"


def _deploy(**changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "region": REGION,
        "account_id": ACCOUNT,
        "cluster_name": "ml-prod-eks",
        "artifact_bucket_arns": [BUCKET],
        "state": STATE,
        "key": ALIAS,
    }
    return json.loads(ci_policies.deploy_policy(**(arguments | changes)))


def _preview(state=STATE, key=ALIAS) -> dict[str, Any]:
    return json.loads(ci_policies.preview_policy(state, key, region=REGION, account_id=ACCOUNT))


def _by_sid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in document["Statement"]}


@pytest.mark.parametrize("state", [STATE, None], ids=["s3-backend", "pulumi-cloud"])
def test_no_write_action_on_every_resource(state):
    """The policy pack's own check (iam-no-write-on-all-resources) on both documents."""
    for document in (_deploy(state=state), _preview(state=state)):
        assert write_actions_on_everything(json.dumps(document)) == []


def test_deploy_writes_are_scoped_to_the_account_region_and_cluster():
    statements = _by_sid(_deploy())
    here = f"{REGION}:{ACCOUNT}"
    scopes = tuple(f"arn:aws:{service}:{here}:" for service in ("ec2", "eks", "autoscaling", "ecr", "kms"))
    scopes += (f"arn:aws:iam::{ACCOUNT}:", "arn:aws:eks::aws:cluster-access-policy/", BUCKET)
    for sid, statement in statements.items():
        if statement["Effect"] != "Allow" or sid.startswith("State"):
            continue
        for resource in _as_list(statement["Resource"]):
            assert resource.startswith(scopes), f"{sid}: {resource}"
    assert statements["Cluster"]["Resource"] == [
        f"arn:aws:eks:{here}:cluster/ml-prod-eks",
        f"arn:aws:eks:{here}:*/ml-prod-eks/*",
    ]
    assert statements["ArtifactBuckets"]["Resource"] == [BUCKET], "bucket configuration, never objects"
    assert "kms:CreateKey" not in json.dumps(statements), "AWS scopes CreateKey to '*' only"


# The EC2 resource type (in its ARN) that each EC2 resource the stack declares creates or changes.
EC2_ARN_TYPES = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/routeTable:RouteTable": "route-table",
    "aws:ec2/route:Route": "route-table",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "route-table",
    "aws:ec2/internetGateway:InternetGateway": "internet-gateway",
    "aws:ec2/eip:Eip": "elastic-ip",
    "aws:ec2/natGateway:NatGateway": "natgateway",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "security-group",
    "aws:ec2/launchTemplate:LaunchTemplate": "launch-template",
}


def test_the_deploy_role_may_write_the_ec2_resource_types_the_stack_declares_and_no_other(rendered_stack):
    """ec2:* on `arn:aws:ec2:<region>:<account>:*` was every instance, volume and snapshot of the
    region; the deploy role now names the types the stack writes. A new kind of EC2 resource in the
    stack fails here until its type is mapped and allowed."""
    declared = {
        resource["type"] for resource in rendered_stack("prod-eks").resources if resource["type"].startswith("aws:ec2/")
    }
    assert declared <= EC2_ARN_TYPES.keys(), f"map (and allow) the ARN type of {declared - EC2_ARN_TYPES.keys()}"
    needed = {EC2_ARN_TYPES[type_token] for type_token in declared} | {"security-group-rule"}
    assert set(ci_policies.EC2_RESOURCE_TYPES) == needed
    network = _by_sid(_deploy())["Network"]
    assert network["Resource"] == [
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/*" for kind in ci_policies.EC2_RESOURCE_TYPES
    ]


def test_deploy_cannot_change_the_ci_identity():
    deny = _by_sid(_deploy())["CiIdentityIsAdministered"]
    assert deny["Effect"] == "Deny"
    assert deny["NotAction"] == ["iam:Get*", "iam:List*"]
    assert deny["Resource"] == [
        f"arn:aws:iam::{ACCOUNT}:role{ci_policies.CI_PATH}*",
        f"arn:aws:iam::{ACCOUNT}:policy{ci_policies.CI_PATH}*",
        PROVIDER,
    ]
    statements = _by_sid(_deploy())
    assert statements["PassRoles"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "eks.amazonaws.com"]}
    }
    assert "iam:CreateUser" not in json.dumps(statements) and "iam:CreateAccessKey" not in json.dumps(statements)


def test_state_backend_grants_differ_by_role():
    preview, deploy = _by_sid(_preview()), _by_sid(_deploy())
    objects = "arn:aws:s3:::acme-pulumi-state/ml-platform/.pulumi/*"
    for statements in (preview, deploy):
        assert statements["StateList"]["Resource"] == "arn:aws:s3:::acme-pulumi-state"
        assert statements["StateList"]["Condition"] == {"StringLike": {"s3:prefix": ["ml-platform", "ml-platform/*"]}}
        assert statements["StateRead"]["Resource"] == objects
        assert statements["StateSecrets"] == {
            "Sid": "StateSecrets",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*",
            "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/ml-platform-pulumi"}},
        }
    assert preview["StateLocks"]["Resource"] == "arn:aws:s3:::acme-pulumi-state/ml-platform/.pulumi/locks/*"
    assert deploy["StateWrite"]["Resource"] == objects
    assert deploy["StateKeyIsAdministered"]["Effect"] == "Deny"


def test_without_a_self_managed_backend_no_state_grant():
    assert not [sid for sid in _by_sid(_deploy(state=None, key=None)) if sid.startswith("State")]
    assert not [sid for sid in _by_sid(_preview(state=None, key=None)) if sid.startswith("State")]


@pytest.mark.parametrize(
    ("url", "target"),
    [
        (
            "awskms://1234abcd-12ab-34cd-56ef-1234567890ab?region=eu-west-1",
            {"Resource": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
        ),
        (
            "awskms:///arn:aws:kms:eu-west-1:210987654321:key/mrk-1",
            {"Resource": "arn:aws:kms:eu-west-1:210987654321:key/mrk-1"},
        ),
        (
            "awskms:///arn:aws:kms:eu-west-1:210987654321:alias/state",
            {
                "Resource": "arn:aws:kms:eu-west-1:210987654321:key/*",
                "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/state"}},
            },
        ),
    ],
)
def test_secrets_provider_key_is_named_by_id_arn_or_alias(url, target):
    assert ci_policies.key_target(parse_secrets_provider(url), REGION, ACCOUNT) == target


def test_preview_reads_configuration_but_no_data_except_the_state():
    statements = _by_sid(_preview())
    assert statements["NoObjectReads"]["Effect"] == "Deny"
    assert statements["NoObjectReads"]["NotResource"] == "arn:aws:s3:::acme-pulumi-state/ml-platform/.pulumi/*"
    assert {"secretsmanager:GetSecretValue", "ssm:GetParameter", "logs:GetLogEvents"} <= set(
        statements["NoDataReads"]["Action"]
    )
    assert _by_sid(_preview(state=None))["NoObjectReads"]["Resource"] == "*"
    writes = [s for s in statements.values() if s["Effect"] == "Allow" and "s3:PutObject" in _as_list(s["Action"])]
    assert [s["Resource"] for s in writes] == ["arn:aws:s3:::acme-pulumi-state/ml-platform/.pulumi/locks/*"]


def test_inline_policies_fit_iam_limits():
    """IAM refuses a role whose inline policies exceed 10,240 characters (whitespace excluded)."""
    assert ci_policies.policy_size(json.dumps(_deploy())) < ci_policies.INLINE_POLICY_LIMIT
    assert ci_policies.policy_size(json.dumps(_preview())) < ci_policies.INLINE_POLICY_LIMIT


# --- The `ci` section on an EKS stack ----------------------------------------------------------


def _parse(ci: dict[str, Any] | None) -> config.StackConfig:
    document = copy.deepcopy(stack_document(STACK))
    if ci is None:
        document["config"].pop("ml-platform:ci")
    else:
        document["config"]["ml-platform:ci"] = ci
    return config.parse(raw_config(document))


def _problems(ci: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(config.ConfigError) as error:
        _parse(ci)
    return {problem.key: problem.allowed for problem in error.value.problems}


def test_stack_file_ci_section_parses_with_its_defaults():
    stack = _parse(stack_document(STACK)["config"]["ml-platform:ci"])
    assert isinstance(stack.ci, AwsCiSettings)
    assert stack.ci.github_repository == REPOSITORY
    assert stack.ci.environments(STACK) == (STACK,)
    assert _parse({"githubRepository": REPOSITORY}).ci == AwsCiSettings(
        github_repository=REPOSITORY, deploy_branch="main", pull_request_preview=True
    )
    assert _parse({"githubRepository": REPOSITORY}).ci.environments(STACK) == (STACK,)  # type: ignore[union-attr]
    assert _parse(None).ci is None


def test_existing_oidc_provider_must_be_githubs():
    assert _parse({"githubRepository": REPOSITORY, "oidcProviderArn": PROVIDER}).ci.oidc_provider_arn == PROVIDER  # type: ignore[union-attr]
    problems = _problems({"githubRepository": REPOSITORY, "oidcProviderArn": "arn:aws:iam::1:oidc-provider/gitlab.com"})
    assert "token.actions.githubusercontent.com" in problems["ml-platform:ci.oidcProviderArn"]


@pytest.mark.parametrize(
    ("ci", "key"),
    [
        ({"githubRepository": "gs://state", "stateBackendUrl": "gs://state"}, "ml-platform:ci.githubRepository"),
        ({"githubRepository": REPOSITORY, "stateBackendUrl": "gs://state/ml"}, "ml-platform:ci"),
        (
            {
                "githubRepository": REPOSITORY,
                "secretsProvider": "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
            },
            "ml-platform:ci",
        ),
        ({"githubRepository": REPOSITORY, "deployEnvironments": ["prod-*"]}, "ml-platform:ci.deployEnvironments[0]"),
        ({"githubRepository": REPOSITORY, "region": "us-west-2"}, "ml-platform:ci.region"),
    ],
)
def test_what_aws_credentials_cannot_reach_is_a_config_error(ci, key):
    assert key in _problems(ci)
