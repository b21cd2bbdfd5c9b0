"""Tier 1: the generic `ml-platform:ci` schema (components/ci.py), the subjects it trusts, and where
the key is allowed. The values go verbatim into trust policies, so anything that could act as a
wildcard or a separator is refused before any resource exists."""

from __future__ import annotations

import copy

import pydantic
import pytest

from components import backends, config
from components.ci import (
    CiSettings,
    StateBackend,
    parse_secrets_provider,
    parse_state_backend,
)
from tests.rendering import raw_config, refused_for, stack_document

REPOSITORY = "your-org/ml-platform"


@pytest.mark.parametrize(
    "repository",
    ["your-org/ml-platform", "a/b", "Octo-Org/Octo.Repo_2", "x" * 39 + "/" + "y" * 100, "org/.github"],
)
def test_repositories_as_github_names_them_are_accepted(repository):
    assert CiSettings(github_repository=repository).github_repository == repository


@pytest.mark.parametrize(
    "repository",
    [
        "ml-platform",  # no owner
        "your-org/*",  # a wildcard would trust every repository of the owner
        "your-org/ml-*",
        "*/ml-platform",
        "your-org/ml?platform",
        "your-org/ml-platform/extra",
        "your-org/ml-platform:pull_request",  # a subject separator
        "-org/repo",  # owners never start or end with '-', nor repeat it
        "org-/repo",
        "my--org/repo",
        "x" * 40 + "/repo",
        "org/" + "y" * 101,
        "org/..",
        "org/ml-platform.git",
        "https://github.com/org/repo",
        "org/ml platform",
        "org/repo'",  # a quote would end the GCP attribute condition's string
        "",
    ],
)
def test_anything_else_is_refused(repository):
    with pytest.raises(pydantic.ValidationError, match=r"github_repository"):
        CiSettings(github_repository=repository)


@pytest.mark.parametrize("branch", ["main", "release/v1", "trunk_2", "v1.2"])
def test_deploy_branches(branch):
    assert CiSettings(github_repository=REPOSITORY, deploy_branch=branch).deploy_branch == branch


@pytest.mark.parametrize(
    "branch", ["*", "release/*", "refs/heads/main", "a..b", "a//b", "/main", "main/", "x.lock", ""]
)
def test_bad_deploy_branches(branch):
    with pytest.raises(pydantic.ValidationError) as error:
        CiSettings(github_repository=REPOSITORY, deploy_branch=branch)
    refused_for(error, "deploy_branch", "deployBranch")


@pytest.mark.parametrize("environments", [[], ["prod-*"], ["prod eks"], ["a:b"], ["prod", "prod"], ["x" * 256]])
def test_bad_environments(environments):
    with pytest.raises(pydantic.ValidationError) as error:
        CiSettings(github_repository=REPOSITORY, deploy_environments=environments)
    refused_for(error, "deploy_environments", "deployEnvironments")


def test_subjects_follow_githubs_default_format():
    ci = CiSettings(github_repository=REPOSITORY)
    assert ci.preview_subjects() == (f"repo:{REPOSITORY}:pull_request", f"repo:{REPOSITORY}:ref:refs/heads/main")
    assert ci.deploy_subjects("prod-eks") == (f"repo:{REPOSITORY}:environment:prod-eks",)
    ci = CiSettings(
        github_repository=REPOSITORY, deploy_branch="live", deploy_environments=["a", "b"], pull_request_preview=False
    )
    assert ci.preview_subjects() == (f"repo:{REPOSITORY}:ref:refs/heads/live",)
    assert ci.deploy_subjects("ignored") == (f"repo:{REPOSITORY}:environment:a", f"repo:{REPOSITORY}:environment:b")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.pulumi.com", None),
        ("s3://state/ml-platform?region=us-west-2", StateBackend(scheme="s3", bucket="state", prefix="ml-platform")),
        ("s3://state", StateBackend(scheme="s3", bucket="state", prefix="")),
        ("gs://my.state_bucket/a/b/", StateBackend(scheme="gs", bucket="my.state_bucket", prefix="a/b")),
    ],
)
def test_state_backends(url, expected):
    ci = CiSettings(github_repository=REPOSITORY, state_backend_url=url)
    assert ci.state_backend() == expected == parse_state_backend(url)


def test_pulumi_objects_live_under_the_prefix():
    assert StateBackend(scheme="s3", bucket="b", prefix="p/q").object_prefix("locks") == "p/q/.pulumi/locks"
    assert StateBackend(scheme="s3", bucket="b", prefix="").object_prefix() == ".pulumi"


@pytest.mark.parametrize(
    "url", ["file:///home/me/state", "s3://", "s3://Bad_Bucket", "s3://b/*", "state", "https://", "s3://b/a b"]
)
def test_bad_state_backends(url):
    with pytest.raises(pydantic.ValidationError) as error:
        CiSettings(github_repository=REPOSITORY, state_backend_url=url)
    refused_for(error, "state_backend_url", "stateBackendUrl")


def test_secrets_providers():
    key = parse_secrets_provider("awskms://alias/ml-platform-pulumi?region=us-west-2")
    assert (key.scheme, key.key, key.region) == ("awskms", "alias/ml-platform-pulumi", "us-west-2")
    key = parse_secrets_provider("gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k")
    assert (key.scheme, key.key, key.region) == ("gcpkms", "projects/p/locations/l/keyRings/r/cryptoKeys/k", None)
    for bad in ("passphrase", "awskms://", "alias/x"):
        with pytest.raises(pydantic.ValidationError) as error:
            CiSettings(github_repository=REPOSITORY, secrets_provider=bad)
        refused_for(error, "secrets_provider", "secretsProvider")


def test_a_backend_without_a_ci_identity_refuses_the_key():
    """dev-kind runs with a local backend on the runner: no cloud identity to build, so `ci` is an error."""
    document = copy.deepcopy(stack_document("dev-kind"))
    document["config"]["ml-platform:ci"] = {"githubRepository": REPOSITORY}
    with pytest.raises(config.ConfigError) as error:
        config.parse(raw_config(document))
    (problem,) = error.value.problems
    supported = [name for name, row in backends.CLUSTERS.items() if row.ci is not None]
    assert problem.key == "ml-platform:ci"
    assert problem.allowed == "clusterBackend kind builds no CI identity; only: " + ", ".join(supported)


def test_every_ci_schema_is_the_generic_one_narrowed():
    for row in backends.CLUSTERS.values():
        if row.ci is not None:
            assert issubclass(row.ci, CiSettings)
            assert set(row.ci.state_schemes) <= set(CiSettings.state_schemes)
            assert set(row.ci.secrets_schemes) <= set(CiSettings.secrets_schemes)


def test_problems_name_the_key_and_are_reported_together():
    document = copy.deepcopy(stack_document("prod-eks"))
    document["config"]["ml-platform:ci"] = {"githubRepository": "org/*", "deployBranch": "*", "typo": True}
    with pytest.raises(config.ConfigError) as error:
        config.parse(raw_config(document))
    keys = {problem.key for problem in error.value.problems}
    assert keys == {"ml-platform:ci.githubRepository", "ml-platform:ci.deployBranch", "ml-platform:ci.typo"}
