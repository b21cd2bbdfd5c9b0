"""The policy pack as the Pulumi CLI runs it, and its enforcement levels.

`policy/__main__.py` only assembles `ALL_RULES`; the pack, started by Pulumi's own policy runtime
and driven over gRPC as the engine drives it, reports exactly what `tools.check` reports for the
same render; levels are stricter on `prod-*` stacks and the pack's config overrides them.
"""

from __future__ import annotations

import json
import runpy
from importlib.metadata import version
from pathlib import Path

import pulumi_policy
import pytest

from policy.framework import ADVISORY, DISABLED, MANDATORY, Rule, is_production
from policy.rules import ALL_RULES, PACK_NAME
from tests.policy_engine import Diagnostic, running_pack
from tests.policy_helpers import Render, add_policy_statement, known_urns
from tools.check import RuleConfig, check_document, parse_config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACK_MAIN = PROJECT_ROOT / "policy" / "__main__.py"
_STRENGTH = {DISABLED: 0, ADVISORY: 1, MANDATORY: 2}


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            pins[name.strip()] = pinned.strip()
    return pins


@pytest.mark.parametrize(("stack", "production"), [("dev-kind", False), ("prod-eks", True)])
def test_main_assembles_exactly_the_tested_rules(monkeypatch, stack, production):
    """Run the pack's entry point with PolicyPack replaced (the real one starts a server and blocks)."""
    packs = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: packs.append(kwargs))
    monkeypatch.setenv("PULUMI_STACK", stack)
    runpy.run_path(str(PACK_MAIN), run_name="__main__")
    assert len(packs) == 1
    assert packs[0]["name"] == PACK_NAME
    policies = packs[0]["policies"]
    assert [policy.name for policy in policies] == [rule.name for rule in ALL_RULES]
    expected = [rule.production_level if production else rule.level for rule in ALL_RULES]
    assert [policy.enforcement_level for policy in policies] == expected


def test_production_levels_are_never_weaker_and_some_are_stricter():
    assert all(_STRENGTH[rule.production_level] >= _STRENGTH[rule.level] for rule in ALL_RULES)
    assert any(_STRENGTH[rule.production_level] > _STRENGTH[rule.level] for rule in ALL_RULES)
    with pytest.raises(ValueError, match="may not be weaker"):
        Rule(name="x", description="x", level=MANDATORY, production_level=ADVISORY, validate_resource=lambda a, r: None)
    with pytest.raises(ValueError, match="exactly one"):
        Rule(name="x", description="x", level=ADVISORY, production_level=ADVISORY)


def test_production_is_the_prod_prefix_of_the_stack_name():
    assert is_production("prod-eks") and is_production("acme/ml-platform/prod-gke")
    assert not is_production("dev-kind") and not is_production("staging-prod")


def test_config_all_sets_every_level_and_a_rule_entry_wins():
    config = parse_config({"all": "advisory", "pod-security-restricted": {"enforcementLevel": "disabled"}})
    from tools.check import effective_level

    levels = {rule.name: effective_level(rule, "prod-eks", config) for rule in ALL_RULES}
    assert levels["pod-security-restricted"] == DISABLED
    assert {level for name, level in levels.items() if name != "pod-security-restricted"} == {ADVISORY}


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"no-such-rule": "advisory"}, "no such rule"),
        ({"image-not-latest": "blocking"}, "must be one of advisory, mandatory, disabled"),
        ({"image-from-stack-registry": {"allowedRegistry": ["x"]}}, "no such setting"),
        ({"image-from-stack-registry": {"allowedRegistries": "ghcr.io"}}, "must be a JSON array"),
        ([], "expected a JSON object"),
    ],
)
def test_bad_config_is_refused_with_what_is_wrong(raw, error):
    from tools.check import CheckError

    with pytest.raises(CheckError, match=error):
        parse_config(raw)


def test_pack_pins_the_program_s_pulumi_and_the_installed_policy_sdk():
    pack = _pins(PROJECT_ROOT / "policy" / "requirements.txt")
    program = _pins(PROJECT_ROOT / "requirements.txt")
    assert pack["pulumi"] == program["pulumi"]
    assert version("pulumi-policy") == pack["pulumi-policy"]


def _check(document, config=None):
    return sorted(
        Diagnostic(rule=v.rule, level=v.level, urn=v.urn, message=v.message)
        for v in check_document(document, parse_config(config or {}))
    )


def _break_prod_eks(render: Render) -> None:
    """Several rules at once: one resource rule and one stack rule per group, at least."""
    job = render.pod("kubernetes:batch/v1:Job")
    job.pop("tolerations")
    job["containers"][0]["image"] = "nginx:latest"
    render.gpu_pool()["scalingConfig"]["minSize"] = 1
    render.one("aws:s3/bucketVersioning:BucketVersioning")["inputs"]["versioningConfiguration"]["status"] = "Suspended"
    render.one("eks:index:Cluster")["options"]["protect"] = False
    add_policy_statement({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"})(render)


@pytest.mark.parametrize(
    ("stack", "mutate", "config"),
    [
        ("dev-kind", None, None),
        ("prod-eks", None, None),
        ("prod-eks", _break_prod_eks, None),
        (
            "prod-eks",
            _break_prod_eks,
            {
                "gpu-pool-scales-from-zero": "mandatory",
                "image-from-stack-registry": {"allowedRegistries": ["docker.io"]},
            },
        ),
    ],
    ids=["dev-kind", "prod-eks", "prod-eks-broken", "prod-eks-broken-configured"],
)
def test_the_running_pack_reports_what_tools_check_reports(rendered_stack, stack, mutate, config):
    render = Render(rendered_stack(stack))
    if mutate is not None:
        mutate(render)
    with running_pack(stack) as engine:
        assert [policy.name for policy in engine.info.policies] == [rule.name for rule in ALL_RULES]
        if config:
            engine.configure(config)
        served = engine.analyze(render.resources)
    checked = _check(render.document, config)
    assert served == checked
    if mutate is not None:
        assert {d.rule for d in served if d.level == "mandatory"} >= {
            "gpu-pod-placement",
            "image-not-latest",
            "object-store-versioned",
            "production-resources-protected",
            "iam-no-write-on-all-resources",
        }


def _grant_admin_on_eks(render: Render) -> list[str]:
    """AWS managed admin policies, attached two ways; the URNs that must be reported."""
    attachment = render.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "cluster-node-worker")
    attachment["inputs"]["policyArn"] = "arn:aws:iam::aws:policy/AdministratorAccess"
    role = render.one("aws:iam/role:Role", "ci-preview-role")
    role["inputs"]["managedPolicyArns"] = [
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws:iam::aws:policy/IAMFullAccess",
    ]
    return [attachment["urn"], role["urn"]]


def _grant_owner_on_gke(render: Render) -> list[str]:
    """GCP basic roles, granted by a project policy and on a service account; the URNs that must be reported."""
    member = render.one("gcp:serviceaccount/iAMMember:IAMMember", "ci-deploy-acts-as-nodes")
    member["inputs"]["role"] = "roles/editor"
    sibling = render.one("gcp:projects/iAMMember:IAMMember", "ci-deploy-viewer")
    bindings = [{"role": "roles/owner", "members": ["user:ops@example.com"]}]
    render.add_beside(
        sibling, "gcp:projects/iAMPolicy:IAMPolicy", "policy", {"policyData": json.dumps({"bindings": bindings})}
    )
    return [member["urn"], render.one("gcp:projects/iAMPolicy:IAMPolicy")["urn"]]


@pytest.mark.parametrize(("stack", "grant"), [("prod-eks", _grant_admin_on_eks), ("prod-gke", _grant_owner_on_gke)])
def test_the_running_pack_reports_every_way_to_grant_write_on_everything(rendered_stack, stack, grant):
    """Managed policies and basic roles, as the engine passes them, are findings of the same mandatory rule."""
    render = Render(rendered_stack(stack))
    urns = grant(render)
    with running_pack(stack) as engine:
        served = engine.analyze(render.resources)
    assert served == _check(render.document)
    reported = [d.urn for d in served if d.rule == "iam-no-write-on-all-resources" and d.level == "mandatory"]
    assert sorted(reported) == sorted(urns + known_urns(render, stack))


def _open_and_public_on_eks(render: Render) -> dict[str, list[str]]:
    """An IPv4-mapped range that is every IPv4 address, half the addresses, a role anyone may assume
    (its condition says how, not who), a public repository, a Lambda anyone may invoke, a public-read
    bucket ACL, an ARN pattern that names the account but no resource, a pod-level Unconfined seccomp
    profile; the URNs each rule must report."""
    service = render.one("kubernetes:core/v1:Service")
    service["inputs"]["metadata"]["annotations"]["service.beta.kubernetes.io/load-balancer-source-ranges"] = (
        "::ffff:0.0.0.0/96"
    )
    cluster = render.one("eks:index:Cluster")
    cluster["inputs"]["publicAccessCidrs"] = [" 0.0.0.0/1"]
    role = render.one("aws:iam/role:Role", "ci-preview-role")
    trust = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"AWS": "*"},
        "Condition": {"Bool": {"aws:SecureTransport": "true"}},
    }
    role["inputs"]["assumeRolePolicy"] = json.dumps({"Version": "2012-10-17", "Statement": [trust]})
    repository = render.one("aws:ecr/repository:Repository", "registry-server")
    pull = {"Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}
    render.add_beside(
        repository,
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "public",
        {"repository": "registry-server", "policy": json.dumps({"Statement": [pull]})},
    )
    invoke = {"function": "f", "action": "lambda:InvokeFunction", "principal": "*"}
    render.add_beside(repository, "aws:lambda/permission:Permission", "invoke", invoke)
    render.add_beside(repository, "aws:s3/bucketAclV2:BucketAclV2", "acl", {"bucket": "b", "acl": "public-read"})
    statement = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::123456789012:*"}
    add_policy_statement(statement)(render)
    job = render.one("kubernetes:batch/v1:Job")
    job["inputs"]["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]["type"] = "Unconfined"
    return {
        "load-balancer-restricted": [service["urn"]],
        "api-endpoint-restricted": [cluster["urn"]],
        "iam-no-public-principals": [
            role["urn"],
            render.one("aws:ecr/repositoryPolicy:RepositoryPolicy")["urn"],
            render.one("aws:lambda/permission:Permission")["urn"],
            render.one("aws:s3/bucketAclV2:BucketAclV2")["urn"],
        ],
        "iam-no-write-on-all-resources": [
            render.one("aws:iam/policy:Policy", "digits-training-policy")["urn"],
            *known_urns(render, "prod-eks"),
        ],
        "pod-security-restricted": [job["urn"]],
    }


def _open_and_public_on_gke(render: Render) -> dict[str, list[str]]:
    """A public registry, a public-read bucket ACL, a project IAM admin whose condition spells owner
    with an escape, authorized networks that cover every address together; the URNs each rule must
    report."""
    reader = render.one("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember", "cluster-registry-reader")
    reader["inputs"]["member"] = "allUsers"
    sibling = render.one("gcp:projects/iAMMember:IAMMember", "ci-deploy-viewer")
    render.add_beside(
        sibling,
        "gcp:projects/iAMMember:IAMMember",
        "security-admin",
        {
            "role": "roles/resourcemanager.projectIamAdmin",
            "member": "user:ops@example.com",
            "project": "my-ml-project",
            "condition": {
                "title": "owner, escaped",
                "expression": "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
                '.hasOnly(["roles/\\u006fwner"])',
            },
        },
    )
    render.add_beside(sibling, "gcp:storage/bucketACL:BucketACL", "acl", {"bucket": "b", "predefinedAcl": "publicRead"})
    cluster = render.one("gcp:container/cluster:Cluster")
    cluster["inputs"]["masterAuthorizedNetworksConfig"]["cidrBlocks"] = [
        {"cidrBlock": "0.0.0.0/1"},
        {"cidrBlock": "128.0.0.0/1"},
    ]
    admin = render.one("gcp:projects/iAMMember:IAMMember", "security-admin")
    return {
        "iam-no-public-principals": [reader["urn"], render.one("gcp:storage/bucketACL:BucketACL")["urn"]],
        "iam-no-write-on-all-resources": [admin["urn"], *known_urns(render, "prod-gke")],
        "api-endpoint-restricted": [cluster["urn"]],
    }


@pytest.mark.parametrize(
    ("stack", "mutate"), [("prod-eks", _open_and_public_on_eks), ("prod-gke", _open_and_public_on_gke)]
)
def test_the_running_pack_refuses_open_ranges_public_principals_and_escalations(rendered_stack, stack, mutate):
    """What the engine passes (ranges in a Struct, policies as JSON strings) reaches the same checks:
    each is a mandatory finding on exactly the resources edited."""
    render = Render(rendered_stack(stack))
    expected = mutate(render)
    with running_pack(stack) as engine:
        served = engine.analyze(render.resources)
    assert served == _check(render.document)
    for rule, urns in expected.items():
        reported = [d.urn for d in served if d.rule == rule and d.level == "mandatory"]
        assert sorted(reported) == sorted(urns), rule


def test_rule_config_reaches_the_rule(rendered_stack):
    """A setting in the config file changes what the rule reports (here: an allowed registry)."""
    render = Render(rendered_stack("prod-eks"))
    render.container("kubernetes:apps/v1:Deployment")["image"] = "nginx@sha256:" + "0" * 64
    names = {v.rule for v in check_document(render.document)}
    assert "image-from-stack-registry" in names
    config = {
        "image-from-stack-registry": RuleConfig(level=None, settings={"allowedRegistries": ["docker.io/library"]})
    }
    assert "image-from-stack-registry" not in {v.rule for v in check_document(render.document, config)}


def test_readme_lists_every_rule_at_its_levels():
    rows = []
    for line in (PROJECT_ROOT / "policy" / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows.append((cells[0].strip("`"), cells[1], cells[2]))
    assert rows == [(rule.name, rule.level.value, rule.production_level.value) for rule in ALL_RULES]


def test_the_rules_config_warnings_name_exist_in_the_pack():
    """A warning at `pulumi up` names the policy rule that flags the same choice: that rule exists."""
    from components.backends import exposure
    from policy.rules import ALL_RULES

    names = {rule.name for rule in ALL_RULES}
    assert {exposure.ENDPOINT_RULE, exposure.LOAD_BALANCER_RULE} <= names
