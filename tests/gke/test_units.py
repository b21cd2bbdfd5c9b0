"""Tier 1 for the GKE backend: the `ml-platform:gke` and `gcp:` schemas (bad config fails before any
resource, naming the key, the value and what is allowed) and the pure builders (IAM conditions,
names, cleanup policies, kubeconfig, load balancer annotations), with no Pulumi engine."""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml

from components import config
from components.backends.gke import artifacts, iam, naming
from components.backends.gke.settings import ACCELERATOR_MACHINE_FAMILIES, GcpProvider, GkeSettings
from tests.rendering import raw_config, stack_document

STACK = "prod-gke"
KEY = "ml-platform:gke"


def _document(**gke_changes) -> dict:
    document = copy.deepcopy(stack_document(STACK))
    document["config"][KEY].update(gke_changes)
    return document


def _parse_with(**gke_changes) -> config.StackConfig:
    return config.parse(raw_config(_document(**gke_changes)))


def _problems_of(document: dict) -> list[config.Problem]:
    with pytest.raises(config.ConfigError) as error:
        config.parse(raw_config(document))
    return error.value.problems


def _pool(**changes) -> dict:
    pool = copy.deepcopy(stack_document(STACK)["config"][KEY]["gpuNodePools"][0])
    pool.update(changes)
    return pool


def test_stack_file_parses_into_gke_settings_and_provider_keys():
    stack = _parse_with()
    assert isinstance(stack.backend_settings, GkeSettings)
    assert isinstance(stack.provider_settings, GcpProvider)
    assert stack.provider_settings.project == "my-ml-project"
    (pool,) = stack.backend_settings.gpu_node_pools
    assert (pool.min_nodes, pool.accelerator_type, pool.gpu_driver_version) == (0, "nvidia-l4", "LATEST")


def test_a_gpu_pool_without_zones_names_the_key():
    pool = _pool()
    del pool["zones"]
    (problem,) = _problems_of(_document(gpuNodePools=[pool]))
    assert problem.key == f"{KEY}.gpuNodePools[0].zones"
    assert str(problem) == f"{KEY}.gpuNodePools[0].zones = (missing): required"
    (problem,) = _problems_of(_document(gpuNodePools=[_pool(zones=[])]))
    assert problem.key == f"{KEY}.gpuNodePools[0].zones" and problem.value == []
    assert "at least 1 item" in problem.allowed


def test_an_unknown_accelerator_type_lists_the_allowed_ones():
    (problem,) = _problems_of(_document(gpuNodePools=[_pool(acceleratorType="nvidia-rtx-4090")]))
    assert problem.key == f"{KEY}.gpuNodePools[0].acceleratorType"
    assert problem.value == "nvidia-rtx-4090"
    for allowed in ("nvidia-l4", "nvidia-tesla-t4", "nvidia-tesla-a100", "nvidia-a100-80gb", "nvidia-h100-80gb"):
        assert allowed in problem.allowed
    assert str(problem).startswith(f'{KEY}.gpuNodePools[0].acceleratorType = "nvidia-rtx-4090": ')


@pytest.mark.parametrize("network", ["203.0.113.0", "203.0.113.7/24", "office", "10.0.0.0/33"])
def test_an_authorized_network_that_is_not_a_cidr_names_the_key(network):
    problems = _problems_of(_document(endpoint={"public": True, "authorizedNetworks": ["198.51.100.0/24", network]}))
    (problem,) = problems
    assert problem.key == f"{KEY}.endpoint.authorizedNetworks[1]"
    assert problem.value == network
    assert "IPv4 CIDR block" in problem.allowed


def test_a_missing_gcp_project_fails_naming_the_key_and_how_to_set_it():
    document = copy.deepcopy(stack_document(STACK))
    del document["config"]["gcp:project"]
    (problem,) = _problems_of(document)
    assert problem.key == "gcp:project" and problem.value is config.MISSING
    assert "required by clusterBackend gke" in problem.allowed
    assert "pulumi config set gcp:project" in problem.allowed


def test_all_four_bad_cases_are_reported_together():
    document = _document(
        gpuNodePools=[_pool(acceleratorType="nvidia-gtx-1080", zones=[])],
        endpoint={"authorizedNetworks": ["not-a-cidr"]},
    )
    del document["config"]["gcp:project"]
    keys = {problem.key for problem in _problems_of(document)}
    assert {
        "gcp:project",
        f"{KEY}.gpuNodePools[0].acceleratorType",
        f"{KEY}.gpuNodePools[0].zones",
        f"{KEY}.endpoint.authorizedNetworks[0]",
    } <= keys


def test_a_bad_project_id_and_region_are_named():
    document = copy.deepcopy(stack_document(STACK))
    document["config"]["gcp:project"] = "My Project"
    document["config"]["gcp:region"] = "us-central1-a"
    problems = {problem.key: problem for problem in _problems_of(document)}
    assert "Google Cloud project ID" in problems["gcp:project"].allowed
    assert "region such as us-central1" in problems["gcp:region"].allowed


def test_zones_must_be_in_gcp_region():
    problems = _problems_of(_document(gpuNodePools=[_pool(zones=["europe-west4-a"])], zone="us-east1-b"))
    assert sorted(str(problem) for problem in problems) == [
        f'{KEY}.gpuNodePools[0].zones = "europe-west4-a": must be a zone of gcp:region us-central1 '
        "(us-central1-a, us-central1-b, ...)",
        f'{KEY}.zone = "us-east1-b": must be a zone of gcp:region us-central1 (us-central1-a, us-central1-b, ...)',
    ]


def test_accelerator_must_fit_the_machine_type_and_its_gpu_count():
    (problem,) = _problems_of(_document(gpuNodePools=[_pool(machineType="n1-standard-8")]))
    assert problem.key == f"{KEY}.gpuNodePools[0]" and "cannot carry nvidia-l4" in problem.allowed
    (problem,) = _problems_of(_document(gpuNodePools=[_pool(acceleratorCount=2)]))
    assert "acceleratorCount (2) must be 1: g2-standard-8 comes with 1 GPU(s)" in problem.allowed
    a100 = _pool(machineType="a2-highgpu-4g", acceleratorType="nvidia-tesla-a100", acceleratorCount=4)
    assert _parse_with(gpuNodePools=[a100]).backend_settings.gpu_node_pools[0].accelerator_count == 4
    t4 = _pool(machineType="n1-standard-8", acceleratorType="nvidia-tesla-t4", acceleratorCount=3)
    (problem,) = _problems_of(_document(gpuNodePools=[t4]))
    assert "must be one of 1, 2, 4, 8" in problem.allowed


def test_every_allowed_accelerator_has_a_machine_family():
    from typing import get_args

    from components.backends.gke.settings import AcceleratorType

    assert set(get_args(AcceleratorType)) == set(ACCELERATOR_MACHINE_FAMILIES)


def test_public_endpoint_needs_authorized_networks_and_open_to_all_is_accepted_with_a_warning():
    (problem,) = _problems_of(_document(endpoint={"public": True}))
    assert problem.key == f"{KEY}.endpoint.authorizedNetworks" and problem.allowed == "required"
    (warning,) = _parse_with(endpoint={"public": True, "authorizedNetworks": ["0.0.0.0/0"]}).warnings
    assert warning.key == f"{KEY}.endpoint.authorizedNetworks" and warning.value == ["0.0.0.0/0"]
    assert "at least half of all addresses" in warning.allowed and "api-endpoint-restricted" in warning.allowed
    assert _parse_with().warnings == ()


def test_pool_names_sizes_labels_and_ranges_are_checked():
    assert any("unique" in str(p) for p in _problems_of(_document(gpuNodePools=[_pool(), _pool()])))
    assert any(
        "maxNodes (1) must be at least minNodes (2)" in str(p)
        for p in _problems_of(_document(gpuNodePools=[_pool(minNodes=2, maxNodes=1)]))
    )
    relabelled = _pool(labels={"ml-platform/accelerator": "cpu"})
    assert any("reserved" in str(p) for p in _problems_of(_document(gpuNodePools=[relabelled])))
    overlapping = {"nodesCidr": "10.16.0.0/20", "podsCidr": "10.16.0.0/14", "servicesCidr": "10.20.0.0/20"}
    (problem,) = _problems_of(_document(network=overlapping))
    assert problem.key == f"{KEY}.network" and "must not overlap" in problem.allowed
    (problem,) = _problems_of(_document(network={"nodesCidr": "8.8.0.0/20"}))
    assert problem.key == f"{KEY}.network.nodesCidr" and "private" in problem.allowed


def test_unknown_gke_keys_are_errors_listing_the_allowed_ones():
    (problem,) = _problems_of(_document(gpuPools=[]))
    assert problem.key == f"{KEY}.gpuPools" and "gpuNodePools" in problem.allowed


def test_gke_settings_are_refused_on_other_backends_and_registries_must_pair():
    document = copy.deepcopy(stack_document("prod-eks"))
    document["config"][KEY] = {"endpoint": {"authorizedNetworks": ["10.0.0.0/8"]}}
    (problem,) = _problems_of(document)
    assert problem.key == KEY and "only allowed when clusterBackend is gke" in problem.allowed
    mismatched = copy.deepcopy(stack_document(STACK))
    mismatched["config"]["ml-platform:registryBackend"] = "ecr"
    (problem,) = _problems_of(mismatched)
    assert problem.key == "ml-platform:registryBackend" and "works with: oci, artifact-registry" in problem.allowed


def _prefix_of(condition: str) -> str:
    """The string a CEL `x.startsWith("...")` condition compares with (the only form we write)."""
    (literal,) = re.findall(r'\.startsWith\(("(?:[^"\\]|\\.)*")\)$', condition)
    return json.loads(literal)


def test_object_condition_grants_one_models_prefix_and_never_a_longer_model_name():
    """`digits` and `digits-wide` share a prefix; the trailing slash keeps them apart."""
    condition = artifacts.object_condition("bucket-1", "digits")
    prefix = _prefix_of(condition)
    assert condition.startswith("resource.name.startsWith(")
    assert "projects/_/buckets/bucket-1/objects/models/digits/runs/abc/model.onnx".startswith(prefix)
    assert not "projects/_/buckets/bucket-1/objects/models/digits-wide/runs/abc/model.onnx".startswith(prefix)
    assert not "projects/_/buckets/bucket-2/objects/models/digits/runs/abc/model.onnx".startswith(prefix)
    assert not "projects/_/buckets/bucket-1/objects/models/digits".startswith(prefix)


def test_list_condition_allows_listing_under_the_model_only():
    condition = artifacts.list_condition("digits")
    assert condition.startswith('api.getAttribute("storage.googleapis.com/objectListPrefix", "")')
    prefix = _prefix_of(condition)
    assert "models/digits/runs/abc/checkpoints/".startswith(prefix)
    assert not "models/digits-wide/".startswith(prefix)
    assert not "models/".startswith(prefix) and not "".startswith(prefix)


def test_kubernetes_principal_names_exactly_one_kubernetes_account():
    """Workload Identity Federation for GKE's identifier of one Kubernetes service account: the
    project's number names the pool's parent, its ID the pool (`<project>.svc.id.goog`)."""
    assert iam.kubernetes_principal("123456789012", "p-123456", "ml-models", "digits-training") == (
        "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/"
        "p-123456.svc.id.goog/subject/ns/ml-models/sa/digits-training"
    )


@pytest.mark.parametrize(
    "name", ["digits-training", "a-very-long-model-name-for-a-classifier-serving", "0-model-training", "cluster-nodes"]
)
def test_service_account_ids_are_valid_and_unique_per_stack(name):
    account_id = naming.service_account_id("prod-gke", name)
    assert re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", account_id), account_id
    assert account_id != naming.service_account_id("staging-gke", name)
    assert account_id == naming.service_account_id("prod-gke", name), "deterministic"


def test_repository_ids_and_labels_are_what_google_accepts():
    assert naming.repository_id("prod-gke") == "ml-prod-gke"
    assert naming.repository_id("Team_A.prod") == "ml-team-a-prod"
    assert naming.sanitize("Prod.GKE") == "prod-gke"


def test_cleanup_keeps_the_newest_and_deletes_untagged_after_the_configured_days():
    from components.backends.gke.registry import cleanup_policies
    from components.backends.gke.settings import RegistrySettings

    policies = {p.id: p for p in cleanup_policies(RegistrySettings(images_kept=7, untagged_expiry_days=3))}
    assert policies["delete-untagged"].action == "DELETE"
    assert policies["delete-untagged"].condition.tag_state == "UNTAGGED"
    assert policies["delete-untagged"].condition.older_than == "3d"
    assert policies["keep-newest"].action == "KEEP" and policies["keep-newest"].most_recent_versions.keep_count == 7
    # Without a DELETE policy for tagged versions, KEEP alone would keep everything.
    assert policies["delete-tagged-beyond-newest"].condition.tag_state == "TAGGED"


def test_kubeconfig_uses_the_gke_auth_plugin_and_holds_no_credential():
    from components.backends.gke.cluster import kubeconfig

    document = yaml.safe_load(kubeconfig("ml-prod-gke", "34.1.2.3", "Q0E="))
    (cluster,) = document["clusters"]
    assert cluster["cluster"] == {"server": "https://34.1.2.3", "certificate-authority-data": "Q0E="}
    (user,) = document["users"]
    assert set(user["user"]) == {"exec"}, "no token, password or client key"
    assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert user["user"]["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert document["current-context"] == cluster["name"]


def test_load_balancer_annotations_follow_the_settings():
    from components.backends.gke.cluster import load_balancer_annotations
    from components.backends.gke.settings import LoadBalancing

    internal = load_balancer_annotations(LoadBalancing(internal=True, source_cidrs=["10.0.0.0/8"]))
    assert internal == {
        "networking.gke.io/load-balancer-type": "Internal",
        "service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8",
    }
    external = load_balancer_annotations(LoadBalancing(source_cidrs=["198.51.100.0/24", "203.0.113.0/24"]))
    assert external == {"service.beta.kubernetes.io/load-balancer-source-ranges": "198.51.100.0/24,203.0.113.0/24"}


def test_initial_node_count_reaches_the_minimum_over_the_zones():
    from components.backends.gke.node_pools import initial_node_count

    assert initial_node_count(0, 3) == 0
    assert initial_node_count(2, 3) == 1
    assert initial_node_count(4, 3) == 2
    assert initial_node_count(2, 1) == 2


def test_a_pod_asking_for_more_gpus_than_any_pool_has_per_node_is_an_error():
    document = _document()
    document["config"]["ml-platform:models"][0]["training"]["resources"]["gpus"] = 2
    (problem,) = _problems_of(document)
    assert problem.key == "ml-platform:models[0].training.resources.gpus" and problem.value == 2
    assert "no GPU node pool has 2 GPUs per node (ml-platform:gke.gpuNodePools acceleratorCount: l4: 1)" in str(problem)


def test_a_multi_node_run_larger_than_the_gpu_pools_can_hold_is_an_error():
    document = _document(gpuNodePools=[_pool(maxNodes=2)])
    training = document["config"]["ml-platform:models"][0]["training"]
    training["resources"]["gpus"], training["nodes"] = 1, 3
    (problem,) = _problems_of(document)
    assert "the run's 3 pods must all run at once" in problem.allowed and "raise maxNodes" in problem.allowed


def test_a_multi_node_run_counts_one_pod_per_gpu_on_a_shared_pool():
    """GPU sharing is for serving (docs/prod-gke.md): 2 one-GPU nodes shared by 2 clients hold 4
    server pods but 2 training pods, so a 4-node run is refused (it was accepted, its pods taking
    turns on time-shared GPUs); a server on the same pool still counts every client."""
    sharing = {"strategy": "TIME_SHARING", "maxSharedClientsPerGpu": 2}
    document = _document(gpuNodePools=[_pool(gpuSharing=sharing)])
    model = document["config"]["ml-platform:models"][0]
    model["training"]["resources"]["gpus"], model["training"]["nodes"] = 1, 4
    (problem,) = _problems_of(document)
    assert problem.key == "ml-platform:models[0].training.resources.gpus"
    assert "the run's 4 pods must all run at once" in problem.allowed
    assert "hold at most 2 such pods (maxNodes x acceleratorCount // 1)" in problem.allowed
    model["training"]["nodes"] = 2
    model["serving"]["resources"]["gpus"], model["serving"]["replicas"] = 1, 3
    config.parse(raw_config(document))


def test_a_load_balancer_without_source_ranges_is_an_error_and_open_to_all_a_warning():
    (problem,) = _problems_of(_document(loadBalancer={"internal": False}))
    assert problem.key == f"{KEY}.loadBalancer.sourceCidrs" and "required because" in problem.allowed
    (warning,) = _parse_with(loadBalancer={"sourceCidrs": ["0.0.0.0/0"]}).warnings
    assert warning.key == f"{KEY}.loadBalancer.sourceCidrs" and "load-balancer-restricted" in warning.allowed
    assert _parse_with(loadBalancer={"internal": True, "sourceCidrs": ["0.0.0.0/0"]}).warnings == ()


@pytest.mark.parametrize(
    ("field", "cidr"),
    [
        ("nodesCidr", "127.0.0.0/20"),  # loopback: `ipaddress.is_private` admits it
        ("servicesCidr", "169.254.0.0/20"),  # link-local
        ("podsCidr", "0.0.0.0/14"),  # "this network"
        ("podsCidr", "100.0.0.0/14"),  # public, just below 100.64/10
        ("servicesCidr", "172.32.0.0/20"),  # just above 172.16/12
        ("nodesCidr", "10.10.0.0/30"),  # smaller than Google's smallest subnet range
    ],
)
def test_subnet_ranges_are_private_blocks_and_the_message_states_the_rule(field, cidr):
    defaults = {"nodesCidr": "10.10.0.0/20", "podsCidr": "10.16.0.0/14", "servicesCidr": "10.20.0.0/20"}
    (problem,) = _problems_of(_document(network={**defaults, field: cidr}))
    assert problem.key == f"{KEY}.network.{field}" and problem.value == cidr
    assert problem.allowed == (
        "must be a private IPv4 CIDR block, /8 to /29, inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 "
        "(RFC 1918), or 100.64.0.0/10 (RFC 6598), e.g. 10.10.0.0/20"
    )


def test_pods_may_use_the_shared_address_space():
    """RFC 6598's 100.64/10 is the usual home of a large pod range when RFC 1918 space is taken."""
    network = {"nodesCidr": "172.16.0.0/20", "podsCidr": "100.64.0.0/14", "servicesCidr": "192.168.0.0/20"}
    assert _parse_with(network=network).backend_settings.network.pods_cidr == "100.64.0.0/14"


@pytest.mark.parametrize(("key", "value"), [("gcp:region", "us-central\uff11"), ("gcp:region", "us-central1\n")])
def test_a_gcp_region_is_ascii_and_whole(key, value):
    document = _document()
    document["config"][key] = value
    (problem,) = _problems_of(document)
    assert problem.key == key and "must be a Google Cloud region" in problem.allowed


def test_a_zone_is_ascii():
    (problem,) = _problems_of(_document(zone="us-central\uff11-a"))
    assert problem.key == f"{KEY}.zone" and "must be a Compute Engine zone" in problem.allowed
