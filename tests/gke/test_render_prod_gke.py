"""Tier 3: the prod-gke stack's real program, rendered offline from its real stack file, with mocks
answering every Google Cloud API and invoke. Asserts issue 7's properties on what would be sent to
Google Cloud and Kubernetes (inputs under their camelCase names, as the engine receives them)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from components import outputs
from components.backends.gke import mocks as gke_mocks
from components.contracts.cluster import GPU_NODE_LABEL, GPU_RESOURCE, GPU_TAINT_KEY
from tests.rendering import Rendered, load, render, stack_document

STACK = "prod-gke"
KEY = "ml-platform:gke"
NODE_POOL = "gcp:container/nodePool:NodePool"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
PROJECT = "my-ml-project"


@pytest.fixture(scope="module")
def gke(rendered_stack) -> Rendered:
    return rendered_stack(STACK)


def _settings() -> dict:
    return stack_document(STACK)["config"][KEY]


def _render_variant(tmp_path_factory, name: str, edit) -> tuple[Rendered, str]:
    """Renders prod-gke's stack file after `edit(document)`; returns the render and the tool's stderr."""
    document = copy.deepcopy(stack_document(STACK))
    edit(document)
    stacks = tmp_path_factory.mktemp(f"stacks-{name}")
    (stacks / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document))
    out = tmp_path_factory.mktemp(f"render-{name}") / "out"
    result = render(name, out, stacks_dir=stacks)
    return load(out), result.stderr


def _wide(document: dict) -> None:
    """A zonal cluster open to the internet (with its warning), a spot GPU pool shared by time
    slicing, internal load balancers, no protection, and a second model whose name extends the first's."""
    config = document["config"]
    gke = config[KEY]
    gke["zone"] = "us-central1-a"
    gke["endpoint"] = {"public": True, "authorizedNetworks": ["0.0.0.0/0"]}
    gke["gpuNodePools"][0].update(
        spot=True,
        gpuDriverVersion="DEFAULT",
        gpuSharing={"strategy": "TIME_SHARING", "maxSharedClientsPerGpu": 4},
        zones=["us-central1-a"],
    )
    gke["loadBalancer"] = {"internal": True, "sourceCidrs": ["10.0.0.0/8"]}
    gke["registry"]["vulnerabilityScanning"] = False
    gke["protect"] = False
    wide = copy.deepcopy(config["ml-platform:models"][0])
    wide["name"] = "digits-wide"
    config["ml-platform:models"].append(wide)


def _private(document: dict) -> None:
    document["config"][KEY]["endpoint"] = {"public": False, "authorizedNetworks": ["10.0.0.0/8"]}


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> tuple[Rendered, str]:
    return _render_variant(tmp_path_factory, "gke-wide", _wide)


@pytest.fixture(scope="module")
def private(tmp_path_factory) -> tuple[Rendered, str]:
    return _render_variant(tmp_path_factory, "gke-private", _private)


def _pool(rendered: Rendered, name: str) -> dict:
    return rendered.one(NODE_POOL, f"cluster-{name}")


def _node_account_email(rendered: Rendered) -> str:
    return rendered.one("gcp:container/cluster:Cluster")["inputs"]["nodeConfig"]["serviceAccount"]


def _output_uri(container: dict) -> str:
    args = container["args"]
    return args[args.index("--output-uri") + 1]


def _dependency_names(resource: dict) -> set[str]:
    return {dependency.rsplit("::", 1)[-1] for dependency in resource["dependencies"]}


# Network


def test_network_is_custom_mode_with_a_vpc_native_subnet(gke):
    ranges = _settings()["network"]
    network = gke.one("gcp:compute/network:Network")
    assert network["inputs"]["autoCreateSubnetworks"] is False
    subnet = gke.one("gcp:compute/subnetwork:Subnetwork")["inputs"]
    assert subnet["network"].startswith(f"projects/{PROJECT}/global/networks/network-vpc-")
    assert subnet["region"] == "us-central1" and subnet["ipCidrRange"] == ranges["nodesCidr"]
    assert subnet["secondaryIpRanges"] == [
        {"rangeName": "pods", "ipCidrRange": ranges["podsCidr"]},
        {"rangeName": "services", "ipCidrRange": ranges["servicesCidr"]},
    ]
    assert subnet["privateIpGoogleAccess"] is True
    cluster = gke.one("gcp:container/cluster:Cluster")["inputs"]
    assert cluster["networkingMode"] == "VPC_NATIVE"
    assert cluster["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": "pods",
        "servicesSecondaryRangeName": "services",
    }
    assert cluster["subnetwork"].startswith(f"projects/{PROJECT}/regions/us-central1/subnetworks/network-subnet-")


def test_private_nodes_reach_registries_through_cloud_nat(gke):
    router = gke.one("gcp:compute/router:Router")["inputs"]
    nat = gke.one("gcp:compute/routerNat:RouterNat")
    subnet_id = gke.one("gcp:container/cluster:Cluster")["inputs"]["subnetwork"]
    assert router["network"] == gke.one("gcp:container/cluster:Cluster")["inputs"]["network"]
    assert nat["inputs"]["router"].startswith("network-router-")
    assert nat["inputs"]["region"] == router["region"] == "us-central1"
    assert nat["inputs"]["natIpAllocateOption"] == "AUTO_ONLY"
    assert nat["inputs"]["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    assert nat["inputs"]["subnetworks"] == [{"name": subnet_id, "sourceIpRangesToNats": ["ALL_IP_RANGES"]}]
    for pool in gke.of_type(NODE_POOL):
        assert "network-nat" in _dependency_names(pool), "nodes boot only once they have egress"


# Cluster


def test_cluster_is_regional_standard_on_the_release_channel_with_workload_identity(gke):
    cluster = gke.one("gcp:container/cluster:Cluster")
    inputs = cluster["inputs"]
    assert inputs["name"] == "ml-prod-gke" and inputs["project"] == PROJECT
    assert inputs["location"] == "us-central1", "regional: the region, not a zone"
    assert inputs["releaseChannel"] == {"channel": _settings()["releaseChannel"]} == {"channel": "REGULAR"}
    assert inputs["minMasterVersion"] == "1.33"
    assert inputs["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}
    assert "enableAutopilot" not in inputs
    assert inputs["removeDefaultNodePool"] is True and inputs["initialNodeCount"] == 1
    # The removed default pool never ran as the Compute Engine default account.
    assert inputs["nodeConfig"]["serviceAccount"].startswith("cluster-nodes-")
    assert inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert cluster["options"]["ignoreChanges"] == ["nodeConfig"]


def test_cluster_has_private_nodes_and_only_the_configured_authorized_networks(gke):
    inputs = gke.one("gcp:container/cluster:Cluster")["inputs"]
    assert inputs["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": False}
    authorized = inputs["masterAuthorizedNetworksConfig"]
    assert [block["cidrBlock"] for block in authorized["cidrBlocks"]] == _settings()["endpoint"]["authorizedNetworks"]
    assert "0.0.0.0/0" not in [block["cidrBlock"] for block in authorized["cidrBlocks"]]
    assert authorized["gcpPublicCidrsAccessEnabled"] is False
    assert authorized["privateEndpointEnforcementEnabled"] is True
    assert inputs["masterAuth"] == {"clientCertificateConfig": {"issueClientCertificate": False}}
    assert inputs["enableLegacyAbac"] is False


def test_dataplane_v2_enforces_network_policies_and_nodes_are_shielded(gke):
    inputs = gke.one("gcp:container/cluster:Cluster")["inputs"]
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH"
    assert "networkPolicy" not in inputs, "Dataplane V2 enforces policies itself; the Calico add-on conflicts"
    assert inputs["enableShieldedNodes"] is True
    for pool in gke.of_type(NODE_POOL):
        assert pool["inputs"]["nodeConfig"]["shieldedInstanceConfig"] == {
            "enableSecureBoot": True,
            "enableIntegrityMonitoring": True,
        }
    assert {o["spec"]["policyTypes"][0] for o in gke.objects("NetworkPolicy")} == {"Ingress"}


def test_deletion_protection_follows_protect(gke, wide):
    assert gke.one("gcp:container/cluster:Cluster")["inputs"]["deletionProtection"] is True
    rendered, _ = wide
    cluster = rendered.one("gcp:container/cluster:Cluster")
    assert cluster["inputs"]["deletionProtection"] is False and cluster["options"]["protect"] is False


def test_kubeconfig_is_a_secret_output_that_the_kubernetes_provider_uses(gke):
    assert gke.outputs[outputs.KUBECONFIG] == "[secret]"
    provider = gke.one("pulumi:providers:kubernetes", "cluster-provider")
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    for resource in gke.resources:
        if resource["type"].startswith("kubernetes:"):
            assert resource["provider"].endswith("cluster-provider"), resource["name"]
    assert gke.outputs[outputs.UPDATE_KUBECONFIG] == (
        f"gcloud container clusters get-credentials ml-prod-gke --location us-central1 --project {PROJECT}"
    )
    assert gke.outputs[outputs.CLUSTER_NAME] == "ml-prod-gke" and gke.outputs[outputs.REGION] == "us-central1"


def test_zonal_cluster_and_its_open_endpoint_warning(wide):
    rendered, stderr = wide
    inputs = rendered.one("gcp:container/cluster:Cluster")["inputs"]
    assert inputs["location"] == "us-central1-a"
    assert rendered.outputs[outputs.UPDATE_KUBECONFIG].endswith(f"--location us-central1-a --project {PROJECT}")
    assert "warning: stack configuration: ml-platform:gke.endpoint.authorizedNetworks = " in stderr
    assert "at least half of all addresses" in stderr and "api-endpoint-restricted" in stderr


def test_private_endpoint_only(private):
    rendered, stderr = private
    inputs = rendered.one("gcp:container/cluster:Cluster")["inputs"]
    assert inputs["privateClusterConfig"] == {"enablePrivateNodes": True, "enablePrivateEndpoint": True}
    assert [b["cidrBlock"] for b in inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == ["10.0.0.0/8"]
    assert "0.0.0.0/0" not in stderr


# Node pools


def test_system_pool_is_cpu_autoscaled_repaired_and_upgraded(gke):
    pool = _pool(gke, "system")
    inputs = pool["inputs"]
    sizes = _settings()["systemNodePool"]
    assert inputs["nodeConfig"]["machineType"] == sizes["machineType"]
    assert "guestAccelerators" not in inputs["nodeConfig"] and "taints" not in inputs["nodeConfig"]
    assert inputs["autoscaling"]["totalMinNodeCount"] == sizes["minNodes"] >= 1
    assert inputs["autoscaling"]["totalMaxNodeCount"] == sizes["maxNodes"]
    assert inputs["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert inputs["cluster"].startswith(f"projects/{PROJECT}/locations/us-central1/clusters/ml-prod-gke")
    assert pool["options"]["ignoreChanges"] == ["initialNodeCount"], "autoscaler resizes never replace the pool"


def test_gpu_pool_has_explicit_accelerators_and_driver_and_scales_from_zero(gke):
    (config_pool,) = _settings()["gpuNodePools"]
    pool = _pool(gke, f"gpu-{config_pool['name']}")
    inputs = pool["inputs"]
    node = inputs["nodeConfig"]
    assert node["machineType"] == config_pool["machineType"]
    (accelerator,) = node["guestAccelerators"]
    assert accelerator["type"] == config_pool["acceleratorType"] and accelerator["count"] == 1
    assert accelerator["gpuDriverInstallationConfig"]["gpuDriverVersion"] in ("DEFAULT", "LATEST")
    assert accelerator["gpuDriverInstallationConfig"]["gpuDriverVersion"] == config_pool["gpuDriverVersion"]
    assert "gpuSharingConfig" not in accelerator
    assert inputs["autoscaling"] == {
        "totalMinNodeCount": 0,
        "totalMaxNodeCount": config_pool["maxNodes"],
        "locationPolicy": "BALANCED",
    }
    assert inputs["initialNodeCount"] == 0, "no GPU node, and no GPU bill, until a pod asks"
    assert inputs["nodeLocations"] == config_pool["zones"]
    assert node["spot"] is False
    assert inputs["management"] == {"autoRepair": True, "autoUpgrade": True}


def test_gpu_pool_is_tainted_and_labelled_for_the_contracts_selector(gke):
    (config_pool,) = _settings()["gpuNodePools"]
    node = _pool(gke, f"gpu-{config_pool['name']}")["inputs"]["nodeConfig"]
    assert node["taints"] == [{"key": GPU_TAINT_KEY, "value": "present", "effect": "NO_SCHEDULE"}]
    assert node["labels"][GPU_NODE_LABEL] == "nvidia"
    assert node["labels"]["ml-platform/node-pool"] == config_pool["name"]
    assert node["imageType"] == "COS_CONTAINERD"


def _of_ci(resource: dict) -> bool:
    """A grant of the stack's CI identity (tested in test_render_prod_gke_ci.py), not of its workloads."""
    return resource["parent"].endswith("ml-platform:ci_identity:GithubWorkloadIdentity::ci")


def test_nodes_run_as_a_least_privilege_account_with_the_gke_metadata_server(gke):
    email = _node_account_email(gke)
    for pool in gke.of_type(NODE_POOL):
        node = pool["inputs"]["nodeConfig"]
        assert node["serviceAccount"] == email
        assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert node["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
    member = f"serviceAccount:{email}"
    project_roles = [r["inputs"] for r in gke.of_type("gcp:projects/iAMMember:IAMMember") if not _of_ci(r)]
    assert project_roles == [
        {"project": PROJECT, "role": "roles/container.defaultNodeServiceAccount", "member": member}
    ]
    (reader,) = gke.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    assert reader["inputs"] == {
        "project": PROJECT,
        "location": "us-central1",
        "repository": "ml-prod-gke",
        "role": "roles/artifactregistry.reader",
        "member": member,
    }
    granted_elsewhere = [r for r in gke.of_type(BUCKET_IAM) if r["inputs"]["member"] == member]
    assert not granted_elsewhere, "nodes never read model artifacts"


def test_gke_installs_the_device_plugin_and_scales_pools_no_charts(gke):
    assert not [r for r in gke.resources if r["type"].startswith(("kubernetes:helm.sh", "kubernetes:yaml"))]
    assert not [o for o in gke.manifests.values() if o["kind"] == "DaemonSet"]


def test_spot_pool_takes_capacity_anywhere_and_shares_gpus(wide):
    rendered, _ = wide
    inputs = _pool(rendered, "gpu-l4")["inputs"]
    assert inputs["nodeConfig"]["spot"] is True
    assert inputs["autoscaling"]["locationPolicy"] == "ANY"
    (accelerator,) = inputs["nodeConfig"]["guestAccelerators"]
    assert accelerator["gpuSharingConfig"] == {"gpuSharingStrategy": "TIME_SHARING", "maxSharedClientsPerGpu": 4}
    assert accelerator["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "DEFAULT"}
    assert inputs["nodeLocations"] == ["us-central1-a"]


# Artifact Registry


def test_one_docker_repository_immutable_cleaned_scanned_and_protected(gke):
    repository = gke.one("gcp:artifactregistry/repository:Repository")
    inputs = repository["inputs"]
    assert inputs["format"] == "DOCKER" and inputs["location"] == "us-central1"
    assert inputs["dockerConfig"] == {"immutableTags": True}
    policies = {policy["id"]: policy for policy in inputs["cleanupPolicies"]}
    assert policies["keep-newest"] == {
        "id": "keep-newest",
        "action": "KEEP",
        "mostRecentVersions": {"keepCount": _settings()["registry"]["imagesKept"]},
    }
    assert policies["delete-untagged"]["condition"] == {
        "tagState": "UNTAGGED",
        "olderThan": f"{_settings()['registry']['untaggedExpiryDays']}d",
    }
    assert inputs["cleanupPolicyDryRun"] is False
    assert inputs["vulnerabilityScanningConfig"] == {"enablementConfig": "INHERITED"}
    assert repository["options"]["protect"] is True


def test_scanning_can_be_turned_off(wide):
    rendered, _ = wide
    inputs = rendered.one("gcp:artifactregistry/repository:Repository")["inputs"]
    assert inputs["vulnerabilityScanningConfig"] == {"enablementConfig": "DISABLED"}


def test_images_are_pushed_to_the_repository_with_secret_credentials_and_run_by_digest(gke):
    registry_uri = f"us-central1-docker.pkg.dev/{PROJECT}/ml-prod-gke"
    for image in gke.of_type("docker:index/image:Image"):
        assert image["inputs"]["build"]["platform"] == "linux/amd64"
        assert image["inputs"]["imageName"].startswith(f"{registry_uri}/")
        # The access token is secret, so the whole registry block is.
        assert image["inputs"]["registry"] == "[secret]"
    assert gke.outputs[outputs.REGISTRY_URLS] == {name: f"{registry_uri}/{name}" for name in ("server", "trainer")}
    for reference in gke.outputs[outputs.IMAGES].values():
        assert reference.startswith(f"{registry_uri}/") and "@sha256:" in reference


# Artifacts


def test_artifact_bucket_is_uniform_private_versioned_and_protected(gke):
    bucket = gke.one("gcp:storage/bucket:Bucket")
    inputs = bucket["inputs"]
    assert inputs["uniformBucketLevelAccess"] is True
    assert inputs["publicAccessPrevention"] == "enforced"
    assert inputs["versioning"] == {"enabled": True}
    assert inputs["forceDestroy"] is False
    assert inputs["location"] == "US-CENTRAL1"
    assert bucket["options"]["protect"] is True
    assert gke.outputs[outputs.ARTIFACT_BUCKET].startswith("artifacts-bucket-")


def _grants(rendered: Rendered, workload: str) -> dict[str, dict]:
    return {
        r["name"].removeprefix(f"{workload}-"): r["inputs"]
        for r in rendered.of_type(BUCKET_IAM)
        if r["name"].startswith(f"{workload}-")
    }


def _kubernetes_principal(workload: str) -> str:
    """The workload's Kubernetes service account as Google IAM names it (Workload Identity
    Federation for GKE), by the mocked project's number."""
    return (
        f"principal://iam.googleapis.com/projects/{gke_mocks.PROJECT_NUMBER}/locations/global/"
        f"workloadIdentityPools/{PROJECT}.svc.id.goog/subject/ns/ml-models/sa/{workload}"
    )


@pytest.mark.parametrize(
    ("workload", "role"),
    [("digits-training", "roles/storage.objectUser"), ("digits-serving", "roles/storage.objectViewer")],
)
def test_each_workload_is_granted_its_model_directly_as_its_kubernetes_account(gke, workload, role):
    """Direct resource access: the bucket grants name the Kubernetes account itself; no Google
    service account stands in between, so none is created, bound or annotated."""
    accounts = {o["metadata"]["name"]: o for o in gke.objects("ServiceAccount")}
    assert "annotations" not in accounts[workload]["metadata"], "no iam.gke.io/gcp-service-account"
    grants = _grants(gke, workload)
    assert set(grants) == {"objects", "list"}
    assert {grant["member"] for grant in grants.values()} == {_kubernetes_principal(workload)}
    assert grants["objects"]["role"] == role
    bucket = gke.outputs[outputs.ARTIFACT_BUCKET]
    assert grants["objects"]["condition"]["expression"] == (
        f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/models/digits/")'
    )
    assert grants["list"]["role"] == "roles/storage.objectViewer"
    assert grants["list"]["condition"]["expression"] == (
        'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("models/digits/")'
    )
    for name in ("objects", "list"):
        grant = gke.one(BUCKET_IAM, f"{workload}-{name}")
        assert "cluster-gke" in _dependency_names(grant), "the identity pool exists once the cluster does"


def _google_accounts(rendered: Rendered) -> list[str]:
    return sorted(r["name"] for r in rendered.of_type("gcp:serviceaccount/account:Account"))


def test_models_add_no_google_service_account(gke, wide):
    """The stack's Google service accounts are the nodes' and CI's, which an administrator's run
    creates; a model (two in `wide`) adds none, so the CI deploy account never needs to create one."""
    assert _google_accounts(gke) == ["ci-deploy", "ci-preview", "cluster-node-service-account"]
    rendered, _ = wide
    assert _google_accounts(rendered) == _google_accounts(gke)
    assert not [b for b in gke.of_type("gcp:serviceaccount/iAMMember:IAMMember") if not _of_ci(b)]


def test_training_may_write_its_model_and_serving_only_read_it(gke):
    assert _grants(gke, "digits-training")["objects"]["role"] == "roles/storage.objectUser"
    assert _grants(gke, "digits-serving")["objects"]["role"] == "roles/storage.objectViewer"
    roles = {r["inputs"]["role"] for r in gke.of_type("gcp:projects/iAMMember:IAMMember") if not _of_ci(r)}
    assert not {role for role in roles if role.startswith("roles/storage.")}, "no project-wide storage role"


def _condition_prefix(expression: str) -> str:
    """The prefix an IAM condition `....startsWith("<prefix>")` admits."""
    match = re.search(r'\.startsWith\("([^"]*)"\)$', expression)
    assert match, expression
    return match.group(1)


def test_models_whose_names_share_a_prefix_never_reach_each_others_artifacts(wide):
    """`digits` and `digits-wide`: each condition ends in `/`, so neither prefix covers the other."""
    rendered, _ = wide
    bucket = rendered.outputs[outputs.ARTIFACT_BUCKET]
    for model, other in (("digits", "digits-wide"), ("digits-wide", "digits")):
        for role in ("training", "serving"):
            grants = _grants(rendered, f"{model}-{role}")
            # What each rendered condition admits, checked against the other model's object names.
            object_prefix = _condition_prefix(grants["objects"]["condition"]["expression"])
            assert object_prefix == f"projects/_/buckets/{bucket}/objects/models/{model}/"
            assert not f"projects/_/buckets/{bucket}/objects/models/{other}/runs/x/model.onnx".startswith(object_prefix)
            list_prefix = _condition_prefix(grants["list"]["condition"]["expression"])
            assert list_prefix == f"models/{model}/" and not f"models/{other}/runs/".startswith(list_prefix)
    jobs = {o["metadata"]["labels"]["app.kubernetes.io/name"]: o for o in rendered.objects("Job")}
    for model in ("digits", "digits-wide"):
        uri = _output_uri(jobs[model]["spec"]["template"]["spec"]["containers"][0])
        assert uri.startswith(f"gs://{bucket}/models/{model}/runs/")


def test_gpu_job_lands_on_gpu_nodes_with_gcs_artifacts_and_waits_for_its_grants(gke):
    (job,) = gke.objects("Job")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"][GPU_RESOURCE] == "1"
    assert pod["nodeSelector"] == {GPU_NODE_LABEL: "nvidia"}
    assert pod["tolerations"] == [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["serviceAccountName"] == "digits-training"
    assert _output_uri(container).startswith(f"gs://{gke.outputs[outputs.ARTIFACT_BUCKET]}/models/digits/runs/")
    waits_for = _dependency_names(gke.one("kubernetes:batch/v1:Job"))
    assert {"digits-training-objects", "digits-training-list"} <= waits_for
    assert {"cluster-system", "cluster-gpu-l4", "cluster-registry-reader"} <= waits_for


# Services


def test_serving_is_a_load_balancer_admitting_the_configured_clients(gke):
    (service,) = gke.objects("Service")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["metadata"]["annotations"] == {
        "service.beta.kubernetes.io/load-balancer-source-ranges": ",".join(_settings()["loadBalancer"]["sourceCidrs"])
    }
    (deployment,) = gke.objects("Deployment")
    assert "nodeSelector" not in deployment["spec"]["template"]["spec"], "CPU serving stays off GPU nodes"


def test_internal_load_balancer(wide):
    rendered, _ = wide
    for service in rendered.objects("Service"):
        assert service["metadata"]["annotations"] == {
            "networking.gke.io/load-balancer-type": "Internal",
            "service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8",
        }


def test_cluster_ip_services_get_no_load_balancer_annotations(tmp_path_factory):
    def cluster_ip(document: dict) -> None:
        document["config"]["ml-platform:models"][0]["serving"]["serviceType"] = "ClusterIP"

    rendered, _ = _render_variant(tmp_path_factory, "gke-cluster-ip", cluster_ip)
    (service,) = rendered.objects("Service")
    assert service["spec"]["type"] == "ClusterIP" and "annotations" not in service["metadata"]


# Bad config


def test_bad_gke_config_fails_before_any_resource_naming_each_problem(tmp_path):
    """The four bad cases of issue 7 in one stack file: the render exits 2, writes nothing, and
    names each key, its value and what is allowed."""
    document = copy.deepcopy(stack_document(STACK))
    del document["config"]["gcp:project"]
    document["config"][KEY]["gpuNodePools"][0].update(zones=[], acceleratorType="nvidia-gtx-1080")
    document["config"][KEY]["endpoint"]["authorizedNetworks"] = ["office"]
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.bad-gke.yaml").write_text(yaml.safe_dump(document))
    result = render("bad-gke", tmp_path / "out", check=False, stacks_dir=tmp_path / "stacks")
    assert result.returncode == 2 and not (tmp_path / "out").exists()
    assert "Traceback" not in result.stderr
    assert "invalid stack configuration (4 problem(s))" in result.stderr
    assert "gcp:project = (missing): required by clusterBackend gke" in result.stderr
    assert f"{KEY}.gpuNodePools[0].zones = []: List should have at least 1 item" in result.stderr
    assert f'{KEY}.gpuNodePools[0].acceleratorType = "nvidia-gtx-1080": Input should be ' in result.stderr
    assert "'nvidia-l4'" in result.stderr
    assert f'{KEY}.endpoint.authorizedNetworks[0] = "office": must be an IPv4 CIDR block' in result.stderr


# Protect and secrets


def test_cluster_registry_and_bucket_are_protected(gke):
    protected = {(r["type"], r["name"]) for r in gke.resources if r["options"]["protect"]}
    assert protected == {
        ("gcp:container/cluster:Cluster", "cluster-gke"),
        ("gcp:artifactregistry/repository:Repository", "registry-repository"),
        ("gcp:storage/bucket:Bucket", "artifacts-bucket"),
    }


def test_no_secret_reaches_the_render_in_clear(gke):
    text = "\n".join(path.read_text() for path in Path(gke.directory).rglob("*") if path.is_file())
    assert gke_mocks.ACCESS_TOKEN not in text
    assert "gke-gcloud-auth-plugin" not in text, "the kubeconfig is masked as a whole"
