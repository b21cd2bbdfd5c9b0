"""Tier 1: the registry and the cluster as two choices, validated before any resource exists: which
pairs work, the secret keys a backend needs (set as secrets, never in clear), the generic OCI
registry's presets, and what an existing cluster must declare about itself."""

from __future__ import annotations

import copy
import json

import pytest

from components import backends, config
from components.backends.existing.settings import ExistingSettings
from components.backends.oci.settings import OciRegistrySettings
from components.schema import MISSING
from tests.rendering import stack_document

NS = "ml-platform"
DECRYPTED = "decrypted-by-the-cli"


def as_cli_passes(document: dict) -> tuple[dict[str, str], list[str]]:
    """Config as the CLI hands it over: strings, objects as JSON, `secure:` values decrypted and
    listed as secret keys."""
    values, secret_keys = {}, []
    for key, value in document["config"].items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = DECRYPTED
            secret_keys.append(key)
        else:
            values[key] = value if isinstance(value, str) else json.dumps(value)
    return values, secret_keys


def problems_of(document: dict) -> list[config.Problem]:
    with pytest.raises(config.ConfigError) as raised:
        config.parse(*as_cli_passes(document))
    return raised.value.problems


def only_problem(document: dict) -> config.Problem:
    problems = problems_of(document)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


@pytest.fixture
def minikube() -> dict:
    return copy.deepcopy(stack_document("dev-minikube"))


@pytest.fixture
def existing(minikube) -> dict:
    """dev-minikube's `existing` object, to edit."""
    return minikube["config"][f"{NS}:existing"]


@pytest.fixture
def hub_on_kind() -> dict:
    document = copy.deepcopy(stack_document("dev-kind"))
    document["config"][f"{NS}:registryBackend"] = "oci"
    document["config"][f"{NS}:registry"] = {"preset": "dockerhub", "repositoryPrefix": "acme", "username": "acme"}
    document["config"][f"{NS}:registryPassword"] = {"secure": "v1:x"}
    return document


def test_dev_minikube_is_an_existing_cluster_with_images_on_ghcr(minikube):
    stack = config.parse(*as_cli_passes(minikube))
    assert isinstance(stack.backend_settings, ExistingSettings)
    assert stack.backend_settings.context == "minikube"
    registry = stack.registry_settings_as(OciRegistrySettings)
    assert registry.repository("trainer") == "ghcr.io/acme/trainer"
    assert registry.auth_key == "ghcr.io"


def test_docker_hub_on_kind_is_a_valid_pair(hub_on_kind):
    stack = config.parse(*as_cli_passes(hub_on_kind))
    registry = stack.registry_settings_as(OciRegistrySettings)
    assert registry.repository("server") == "docker.io/acme/server"
    # What `kubectl create secret docker-registry` writes for Docker Hub, which kubelets match docker.io images to.
    assert registry.auth_key == "https://index.docker.io/v1/"


def test_the_kind_local_registry_on_eks_is_a_config_error_naming_the_pair():
    document = copy.deepcopy(stack_document("prod-eks"))
    document["config"][f"{NS}:registryBackend"] = "local"
    problem = only_problem(document)
    assert problem.key == f"{NS}:registryBackend" and problem.value == "local"
    assert "serves clusterBackend kind only" in problem.allowed
    assert "clusterBackend eks works with: ecr, oci" in problem.allowed


@pytest.mark.parametrize("registry", ["local", "ecr"])
def test_a_registry_tied_to_another_cluster_is_refused_on_an_existing_cluster(minikube, registry):
    minikube["config"][f"{NS}:registryBackend"] = registry
    keys = [p.key for p in problems_of(minikube)]
    # The pair first; the generic registry's own keys, now unused, are named too.
    assert keys[0] == f"{NS}:registryBackend"
    assert set(keys[1:]) <= {f"{NS}:registry", f"{NS}:registryPassword"}


def test_pairs_have_one_source_the_registry_rows():
    """A registry row names the clusters it serves (or serves any); cluster rows list no registries."""
    assert not hasattr(backends.CLUSTERS["kind"], "registries")
    for registry in backends.REGISTRIES.values():
        assert registry.clusters is None or set(registry.clusters) <= set(backends.CLUSTERS), registry.name
    for cluster in backends.CLUSTERS:
        assert backends.REGISTRIES["oci"].pairs_with(cluster), "pods pull a generic registry with a secret, anywhere"
    assert [name for name, row in backends.REGISTRIES.items() if row.pairs_with("eks")] == ["ecr", "oci"]


def test_a_generic_registry_without_its_token_names_the_missing_secret_key(minikube):
    del minikube["config"][f"{NS}:registryPassword"]
    problem = only_problem(minikube)
    assert problem.key == f"{NS}:registryPassword" and problem.value is MISSING
    assert "required by registryBackend oci" in problem.allowed
    assert f"pulumi config set --secret {NS}:registryPassword" in problem.allowed


def test_a_token_in_clear_is_an_error_that_never_shows_it(minikube):
    """A value in clear would sit in the stack file, in the repository."""
    minikube["config"][f"{NS}:registryPassword"] = "ghp_in-the-stack-file-in-clear"
    with pytest.raises(config.ConfigError) as raised:
        config.parse(*as_cli_passes(minikube))
    (problem,) = raised.value.problems
    assert problem.key == f"{NS}:registryPassword" and "must be a secret" in problem.allowed
    assert "ghp_in-the-stack-file-in-clear" not in str(raised.value)


def test_another_backends_settings_and_secrets_are_errors():
    document = copy.deepcopy(stack_document("dev-kind"))
    document["config"][f"{NS}:registry"] = {"preset": "ghcr", "repositoryPrefix": "acme", "username": "acme"}
    document["config"][f"{NS}:registryPassword"] = {"secure": "v1:x"}
    document["config"][f"{NS}:objectStoreSecretAccessKey"] = {"secure": "v1:y"}
    problems = {p.key: p for p in problems_of(document)}
    assert problems[f"{NS}:registry"].allowed == "only allowed when registryBackend is oci"
    assert problems[f"{NS}:registryPassword"].allowed == "only allowed when registryBackend is oci"
    assert problems[f"{NS}:objectStoreSecretAccessKey"].allowed == "only allowed when clusterBackend is existing"
    assert DECRYPTED not in "\n".join(str(p) for p in problems.values())


@pytest.mark.parametrize(
    ("registry", "message"),
    [
        ({"repositoryPrefix": "acme", "username": "u"}, "set either preset"),
        (
            {"preset": "ghcr", "server": "registry.example.com", "repositoryPrefix": "acme", "username": "u"},
            "conflicts",
        ),
        ({"preset": "dockerhub", "repositoryPrefix": "acme/ml", "username": "u"}, "allows one level"),
        ({"preset": "ghcr", "repositoryPrefix": "Acme", "username": "u"}, "lower case"),
        ({"server": "https://registry.example.com", "repositoryPrefix": "acme", "username": "u"}, "without a scheme"),
        ({"preset": "ghcr", "repositoryPrefix": "acme", "username": "u:p"}, "without spaces or ':'"),
    ],
)
def test_registry_settings_are_checked(minikube, registry, message):
    minikube["config"][f"{NS}:registry"] = registry
    problem = only_problem(minikube)
    assert problem.key.startswith(f"{NS}:registry"), problem
    assert message in problem.allowed, problem


def test_a_generic_registry_by_server(minikube):
    minikube["config"][f"{NS}:registry"] = {
        "server": "harbor.example.com:8443",
        "repositoryPrefix": "ml/platform",
        "username": "robot$ml",
    }
    registry = config.parse(*as_cli_passes(minikube)).registry_settings_as(OciRegistrySettings)
    assert registry.repository("trainer") == "harbor.example.com:8443/ml/platform/trainer"
    assert registry.auth_key == "harbor.example.com:8443"


def test_read_write_once_on_a_multi_node_cluster_with_replicas_is_an_error_saying_read_write_many(minikube, existing):
    existing["singleNode"] = False
    problem = only_problem(minikube)
    assert problem.key == f"{NS}:existing.artifacts.volume.accessMode" and problem.value == "ReadWriteOnce"
    assert "ReadWriteMany is needed" in problem.allowed
    assert "training and serving pods may land on different nodes" in problem.allowed
    assert f"{NS}:models[0].serving.replicas = 2" in problem.allowed


def test_read_write_once_on_a_multi_node_cluster_is_refused_even_with_one_replica(minikube, existing):
    """Training and serving overlap (every retrain, every rolling update): one replica does not make it safe."""
    existing["singleNode"] = False
    minikube["config"][f"{NS}:models"][0]["serving"]["replicas"] = 1
    problem = only_problem(minikube)
    assert problem.key == f"{NS}:existing.artifacts.volume.accessMode"
    assert "replicas" not in problem.allowed


def test_read_write_many_serves_a_multi_node_cluster(minikube, existing):
    existing["singleNode"] = False
    existing["artifacts"]["volume"] = {"storageClass": "azurefile-csi", "accessMode": "ReadWriteMany"}
    minikube["config"][f"{NS}:models"][0]["training"]["nodes"] = 2
    assert config.parse(*as_cli_passes(minikube)).backend_settings_as(ExistingSettings).artifacts.volume


def test_an_object_store_needs_its_secret_key(minikube, existing):
    existing["artifacts"] = {"objectStore": {"uri": "s3://models", "accessKeyId": "ml-platform"}}
    problem = only_problem(minikube)
    assert problem.key == f"{NS}:objectStoreSecretAccessKey" and problem.value is MISSING
    assert "required by clusterBackend existing" in problem.allowed


@pytest.mark.parametrize(
    "artifacts",
    [
        {},
        {
            "volume": {"storageClass": "standard", "accessMode": "ReadWriteMany"},
            "objectStore": {"uri": "s3://models", "accessKeyId": "ml-platform"},
        },
    ],
)
def test_exactly_one_artifact_store(minikube, existing, artifacts):
    existing["artifacts"] = artifacts
    problem = only_problem(minikube)
    assert problem.key == f"{NS}:existing.artifacts" and "exactly one of volume and objectStore" in problem.allowed


def test_kubeconfig_path_and_kubeconfig_secret_conflict(minikube, existing):
    existing["kubeconfigPath"] = "/home/me/.kube/config"
    minikube["config"][f"{NS}:kubeconfig"] = {"secure": "v1:k"}
    problem = only_problem(minikube)
    assert problem.key == f"{NS}:existing.kubeconfigPath" and "conflicts with the secret" in problem.allowed


def test_the_context_is_required_and_a_kubeconfig_path_absolute(minikube, existing):
    del existing["context"]
    existing["kubeconfigPath"] = "~/.kube/config"
    problems = {p.key: p for p in problems_of(minikube)}
    assert problems[f"{NS}:existing.context"].value is MISSING
    assert "absolute path" in problems[f"{NS}:existing.kubeconfigPath"].allowed


def test_service_types_are_what_the_cluster_declares(minikube):
    minikube["config"][f"{NS}:models"][0]["serving"]["serviceType"] = "LoadBalancer"
    problem = only_problem(minikube)
    assert problem.key == f"{NS}:models[0].serving.serviceType"
    assert problem.allowed == f"{NS}:existing.serviceTypes declares: ClusterIP, NodePort"


@pytest.mark.parametrize(
    ("gpu", "message"),
    [
        ({"tolerations": [{"key": "sku", "operator": "Equal"}]}, "operator Equal needs a value"),
        ({"tolerations": [{"key": "sku", "value": "gpu"}]}, "operator Exists takes no value"),
        ({"resourceName": "gpu"}, "extended resource name"),
        ({"nodeSelector": {"bad key!": "x"}}, "is not a Kubernetes label key"),
    ],
)
def test_declared_gpu_scheduling_is_checked(minikube, existing, gpu, message):
    existing["gpu"] = gpu
    problem = only_problem(minikube)
    assert problem.key.startswith(f"{NS}:existing.gpu"), problem
    assert message in problem.allowed


def test_a_misspelt_secret_key_is_unknown_and_its_value_never_shown(minikube):
    minikube["config"][f"{NS}:registryPasword"] = {"secure": "v1:x"}
    with pytest.raises(config.ConfigError) as raised:
        config.parse(*as_cli_passes(minikube))
    (problem,) = raised.value.problems
    assert problem.key == f"{NS}:registryPasword" and "unknown key" in problem.allowed
    assert DECRYPTED not in str(raised.value)
