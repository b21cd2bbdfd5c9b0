"""Tier 1: the registry and the cluster as two choices, validated before any resource exists: which
pairs work, the secret keys a backend needs (set as secrets, never in clear), the generic OCI
registry's presets, and what an existing cluster must declare about itself."""

from __future__ import annotations

import copy
import ipaddress
import json

import pytest
import yaml

from components import backends, config
from components.backends.existing.settings import ExistingSettings
from components.backends.oci.settings import OciRegistrySettings
from components.schema import MISSING
from tests.rendering import load, render, stack_document

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


def test_the_registries_doc_pairs_every_registry_backend_with_its_clusters():
    """docs/registries.md's pairing table lists each registry row of components/backends/__init__.py."""
    from tests.rendering import PROJECT_ROOT

    doc = (PROJECT_ROOT / "docs" / "registries.md").read_text()
    table = doc[doc.index("| `registryBackend` | clusters |") :].split("\n\n", 1)[0].splitlines()[2:]
    rows = {cells[0].strip(" `"): cells[1].strip() for cells in (line.strip("|").split("|") for line in table)}
    assert set(rows) == set(backends.REGISTRIES), "one row per registry backend, no other"
    for name, registry in backends.REGISTRIES.items():
        if registry.clusters is None:
            assert rows[name] == "any (" + ", ".join(backends.CLUSTERS) + ")", name
        else:
            assert rows[name] == ", ".join(registry.clusters), name


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
        (
            {"server": "https://registry.example.com", "repositoryPrefix": "acme", "username": "u"},
            "without a scheme: remove https://",
        ),
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


def test_read_write_once_names_the_autoscalers_maximum_not_replicas_the_stack_does_not_set(minikube, existing):
    """With an autoscaler, the pods that may land on other nodes are up to maxReplicas."""
    existing["singleNode"] = False
    serving = minikube["config"][f"{NS}:models"][0]["serving"]
    del serving["replicas"]
    serving["autoscaling"] = {"maxReplicas": 5}
    problem = only_problem(minikube)
    assert f"{NS}:models[0].serving.autoscaling.maxReplicas = 5" in problem.allowed
    assert "serving.replicas" not in problem.allowed


def test_read_write_once_names_default_replicas_as_a_default(minikube, existing):
    existing["singleNode"] = False
    del minikube["config"][f"{NS}:models"][0]["serving"]["replicas"]
    problem = only_problem(minikube)
    assert f"{NS}:models[0].serving (replicas 2 by default)" in problem.allowed
    assert "serving.replicas" not in problem.allowed


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
        ({"tolerations": [{"key": "sku", "operator": "Equal", "value": "gpu\n"}]}, "must be a Kubernetes label value"),
        ({"tolerations": [{"key": "sku\n"}]}, "must be a Kubernetes label key"),
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


# Every backend setting that takes CIDRs, by (stack, settings object, path inside it); one rule for all.
CIDR_SETTINGS = [
    ("prod-eks", "eks", ("loadBalancer", "sourceCidrs")),
    ("prod-eks", "eks", ("endpoint", "publicCidrs")),
    ("prod-gke", "gke", ("loadBalancer", "sourceCidrs")),
    ("prod-gke", "gke", ("endpoint", "authorizedNetworks")),
    ("dev-minikube", "existing", ("loadBalancer", "sourceCidrs")),
]


def _with_cidrs(stack: str, settings: str, path: tuple[str, str], cidrs: list[str]) -> dict:
    document = copy.deepcopy(stack_document(stack))
    parent = document["config"][f"{NS}:{settings}"].setdefault(path[0], {})
    parent[path[1]] = cidrs
    return document


@pytest.mark.parametrize(
    ("stack", "settings", "path"), CIDR_SETTINGS, ids=lambda v: ".".join(v) if isinstance(v, tuple) else v
)
@pytest.mark.parametrize(
    "cidr",
    [
        "203.0.113.5",  # Python reads a bare address as a /32; the load balancer's API refuses it
        "203.0.113.0/255.255.255.0",  # a netmask, which Python reads and Go's ParseCIDR does not
        "203.0.113.0/024",
        "203.0.113.1/24",  # host bits set
        "203.0.113.0/24\n",
        "\uff1203.0.113.0/24",  # a full-width digit
    ],
)
def test_every_cidr_setting_of_every_backend_refuses_what_is_not_address_slash_prefix(stack, settings, path, cidr):
    problem = only_problem(_with_cidrs(stack, settings, path, [cidr]))
    assert problem.key == f"{NS}:{settings}.{path[0]}.{path[1]}[0]", problem
    assert (
        problem.allowed == "must be an IPv4 CIDR block (address/prefix length, no host bits set), e.g. 203.0.113.0/24"
    )


@pytest.mark.parametrize(
    ("stack", "settings", "path"), CIDR_SETTINGS, ids=lambda v: ".".join(v) if isinstance(v, tuple) else v
)
def test_every_cidr_setting_takes_address_slash_prefix(stack, settings, path):
    document = _with_cidrs(stack, settings, path, ["198.51.100.0/24", "192.0.2.7/32"])
    config.parse(*as_cli_passes(document))


@pytest.mark.parametrize(
    ("stack", "labels_at", "labels"),
    [
        ("prod-eks", ("eks", "gpuNodePools"), {"team": "ml\n"}),
        ("prod-eks", ("eks", "gpuNodePools"), {"team\n": "ml"}),
        ("prod-gke", ("gke", "gpuNodePools"), {"team": "ml\n"}),
        ("prod-gke", ("gke", "gpuNodePools"), {"team\n": "ml"}),
        ("prod-gke", ("gke", "gpuNodePools"), {"team": "ml\uff11"}),
        ("dev-minikube", ("existing", "gpu"), {"team": "ml\n"}),
        ("dev-minikube", ("existing", "gpu"), {"team\n": "ml"}),
    ],
)
def test_node_labels_with_a_trailing_newline_or_a_non_ascii_character_are_refused_on_every_backend(
    stack, labels_at, labels
):
    """`re.match` with `$` passes "ml\\n"; the API server (and the cloud's node pool API) refuses it."""
    document = copy.deepcopy(stack_document(stack))
    settings, where = labels_at
    if where == "gpuNodePools":
        document["config"][f"{NS}:{settings}"]["gpuNodePools"][0]["labels"] = labels
        key = f"{NS}:{settings}.gpuNodePools[0].labels"
    else:
        document["config"][f"{NS}:{settings}"]["gpu"] = {"nodeSelector": labels}
        key = f"{NS}:{settings}.gpu.nodeSelector"
    problem = only_problem(document)
    assert problem.key == key, problem
    assert "is not a Kubernetes label" in problem.allowed
    assert "1-63 letters, digits, '-', '_' or '.'" in problem.allowed


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ("registry.example.com:99999", "port '99999' must be a number from 1 to 65535"),
        ("registry.example.com:0", "port '0' must be a number from 1 to 65535"),
        ("registry.example.com:", "port '' must be a number from 1 to 65535"),
        ("registry.example.com:\uff15000", "port '\uff15000' must be a number from 1 to 65535"),
        ("999.0.0.1:5000", "host '999.0.0.1' is not an IPv4 address"),
        ("-registry.example.com", "host '-registry.example.com' is not a lower-case DNS name"),
        ("registry.example.com\n", "is not a lower-case DNS name"),
        ("2001:db8::1", "an IPv6 address must be in brackets, e.g. [2001:db8::1]:5000"),
        ("[2001:db8::1", "an IPv6 address must be in brackets, e.g. [2001:db8::1]:5000"),
        ("[2001:db8::1]5000", "after ']' only ':' and a port may follow"),
        ("[2001:db8::1]:0", "port '0' must be a number from 1 to 65535"),
        ("[10.0.0.5]:5000", "host '[10.0.0.5]' is not an IPv6 address"),
        ("[fe80::1%eth0]:5000", "host '[fe80::1%eth0]' is not an IPv6 address (a zone such as %eth0 is not allowed)"),
        # Docker's reference grammar takes hex digits and ':' in brackets: "invalid reference format" at the push.
        (
            "[::ffff:10.0.0.1]:5000",
            "host '[::ffff:10.0.0.1]': an image reference takes only hex digits and ':' in brackets; "
            "write it as [0:0:0:0:0:ffff:a00:1]",
        ),
        # Docker reads a one-word first component as a Docker Hub namespace (docker.io/harbor/ml/...).
        ("harbor", "host 'harbor' would be read as a Docker Hub namespace (docker.io/harbor/...)"),
        ("registry-1", "a registry host has a '.' or a port, or is localhost"),
        ("http://harbor.example.com:8443", "without a scheme: remove http://"),
        ("oci://harbor.example.com", "without a scheme: remove oci://"),
    ],
)
def test_a_registry_server_needs_a_real_host_and_a_port_a_socket_can_have(minikube, server, message):
    """`image: registry.example.com:99999/...` would render, and no node could ever pull it."""
    minikube["config"][f"{NS}:registry"] = {"server": server, "repositoryPrefix": "ml", "username": "robot"}
    problem = only_problem(minikube)
    assert problem.key == f"{NS}:registry.server" and problem.value == server
    assert problem.allowed.startswith("must be a registry host, optionally with a port")
    assert message in problem.allowed, problem


@pytest.mark.parametrize(
    "server",
    [
        "registry.example.com:65535",
        "10.0.0.5:5000",
        "localhost",
        "localhost:1",
        "harbor:5000",
        "harbor.local",
        "[2001:db8::1]:5000",
        "[::1]",
    ],
)
def test_a_registry_server_by_name_or_address(minikube, server):
    minikube["config"][f"{NS}:registry"] = {"server": server, "repositoryPrefix": "ml", "username": "robot"}
    registry = config.parse(*as_cli_passes(minikube)).registry_settings_as(OciRegistrySettings)
    assert registry.repository("trainer") == f"{server}/ml/trainer"


def test_an_object_store_endpoint_port_is_checked_like_a_registrys(minikube, existing):
    existing["artifacts"] = {
        "objectStore": {
            "uri": "s3://models",
            "endpoint": "https://minio.example.com:99999",
            "accessKeyId": "ml-platform",
        }
    }
    minikube["config"][f"{NS}:objectStoreSecretAccessKey"] = {"secure": "v1:x"}
    problem = only_problem(minikube)
    assert problem.key == f"{NS}:existing.artifacts.objectStore.endpoint"
    assert "must be an http(s) URL" in problem.allowed and "from 1 to 65535" in problem.allowed


@pytest.mark.parametrize("endpoint", ["http://minio:9000", "http://minio", "https://minio.storage.svc:9000"])
def test_an_object_store_endpoint_may_be_a_one_word_host(minikube, existing, endpoint):
    """A URL's host is not an image reference: an in-cluster `minio` Service resolves as it is."""
    existing["artifacts"] = {"objectStore": {"uri": "s3://models", "endpoint": endpoint, "accessKeyId": "ml-platform"}}
    minikube["config"][f"{NS}:objectStoreSecretAccessKey"] = {"secure": "v1:x"}
    store = config.parse(*as_cli_passes(minikube)).backend_settings_as(ExistingSettings).artifacts.object_store
    assert store is not None and store.endpoint == endpoint


@pytest.mark.parametrize("endpoint", ["http://[fd00::5]:9000", "http://[::ffff:10.0.0.1]:9000"])
def test_an_object_store_endpoint_may_be_an_ipv6_address(minikube, existing, endpoint):
    """A URL, not an image reference: an IPv4-mapped address may keep its dotted form."""
    existing["artifacts"] = {"objectStore": {"uri": "s3://models", "endpoint": endpoint, "accessKeyId": "ml-platform"}}
    minikube["config"][f"{NS}:objectStoreSecretAccessKey"] = {"secure": "v1:x"}
    assert config.parse(*as_cli_passes(minikube)).backend_settings_as(ExistingSettings).artifacts.object_store


@pytest.mark.parametrize("size", ["1m", "100", "1k", "0.5Mi"])
def test_the_artifact_volume_is_at_least_a_mebibyte_like_kinds(minikube, existing, size):
    """`1m` is a thousandth of a byte: the claim would render and never hold a model."""
    existing["artifacts"]["volume"]["size"] = size
    problem = only_problem(minikube)
    assert problem.key == f"{NS}:existing.artifacts.volume.size" and problem.value == size
    assert "must be a Kubernetes quantity of storage such as 512Mi or 4Gi, at least 1Mi" in problem.allowed
    if size == "1m":
        assert "`m` means thousandths of a byte" in problem.allowed


def _load_balanced(minikube: dict, existing: dict, **load_balancer) -> dict:
    existing["serviceTypes"] = ["ClusterIP", "LoadBalancer"]
    if load_balancer:
        existing["loadBalancer"] = load_balancer
    minikube["config"][f"{NS}:models"][0]["serving"]["serviceType"] = "LoadBalancer"
    return minikube


def test_a_load_balancer_without_source_ranges_on_an_existing_cluster_is_a_warning_naming_the_policy_rule(
    minikube, existing
):
    """Open to anyone its address reaches, which the platform cannot know (a cloud's or a LAN's), so
    a warning rather than EKS's and GKE's error; never silent."""
    (warning,) = config.parse(*as_cli_passes(_load_balanced(minikube, existing))).warnings
    assert warning.key == f"{NS}:existing.loadBalancer.sourceCidrs" and warning.value == []
    assert f"{NS}:models[0].serving.serviceType" in warning.allowed and "admits any client" in warning.allowed
    assert "load-balancer-restricted" in warning.allowed
    assert "internal" not in warning.allowed, "an existing cluster has no internal setting to offer"


def test_a_load_balancer_open_to_the_internet_on_an_existing_cluster_is_a_warning(minikube, existing):
    document = _load_balanced(minikube, existing, sourceCidrs=["0.0.0.0/1", "128.0.0.0/1"])
    (warning,) = config.parse(*as_cli_passes(document)).warnings
    assert (
        warning.key == f"{NS}:existing.loadBalancer.sourceCidrs" and "at least half of all addresses" in warning.allowed
    )
    assert "load-balancer-restricted" in warning.allowed


@pytest.mark.parametrize(
    "cidrs",
    [
        ["0.0.0.0/1"],
        [str(n) for n in ipaddress.IPv4Network("0.0.0.0/0").address_exclude(ipaddress.IPv4Network("203.0.113.7/32"))],
    ],
    ids=["half", "all-but-one-address"],
)
def test_ranges_covering_half_of_all_addresses_on_an_existing_cluster_are_a_warning(minikube, existing, cidrs):
    """Half the internet or more is no list of clients: the warning and the policy rule draw the line there."""
    (warning,) = config.parse(*as_cli_passes(_load_balanced(minikube, existing, sourceCidrs=cidrs))).warnings
    assert warning.key == f"{NS}:existing.loadBalancer.sourceCidrs" and "load-balancer-restricted" in warning.allowed


def test_declared_client_ranges_on_an_existing_cluster_reach_the_contract_without_a_warning(minikube, existing):
    document = _load_balanced(minikube, existing, sourceCidrs=["198.51.100.0/24"])
    stack = config.parse(*as_cli_passes(document))
    assert stack.warnings == ()
    assert stack.backend_settings_as(ExistingSettings).load_balancer.source_cidrs == ["198.51.100.0/24"]


def test_the_shipped_existing_stack_has_no_warnings(minikube):
    assert config.parse(*as_cli_passes(minikube)).warnings == ()


def test_declared_client_ranges_on_an_existing_cluster_are_the_services_source_ranges(minikube, existing, tmp_path):
    """Rendered as spec.loadBalancerSourceRanges, which kube-proxy (MetalLB, k3s ServiceLB) enforces as
    well as a cloud's controller; the legacy annotation is read by cloud controllers only."""
    document = _load_balanced(minikube, existing, sourceCidrs=["198.51.100.0/24", "203.0.113.0/24"])
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.dev-minikube.yaml").write_text(yaml.safe_dump(document))
    render("dev-minikube", tmp_path / "out", stacks_dir=stacks)
    services = {body["spec"]["type"]: body for body in load(tmp_path / "out").objects("Service")}
    assert services["LoadBalancer"]["spec"]["loadBalancerSourceRanges"] == ["198.51.100.0/24", "203.0.113.0/24"]
    # The API server refuses source ranges on any other type of Service.
    assert "loadBalancerSourceRanges" not in services["ClusterIP"]["spec"]


# GPU capacity: the pods of a workload that must run at once must fit the GPU pools (EKS and GKE).


def _gpu_serving(stack: str, **serving) -> dict:
    """`stack` with a GPU server: its pools hold 2 one-GPU pods (prod-eks maxSize 2, prod-gke maxNodes 2)."""
    document = copy.deepcopy(stack_document(stack))
    model = document["config"][f"{NS}:models"][0]
    for key in ("replicas", "autoscaling"):
        model["serving"].pop(key, None)
    model["serving"].update(serving)
    model["serving"]["resources"]["gpus"] = 1
    if stack == "prod-gke":
        document["config"][f"{NS}:gke"]["gpuNodePools"][0]["maxNodes"] = 2
    return document


@pytest.mark.parametrize(
    ("stack", "serving", "source", "advice"),
    [
        (
            "prod-eks",
            {"replicas": 2},
            f"{NS}:models[0].serving.replicas = 2",
            f"raise maxSize in {NS}:eks.gpuNodePools or set {NS}:models[0].serving.replicas to at most 1",
        ),
        (
            "prod-gke",
            {"autoscaling": {"minReplicas": 2, "maxReplicas": 6}},
            f"{NS}:models[0].serving.autoscaling.minReplicas = 2",
            f"raise maxNodes in {NS}:gke.gpuNodePools or set {NS}:models[0].serving.autoscaling.minReplicas to at "
            "most 1",
        ),
        (
            "prod-eks",
            {"autoscaling": {"maxReplicas": 6}},
            f"{NS}:models[0].serving.autoscaling (minReplicas 2 by default)",
            f"or add minReplicas of at most 1 to {NS}:models[0].serving.autoscaling",
        ),
        (
            "prod-gke",
            {},
            f"{NS}:models[0].serving (replicas 2 by default)",
            f"or add replicas of at most 1 to {NS}:models[0].serving",
        ),
    ],
)
def test_gpu_servers_that_the_pools_can_never_hold_with_a_rolling_update_are_an_error(stack, serving, source, advice):
    """2 GPU servers on pools of 2 GPUs deploy once, and every later update stalls: the Deployment
    starts the new pod (maxSurge 1) before it removes an old one (maxUnavailable 0). The message
    names the setting the stack has, never one it lacks (no `replicas` beside an autoscaler)."""
    problem = only_problem(_gpu_serving(stack, **serving))
    assert problem.key == f"{NS}:models[0].serving.resources.gpus" and problem.value == 1
    assert problem.allowed.startswith(f"the model's 3 server pods must all run at once ({source}, and 1 more")
    assert "hold at most 2 such pods" in problem.allowed and advice in problem.allowed
    if "autoscaling" in serving:
        assert "serving.replicas" not in problem.allowed


def test_gpu_servers_with_room_for_a_rolling_update_are_valid():
    config.parse(*as_cli_passes(_gpu_serving("prod-eks", replicas=1)))
    config.parse(*as_cli_passes(_gpu_serving("prod-gke", autoscaling={"minReplicas": 1, "maxReplicas": 6})))


def test_gpu_servers_beyond_any_lowering_only_say_to_raise_the_pools():
    """One pool node: even one replica needs a second GPU at each update, so the advice is the pools only."""
    document = _gpu_serving("prod-eks", replicas=1)
    document["config"][f"{NS}:eks"]["gpuNodePools"][0]["maxSize"] = 1
    problem = only_problem(document)
    assert problem.allowed.endswith(f"raise maxSize in {NS}:eks.gpuNodePools")


def test_a_multi_node_runs_message_names_its_nodes():
    document = copy.deepcopy(stack_document("prod-eks"))
    document["config"][f"{NS}:models"][0]["training"]["nodes"] = 3
    problem = only_problem(document)
    assert problem.allowed.startswith(f"the run's 3 pods must all run at once ({NS}:models[0].training.nodes = 3")
    assert f"or set {NS}:models[0].training.nodes to at most 2" in problem.allowed


def test_gpu_servers_on_a_shared_gpu_pool_count_every_client():
    """GKE's GPU sharing gives each node acceleratorCount x maxSharedClientsPerGpu one-GPU pods."""
    document = _gpu_serving("prod-gke", replicas=5)
    pool = document["config"][f"{NS}:gke"]["gpuNodePools"][0]
    pool["maxNodes"], pool["gpuSharing"] = 1, {"strategy": "TIME_SHARING", "maxSharedClientsPerGpu": 6}
    config.parse(*as_cli_passes(document))
    document["config"][f"{NS}:models"][0]["serving"]["replicas"] = 6
    problem = only_problem(document)
    assert "hold at most 6 such pods" in problem.allowed and "x maxSharedClientsPerGpu" in problem.allowed
