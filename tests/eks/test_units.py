"""Tier 1 for the EKS backend: the `ml-platform:eks` schema and the pure builders (policies, subnet
layout, scale-from-zero tags, load balancer annotations), with no Pulumi engine."""

from __future__ import annotations

import copy
import ipaddress
import json

import pytest

from components import config
from components.backends.eks import policies as eks_policies
from components.backends.eks.settings import EksSettings
from tests.eks.iam import assert_scoped_to
from tests.rendering import raw_config, stack_document

STACK = "prod-eks"
WRITE_ACTIONS = (
    "s3:PutObject",
    "s3:DeleteObject",
    "autoscaling:SetDesiredCapacity",
    "autoscaling:TerminateInstanceInAutoScalingGroup",
)


def _parse_with(**eks_changes):
    document = copy.deepcopy(stack_document(STACK))
    document["config"]["ml-platform:eks"].update(eks_changes)
    return config.parse(raw_config(document))


def _problems(**eks_changes) -> list[str]:
    with pytest.raises(config.ConfigError) as error:
        _parse_with(**eks_changes)
    return [str(problem) for problem in error.value.problems]


def test_stack_file_parses_into_eks_settings():
    stack = _parse_with()
    assert isinstance(stack.backend_settings, EksSettings)
    assert stack.backend_settings.gpu_node_pools[0].min_size == 0


def test_errors_name_the_key_the_value_and_what_is_allowed():
    pools = [{"name": "gpu", "instanceTypes": ["g5.xlarge"], "minSize": 3, "maxSize": 1}]
    problems = _problems(gpuNodePools=pools, availabilityZones=1, natGateways="some", vpcCidr="10.0.0.0/8")
    text = "\n".join(problems)
    assert "ml-platform:eks.gpuNodePools[0]" in text and "maxSize (1) must be at least minSize (3)" in text
    assert "ml-platform:eks.availabilityZones = 1" in text
    assert 'ml-platform:eks.natGateways = "some"' in text
    assert "ml-platform:eks.vpcCidr" in text and "/16 to /20" in text


def test_unknown_eks_keys_are_errors_listing_the_allowed_ones():
    (problem,) = _problems(gpuPools=[])
    assert problem.startswith("ml-platform:eks.gpuPools") and "gpuNodePools" in problem


def test_pool_names_must_be_unique_and_labels_cannot_override_the_platforms():
    pool = {"name": "gpu", "instanceTypes": ["g5.xlarge"], "maxSize": 1}
    assert any("unique" in p for p in _problems(gpuNodePools=[pool, pool]))
    relabelled = {**pool, "labels": {"ml-platform/accelerator": "cpu"}}
    assert any("reserved" in p for p in _problems(gpuNodePools=[relabelled]))


def test_public_endpoint_needs_explicit_cidrs_and_private_takes_none():
    assert any("publicCidrs is required" in p for p in _problems(endpoint={"public": True}))
    assert any("must be empty" in p for p in _problems(endpoint={"public": False, "publicCidrs": ["10.0.0.0/8"]}))
    assert _parse_with(endpoint={"public": False}).backend_settings.endpoint.public is False


def test_gpu_pools_default_to_zero_nodes_and_on_demand():
    stack = _parse_with(
        gpuNodePools=[{"name": "a100", "instanceTypes": ["p4d.24xlarge"], "gpusPerNode": 8, "maxSize": 1}]
    )
    (pool,) = stack.backend_settings.gpu_node_pools
    assert (pool.min_size, pool.capacity_type, pool.disk_size_gb) == (0, "ON_DEMAND", 100)


def test_eks_settings_are_refused_on_the_kind_backend():
    document = copy.deepcopy(stack_document("dev-kind"))
    document["config"]["ml-platform:eks"] = {"endpoint": {"public": False}}
    with pytest.raises(config.ConfigError, match=r"ml-platform:eks .*only allowed when clusterBackend is eks"):
        config.parse(raw_config(document))


def _statements(document: str) -> list[dict]:
    return json.loads(document)["Statement"]


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


@pytest.mark.parametrize("writable", [True, False])
def test_artifact_policy_is_limited_to_the_models_prefix(writable):
    bucket, key = "arn:aws:s3:::b", "arn:aws:kms:us-west-2:1:key/k"
    statements = _statements(eks_policies.artifact_policy(bucket, key, "digits", writable))
    actions = {action for statement in statements for action in _actions(statement)}
    assert ("s3:PutObject" in actions) is writable and ("s3:DeleteObject" in actions) is writable
    for statement in statements:
        assert statement["Resource"] != "*" and "*" not in statement["Resource"].split(":::")[-1].split("/")[0]
        if "s3:GetObject" in _actions(statement):
            assert statement["Resource"] == f"{bucket}/models/digits/*"
        if "s3:ListBucket" in _actions(statement):
            assert statement["Condition"]["StringLike"]["s3:prefix"] == ["models/digits/", "models/digits/*"]


@pytest.mark.parametrize("writable", [True, False])
@pytest.mark.parametrize(("model", "other"), [("digits", "digits-wide"), ("digits-wide", "digits")])
def test_a_models_roles_cannot_reach_a_model_whose_name_extends_its_own(model, other, writable):
    """`models/digits` is also the start of `models/digits-wide/...`: every object and list
    permission is scoped to `models/<model>/`, trailing slash included."""
    bucket, key = "arn:aws:s3:::b", "arn:aws:kms:us-west-2:1:key/k"
    assert_scoped_to(eks_policies.artifact_policy(bucket, key, model, writable), bucket, model, other)


def test_irsa_trust_names_exactly_one_service_account():
    (statement,) = _statements(
        eks_policies.irsa_trust_policy(
            "arn:aws:iam::1:oidc-provider/oidc.example/id/X", "https://oidc.example/id/X", "ml", "sa"
        )
    )
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {
        "oidc.example/id/X:sub": "system:serviceaccount:ml:sa",
        "oidc.example/id/X:aud": "sts.amazonaws.com",
    }


def test_autoscaler_writes_only_to_its_own_groups():
    statements = _statements(eks_policies.cluster_autoscaler_policy("us-west-2", "1", "c", ["g1", "g2"]))
    for statement in statements:
        if set(_actions(statement)) & set(WRITE_ACTIONS):
            assert statement["Resource"] != "*"
            assert all(
                arn.endswith(("autoScalingGroupName/g1", "autoScalingGroupName/g2")) for arn in statement["Resource"]
            )
            assert statement["Condition"]["StringEquals"] == {"aws:ResourceTag/k8s.io/cluster-autoscaler/c": "owned"}
        elif statement["Resource"] == "*":
            assert all(":Describe" in action or ":Get" in action for action in _actions(statement))


def test_subnet_layout_gives_disjoint_blocks_inside_the_vpc():
    from components.backends.eks.network import subnet_cidrs

    for zones in (2, 3, 6):
        private, public = subnet_cidrs("10.0.0.0/16", zones)
        blocks = [ipaddress.IPv4Network(cidr) for cidr in private + public]
        assert len(private) == len(public) == zones
        assert all(block.subnet_of(ipaddress.IPv4Network("10.0.0.0/16")) for block in blocks)
        assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])


def test_too_few_zones_in_the_region_is_an_error_naming_the_key():
    from components.backends.eks.network import pick_zone

    with pytest.raises(ValueError, match=r"ml-platform:eks\.availabilityZones asks for 3 zones"):
        pick_zone(["a", "b"], 0, 3)


def test_scale_from_zero_tags_describe_labels_taints_and_gpus():
    from components.backends.eks.node_groups import scale_from_zero_tags

    tags = scale_from_zero_tags({"ml-platform/accelerator": "nvidia"}, {"nvidia.com/gpu": "true:NoSchedule"}, 4)
    prefix = "k8s.io/cluster-autoscaler/node-template"
    assert tags == {
        f"{prefix}/label/ml-platform/accelerator": "nvidia",
        f"{prefix}/taint/nvidia.com/gpu": "true:NoSchedule",
        f"{prefix}/resources/nvidia.com/gpu": "4",
    }


def test_load_balancer_annotations_follow_the_settings():
    from components.backends.eks.cluster import load_balancer_annotations

    internal = _parse_with(loadBalancer={"internal": True, "sourceCidrs": ["10.0.0.0/8"]}).backend_settings
    annotations = load_balancer_annotations(internal)
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-internal"] == "true"
    assert annotations["service.beta.kubernetes.io/load-balancer-source-ranges"] == "10.0.0.0/8"
    public = _parse_with(loadBalancer={"internal": False, "sourceCidrs": ["203.0.113.0/24"]}).backend_settings
    assert "service.beta.kubernetes.io/aws-load-balancer-internal" not in load_balancer_annotations(public)


def test_ecr_lifecycle_expires_untagged_and_keeps_the_newest():
    from components.backends.eks.registry import lifecycle_policy

    rules = json.loads(lifecycle_policy(30))["rules"]
    assert [rule["selection"]["tagStatus"] for rule in rules] == ["untagged", "any"]
    assert rules[1]["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30}


def _stack_with(models=None, **eks_changes):
    document = copy.deepcopy(stack_document(STACK))
    document["config"]["ml-platform:eks"].update(eks_changes)
    if models is not None:
        models(document["config"]["ml-platform:models"])
    return document


def _problems_of(document) -> list[config.Problem]:
    with pytest.raises(config.ConfigError) as error:
        config.parse(raw_config(document))
    return error.value.problems


def test_the_shipped_stack_has_no_warnings():
    assert _parse_with().warnings == ()


@pytest.mark.parametrize("cidrs", [["0.0.0.0/0"], ["0.0.0.0/1", "128.0.0.0/1"], ["203.0.113.0/24", "0.0.0.0/0"]])
def test_an_api_endpoint_open_to_the_internet_is_a_warning_naming_the_policy_rule(cidrs):
    """A production choice (CI runners without fixed addresses), so allowed, but never silently."""
    (warning,) = _parse_with(endpoint={"public": True, "publicCidrs": cidrs}).warnings
    assert warning.key == "ml-platform:eks.endpoint.publicCidrs"
    assert (
        "open to the internet (these ranges admit at least half of all addresses)" in warning.allowed
        and "api-endpoint-restricted" in warning.allowed
    )


def test_a_load_balancer_without_source_ranges_is_an_error():
    """An NLB without source ranges admits 0.0.0.0/0; that used to be the silent default."""
    (problem,) = _problems_of(_stack_with(loadBalancer={"internal": False}))
    assert problem.key == "ml-platform:eks.loadBalancer.sourceCidrs"
    assert "required because ml-platform:models[0].serving.serviceType is LoadBalancer" in problem.allowed


def test_source_ranges_are_not_required_without_a_load_balancer():
    def cluster_ip(models):
        models[0]["serving"]["serviceType"] = "ClusterIP"

    config.parse(raw_config(_stack_with(cluster_ip, loadBalancer={})))


def test_a_load_balancer_open_to_the_internet_is_a_warning_unless_internal():
    (warning,) = _parse_with(loadBalancer={"internal": False, "sourceCidrs": ["0.0.0.0/0"]}).warnings
    assert warning.key == "ml-platform:eks.loadBalancer.sourceCidrs"
    assert "ml-platform:models[0].serving.serviceType" in warning.allowed
    assert "load-balancer-restricted" in warning.allowed
    assert _parse_with(loadBalancer={"internal": True, "sourceCidrs": ["0.0.0.0/0"]}).warnings == ()


def test_a_pod_asking_for_more_gpus_than_any_pool_has_per_node_is_an_error():
    """2 GPUs per pod with only 1-GPU nodes can never be scheduled: the Job would pend until its deadline."""

    def two_gpus(models):
        models[0]["training"]["resources"]["gpus"] = 2
        models[0]["training"]["processesPerNode"] = 2

    (problem,) = _problems_of(_stack_with(two_gpus))
    assert problem.key == "ml-platform:models[0].training.resources.gpus" and problem.value == 2
    assert "no GPU node pool has 2 GPUs per node" in problem.allowed and "gpu: 1" in problem.allowed
    pools = [{"name": "gpu4", "instanceTypes": ["g5.12xlarge"], "gpusPerNode": 4, "maxSize": 1}]
    config.parse(raw_config(_stack_with(two_gpus, gpuNodePools=pools)))


def test_a_multi_node_run_larger_than_the_gpu_pools_can_hold_is_an_error():
    def three_nodes(models):
        models[0]["training"]["nodes"] = 3

    (problem,) = _problems_of(_stack_with(three_nodes))
    assert problem.key == "ml-platform:models[0].training.resources.gpus"
    assert "3 pods must all run at once" in problem.allowed and "hold at most 2" in problem.allowed


def test_gpu_requests_without_any_gpu_pool_run_on_cpu_and_are_not_an_error():
    config.parse(raw_config(_stack_with(gpuNodePools=[])))


def test_an_unquoted_chart_version_says_quote_it():
    """`clusterAutoscaler: 9.50` is the number 9.5 to YAML; the message says to quote it."""
    (problem,) = _problems(charts={"clusterAutoscaler": 9.5})
    assert problem.startswith("ml-platform:eks.charts.clusterAutoscaler = 9.5") and "quote it" in problem


@pytest.mark.parametrize(
    "vpc_cidr",
    [
        "127.0.0.0/16",  # loopback: `ipaddress.is_private` admits it
        "169.254.0.0/16",  # link-local
        "0.0.0.0/16",
        "8.8.0.0/16",
        "172.15.0.0/16",  # just below 172.16/12
        "100.128.0.0/16",  # just above 100.64/10
        "10.0.0.0",  # a bare address
        "10.0.0.0/21",  # too small for a private and a public subnet per AZ
    ],
)
def test_the_vpc_is_a_private_block_from_16_to_20(vpc_cidr):
    (problem,) = _problems(vpcCidr=vpc_cidr)
    assert problem.startswith(f'ml-platform:eks.vpcCidr = "{vpc_cidr}": must be a private IPv4 CIDR block, /16 to /20')
    assert "10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (RFC 1918), or 100.64.0.0/10 (RFC 6598)" in problem


@pytest.mark.parametrize("vpc_cidr", ["10.0.0.0/16", "172.31.0.0/16", "192.168.0.0/20", "100.64.0.0/16"])
def test_the_vpc_may_be_in_any_private_range(vpc_cidr):
    assert _parse_with(vpcCidr=vpc_cidr).backend_settings.vpc_cidr == vpc_cidr


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:role/admin\n",
        "arn:aws:iam::\uff1123456789012:role/admin",
        "arn:aws:iam::123456789012:role/ad min",
    ],
)
def test_an_admin_arn_is_matched_whole_and_in_ascii(arn):
    (problem,) = _problems(adminPrincipalArns=[arn])
    assert "is not an IAM role or user ARN (arn:aws:iam::<12-digit account>:role/<name> or :user/<name>)" in problem


def test_an_aws_region_is_ascii():
    document = copy.deepcopy(stack_document(STACK))
    document["config"]["aws:region"] = "us-west-\uff12"
    (problem,) = _problems_of(document)
    assert problem.key == "aws:region" and "must be an AWS region" in problem.allowed
