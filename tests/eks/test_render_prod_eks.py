"""Tier 3: the prod-eks stack's real program, rendered offline from its real stack file, with mocks
answering every AWS invoke. Asserts issue 4's properties on what would be sent to AWS and Kubernetes."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from components import outputs
from components.backends.eks import mocks as eks_mocks
from components.backends.eks.settings import SystemNodeGroup
from components.contracts.cluster import GPU_NODE_LABEL, GPU_RESOURCE, GPU_TAINT_KEY
from tests.eks.iam import assert_scoped_to
from tests.rendering import load, render, stack_document

STACK = "prod-eks"
TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
WRITE_ACTIONS = {
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "autoscaling:SetDesiredCapacity",
    "autoscaling:TerminateInstanceInAutoScalingGroup",
    "kms:GenerateDataKey",
}


@pytest.fixture(scope="module")
def eks(rendered_stack):
    return rendered_stack(STACK)


def _settings():
    return stack_document(STACK)["config"]["ml-platform:eks"]


def _node_group(eks, pool: str) -> dict:
    return eks.one("aws:eks/nodeGroup:NodeGroup", f"cluster-{pool}")


def _statements(resource: dict, key: str = "policy") -> list[dict]:
    return json.loads(resource["inputs"][key])["Statement"]


def _actions(statement: dict) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def _resources(statement: dict) -> list[str]:
    resources = statement["Resource"]
    return [resources] if isinstance(resources, str) else resources


def test_vpc_spans_the_configured_zones_from_the_invoke_with_tagged_subnets(eks):
    zones = _settings()["availabilityZones"]
    subnets = eks.of_type("aws:ec2/subnet:Subnet")
    private = [s for s in subnets if "-private-" in s["name"]]
    public = [s for s in subnets if "-public-" in s["name"]]
    assert len(private) == len(public) == zones >= 2
    assert len({s["inputs"]["availabilityZone"] for s in private}) == zones, "one private subnet per AZ"
    assert all(s["inputs"]["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in private)
    assert all(s["inputs"]["tags"]["kubernetes.io/role/elb"] == "1" for s in public)
    assert all(s["inputs"]["mapPublicIpOnLaunch"] is False for s in public)


def test_nat_gateways_follow_the_setting(eks):
    expected = _settings()["availabilityZones"] if _settings()["natGateways"] == "perAz" else 1
    assert len(eks.of_type("aws:ec2/natGateway:NatGateway")) == expected
    routes = [r for r in eks.of_type("aws:ec2/route:Route") if "-private-" in r["name"]]
    assert len({r["inputs"]["natGatewayId"] for r in routes}) == expected


def test_cluster_is_hardened_as_issue_4_asks(eks):
    cluster = eks.one("eks:index:Cluster")
    inputs = cluster["inputs"]
    assert inputs["version"] == "1.33"
    assert inputs["authenticationMode"] == "API"
    assert inputs["skipDefaultNodeGroup"] is True
    assert inputs["createOidcProvider"] is True
    key = eks.one("aws:kms/key:Key", "cluster-secrets-key")
    assert key["inputs"]["enableKeyRotation"] is True
    assert inputs["encryptionConfigKeyArn"].startswith("arn:aws:kms:")
    assert set(inputs["enabledClusterLogTypes"]) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    assert inputs["endpointPublicAccess"] is True
    assert inputs["publicAccessCidrs"] == _settings()["endpoint"]["publicCidrs"]
    assert "0.0.0.0/0" not in inputs["publicAccessCidrs"]
    assert inputs["endpointPrivateAccess"] is True


def test_network_policies_are_enforced_by_the_vpc_cni_addon(eks):
    """The VPC CNI ignores NetworkPolicies unless its add-on configuration turns the agent on;
    without it the namespace's default deny would be accepted and enforced by nothing."""
    inputs = eks.one("eks:index:Cluster")["inputs"]
    assert inputs["useDefaultVpcCni"] is False, "the vpc-cni EKS add-on, configured by this program"
    assert inputs["vpcCniOptions"]["configurationValues"]["enableNetworkPolicy"] == "true"
    components = {body["metadata"]["labels"]["app.kubernetes.io/component"] for body in eks.objects("NetworkPolicy")}
    assert components == {"platform", "serving", "training"}, "the policies it enforces: default deny, and openings"


def test_no_access_entries_for_node_roles(eks):
    """EKS creates the managed node groups' access entries itself; declaring them would conflict.
    (The only declared ones are the CI roles', tests/eks/test_render_prod_eks_ci.py.)"""
    node_role = eks.one("aws:iam/role:Role", "cluster-node-role")
    declared = [entry["inputs"]["principalArn"] for entry in eks.of_type("aws:eks/accessEntry:AccessEntry")]
    assert all("/ml-platform-ci/" in arn for arn in declared), declared
    entries = eks.one("eks:index:Cluster")["inputs"].get("accessEntries") or {}
    assert not any("cluster-node-role" in entry["principalArn"] for entry in entries.values()), node_role["name"]


def test_gpu_node_group_is_tainted_labelled_and_scales_from_zero(eks):
    (pool,) = _settings()["gpuNodePools"]
    group = _node_group(eks, f"gpu-{pool['name']}")
    inputs = group["inputs"]
    assert inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert inputs["instanceTypes"] == pool["instanceTypes"]
    assert inputs["capacityType"] == pool["capacityType"]
    assert inputs["scalingConfig"]["minSize"] == 0 and inputs["scalingConfig"]["desiredSize"] == 0
    assert inputs["scalingConfig"]["maxSize"] == pool["maxSize"]
    assert inputs["taints"] == [{"key": GPU_TAINT_KEY, "value": "true", "effect": "NO_SCHEDULE"}]
    assert inputs["labels"][GPU_NODE_LABEL] == "nvidia"
    assert group["options"]["ignoreChanges"] == ["scalingConfig.desiredSize"], "autoscaler changes are not reverted"
    assert all(subnet.startswith("network-private-") for subnet in inputs["subnetIds"])


def test_every_node_group_requires_imdsv2_with_hop_limit_1(eks):
    """Without it a pod reaches the node's instance metadata, and the node role's credentials.
    The root volume's size moves into the template too: EKS refuses `diskSize` with one."""
    settings = _settings()
    disks = {"cluster-system": SystemNodeGroup().disk_size_gb} | {
        f"cluster-gpu-{pool['name']}": pool["diskSizeGb"] for pool in settings["gpuNodePools"]
    }
    groups = eks.of_type("aws:eks/nodeGroup:NodeGroup")
    assert {group["name"] for group in groups} == set(disks)
    for group in groups:
        template = eks.one("aws:ec2/launchTemplate:LaunchTemplate", f"{group['name']}-launch-template")
        assert template["urn"] in group["dependencies"]
        assert group["inputs"]["launchTemplate"]["id"].startswith("lt-")
        assert group["inputs"]["launchTemplate"]["version"] == "1", "the template's latest version"
        assert "diskSize" not in group["inputs"]
        assert template["inputs"]["metadataOptions"] == {
            "httpEndpoint": "enabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 1,
            "instanceMetadataTags": "disabled",
        }
        (root,) = template["inputs"]["blockDeviceMappings"]
        assert root["deviceName"] == "/dev/xvda"
        assert root["ebs"] == {
            "volumeSize": disks[group["name"]],
            "volumeType": "gp3",
            "encrypted": "true",
            "deleteOnTermination": "true",
        }
        assert "imageId" not in template["inputs"] and "userData" not in template["inputs"], "EKS's AMI and bootstrap"


def test_system_node_group_is_cpu_and_never_empty(eks):
    inputs = _node_group(eks, "system")["inputs"]
    assert inputs["amiType"] == "AL2023_x86_64_STANDARD"
    assert inputs["scalingConfig"]["minSize"] >= 1 and "taints" not in inputs
    assert _node_group(eks, "system")["options"]["ignoreChanges"] == ["scalingConfig.desiredSize"]


def test_gpu_auto_scaling_group_carries_the_scale_from_zero_template(eks):
    (pool,) = _settings()["gpuNodePools"]
    group = _node_group(eks, f"gpu-{pool['name']}")
    tags = [t for t in eks.of_type("aws:autoscaling/tag:Tag") if t["name"].startswith(f"cluster-gpu-{pool['name']}-")]
    by_key = {t["inputs"]["tag"]["key"]: t["inputs"]["tag"]["value"] for t in tags}
    assert by_key[f"{TEMPLATE}/label/{GPU_NODE_LABEL}"] == "nvidia"
    assert by_key[f"{TEMPLATE}/taint/{GPU_TAINT_KEY}"] == "true:NoSchedule"
    assert by_key[f"{TEMPLATE}/resources/{GPU_RESOURCE}"] == str(pool["gpusPerNode"])
    # On the group's own Auto Scaling group (managed node group tags never reach it).
    (asg_name,) = {t["inputs"]["autoscalingGroupName"] for t in tags}
    assert asg_name.startswith(f"eks-{group['name']}-")
    assert all(any(dep.endswith(f"::{group['name']}") for dep in t["dependencies"]) for t in tags)
    assert all(t["inputs"]["tag"]["propagateAtLaunch"] is False for t in tags)


def test_addons_are_pinned_charts_on_the_right_nodes(eks):
    charts = {c["inputs"]["chart"]: c for c in eks.of_type("kubernetes:helm.sh/v4:Chart")}
    plugin = charts["nvidia-device-plugin"]["inputs"]
    assert plugin["version"] == _settings()["charts"]["nvidiaDevicePlugin"]
    assert plugin["repositoryOpts"]["repo"] == "https://nvidia.github.io/k8s-device-plugin"
    assert plugin["values"]["nodeSelector"] == {GPU_NODE_LABEL: "nvidia"}
    assert {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"} in plugin["values"]["tolerations"]
    autoscaler = charts["cluster-autoscaler"]["inputs"]
    assert autoscaler["version"] == _settings()["charts"]["clusterAutoscaler"]
    assert autoscaler["values"]["autoDiscovery"] == {"clusterName": "ml-prod-eks"}
    assert autoscaler["values"]["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].startswith(
        "arn:aws:iam::"
    )
    for chart in charts.values():
        assert chart["provider"].endswith("cluster-provider")


def test_autoscaler_identity_is_least_privilege(eks):
    policy = eks.one("aws:iam/policy:Policy", "cluster-addons-autoscaler-policy")
    for statement in _statements(policy):
        if _actions(statement) & WRITE_ACTIONS:
            assert "*" not in _resources(statement)
            assert all("autoScalingGroupName/eks-cluster-" in arn for arn in _resources(statement))
    (trust,) = _statements(eks.one("aws:iam/role:Role", "cluster-addons-autoscaler-role"), "assumeRolePolicy")
    assert (
        list(trust["Condition"]["StringEquals"].values())[-1] == "system:serviceaccount:kube-system:cluster-autoscaler"
    )


def test_ecr_repositories_are_immutable_scanned_expiring_and_protected(eks):
    repositories = eks.of_type("aws:ecr/repository:Repository")
    assert {r["name"] for r in repositories} == {
        f"registry-{name}" for name in stack_document(STACK)["config"]["ml-platform:images"]
    }
    for repository in repositories:
        assert repository["inputs"]["imageTagMutability"] == "IMMUTABLE"
        assert repository["inputs"]["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repository["inputs"]["forceDelete"] is False
        assert repository["options"]["protect"] is True
    assert len(eks.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")) == len(repositories)


def test_images_are_pushed_to_ecr_for_amd64_with_secret_token_credentials(eks):
    for image in eks.of_type("docker:index/image:Image"):
        assert image["inputs"]["build"]["platform"] == "linux/amd64"
        assert ".dkr.ecr.us-west-2.amazonaws.com/registry-" in image["inputs"]["imageName"]
        # The ECR token's password is secret, so the whole registry block is.
        assert image["inputs"]["registry"] == "[secret]"


def test_artifact_bucket_is_versioned_encrypted_private_and_protected(eks):
    bucket = eks.one("aws:s3/bucket:Bucket")
    assert bucket["options"]["protect"] is True and bucket["inputs"]["forceDestroy"] is False
    versioning = eks.one("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    (rule,) = eks.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[
        "inputs"
    ]["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    block = eks.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")["inputs"]
    assert all(
        block[key] is True
        for key in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    (deny,) = _statements(eks.one("aws:s3/bucketPolicy:BucketPolicy"))
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize(("workload", "writable"), [("digits-training", True), ("digits-serving", False)])
def test_workload_identities_are_scoped_to_their_model_prefix(eks, workload, writable):
    bucket = eks.one("aws:s3/bucket:Bucket")
    bucket_name = eks.outputs[outputs.ARTIFACT_BUCKET]
    policy = eks.one("aws:iam/policy:Policy", f"{workload}-policy")
    actions = set().union(*(_actions(s) for s in _statements(policy)))
    assert ("s3:PutObject" in actions) is writable and ("s3:DeleteObject" in actions) is writable
    for statement in _statements(policy):
        assert "*" not in _resources(statement), "every statement names its resources"
        for resource in _resources(statement):
            if resource.startswith("arn:aws:s3:::"):
                assert resource in (f"arn:aws:s3:::{bucket_name}", f"arn:aws:s3:::{bucket_name}/models/digits/*")
    (trust,) = _statements(eks.one("aws:iam/role:Role", f"{workload}-role"), "assumeRolePolicy")
    subjects = [v for k, v in trust["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subjects == [f"system:serviceaccount:ml-models:{workload}"]
    attachment = eks.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"{workload}-policy-attachment")
    assert attachment["provider"] == "", "AWS resources use the AWS provider, never the workload's Kubernetes one"
    assert bucket["name"] == "artifacts-bucket"


def test_service_accounts_carry_their_role_and_workloads_wait_for_the_policy(eks):
    accounts = {body["metadata"]["name"]: body for body in eks.objects("ServiceAccount")}
    for workload in ("digits-training", "digits-serving"):
        assert accounts[workload]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith(
            f"arn:aws:iam::123456789012:role/{workload}-role-"
        )
    job = eks.one("kubernetes:batch/v1:Job")
    assert any(dep.endswith("digits-training-policy-attachment") for dep in job["dependencies"])
    assert any(dep.endswith("cluster-addons-nvidia-device-plugin") for dep in job["dependencies"])
    assert any(dep.endswith("cluster-gpu-gpu") for dep in job["dependencies"])


def test_gpu_job_lands_on_gpu_nodes_with_s3_artifacts(eks):
    (job,) = eks.objects("Job")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"][GPU_RESOURCE] == "1"
    assert pod["nodeSelector"] == {GPU_NODE_LABEL: "nvidia"}
    assert pod["tolerations"] == [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["serviceAccountName"] == "digits-training"
    assert container["args"][1].startswith(f"s3://{eks.outputs[outputs.ARTIFACT_BUCKET]}/models/digits/runs/")
    assert {"name": "AWS_REGION", "value": "us-west-2"} in container["env"]


def test_serving_is_an_nlb_admitting_the_configured_clients(eks):
    (service,) = eks.objects("Service")
    assert service["spec"]["type"] == "LoadBalancer"
    annotations = service["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
    assert annotations["service.beta.kubernetes.io/load-balancer-source-ranges"] == ",".join(
        _settings()["loadBalancer"]["sourceCidrs"]
    )
    (deployment,) = eks.objects("Deployment")
    assert "nodeSelector" not in deployment["spec"]["template"]["spec"], "CPU serving stays off GPU nodes"


def test_cluster_registry_and_bucket_are_protected(eks):
    protected = {(r["type"], r["name"]) for r in eks.resources if r["options"]["protect"]}
    assert ("eks:index:Cluster", "cluster-eks") in protected
    assert ("aws:s3/bucket:Bucket", "artifacts-bucket") in protected
    assert {name for kind, name in protected if kind == "aws:ecr/repository:Repository"} == {
        "registry-server",
        "registry-trainer",
    }
    assert eks.one("eks:index:Cluster")["inputs"]["deletionProtection"] is True


def test_stack_outputs_give_an_operator_what_they_need(eks):
    assert eks.outputs[outputs.KUBECONFIG] == "[secret]"
    assert eks.outputs[outputs.CLUSTER_NAME] == "ml-prod-eks"
    assert eks.outputs[outputs.ARTIFACT_BUCKET].startswith("artifacts-bucket-")
    assert set(eks.outputs[outputs.REGISTRY_URLS]) == {"server", "trainer"}
    assert eks.outputs[outputs.UPDATE_KUBECONFIG] == "aws eks update-kubeconfig --region us-west-2 --name ml-prod-eks"
    assert eks.outputs[outputs.MODELS]["digits"][outputs.MODEL_ENDPOINT].startswith("http://")


def test_no_secret_reaches_the_render_in_clear(eks):
    text = "\n".join(path.read_text() for path in eks.directory.rglob("*") if path.is_file())
    assert eks_mocks.ECR_PASSWORD not in text
    assert "token: mock" not in text


@pytest.fixture(scope="module")
def variant(tmp_path_factory):
    """prod-eks with a second model whose name extends the first's (digits, digits-wide) and an API
    endpoint open to the internet, rendered once from a temporary stack file."""
    document = copy.deepcopy(stack_document(STACK))
    document["config"]["ml-platform:eks"]["endpoint"]["publicCidrs"] = ["0.0.0.0/0"]
    wide = copy.deepcopy(document["config"]["ml-platform:models"][0])
    wide["name"] = "digits-wide"
    document["config"]["ml-platform:models"].append(wide)
    directory = tmp_path_factory.mktemp("variant")
    (directory / "Pulumi.variant.yaml").write_text(yaml.safe_dump(document))
    result = render("variant", directory / "out", stacks_dir=directory)
    return load(directory / "out"), result


def test_a_risky_choice_is_logged_by_the_program_and_printed_by_the_render(variant):
    _, result = variant
    assert (
        "render variant: warning: stack configuration: ml-platform:eks.endpoint.publicCidrs = "
        '["0.0.0.0/0"]: the Kubernetes API endpoint is open to the internet (these ranges admit at least half '
        "of all addresses)"
    ) in result.stderr
    assert "api-endpoint-restricted" in result.stderr


@pytest.mark.parametrize("role", ["training", "serving"])
@pytest.mark.parametrize(("model", "other"), [("digits", "digits-wide"), ("digits-wide", "digits")])
def test_artifact_roles_of_models_sharing_a_name_prefix_reach_only_their_own(variant, model, other, role):
    """Rendered from a stack with models digits and digits-wide: each role's policy reaches its
    own `models/<model>/` and nothing of the other's, objects and listings alike."""
    rendered, _ = variant
    bucket_arn = f"arn:aws:s3:::{rendered.outputs[outputs.ARTIFACT_BUCKET]}"
    policy = rendered.one("aws:iam/policy:Policy", f"{model}-{role}-policy")
    assert_scoped_to(policy["inputs"]["policy"], bucket_arn, model, other)
    (job,) = [o for o in rendered.objects("Job") if o["metadata"]["labels"]["app.kubernetes.io/name"] == model]
    output_uri = job["spec"]["template"]["spec"]["containers"][0]["args"][1]
    assert output_uri.startswith(f"s3://{rendered.outputs[outputs.ARTIFACT_BUCKET]}/models/{model}/runs/")


def _serving_config():
    return stack_document(STACK)["config"]["ml-platform:models"][0]["serving"]


def test_serving_is_autoscaled_as_the_stack_file_says(eks):
    """prod-eks ships an autoscaled model: the HPA owns the replica count and Pulumi never sets it
    after create; one pod may be drained at a time, leaving at least minReplicas - 1 serving."""
    autoscaling = _serving_config()["autoscaling"]
    assert "replicas" not in _serving_config(), "replicas and autoscaling are exclusive"
    (hpa,) = eks.objects("HorizontalPodAutoscaler")
    (deployment,) = eks.objects("Deployment")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] == autoscaling["minReplicas"] >= 2
    assert hpa["spec"]["maxReplicas"] == autoscaling["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["target"]["averageUtilization"] == autoscaling["targetCpuUtilization"]
    assert deployment["spec"]["replicas"] == autoscaling["minReplicas"]
    assert eks.one("kubernetes:apps/v1:Deployment")["options"]["ignoreChanges"] == ["spec.replicas"]
    (budget,) = eks.objects("PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1 and "minAvailable" not in budget["spec"]


def test_metrics_server_runs_on_the_system_nodes_and_autoscalers_wait_for_it(eks):
    """EKS ships no metrics-server: without one every HPA reports <unknown> and never scales."""
    chart = eks.one("kubernetes:helm.sh/v4:Chart", "cluster-addons-metrics-server")
    assert chart["inputs"]["version"] == _settings()["charts"]["metricsServer"]
    values = chart["inputs"]["values"]
    assert values["nodeSelector"] == {"ml-platform/node-pool": "system"}
    assert values["replicas"] == 2 and values["podDisruptionBudget"] == {"enabled": True, "maxUnavailable": 1}
    assert "args" not in values, "EKS kubelet certificates verify: no --kubelet-insecure-tls"
    assert any(dep.endswith("::cluster-system") for dep in chart["dependencies"])
    hpa = eks.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    assert chart["urn"] in hpa["dependencies"]
