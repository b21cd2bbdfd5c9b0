"""Tier 1: stack config validation, before any resource exists."""

from __future__ import annotations

import copy
import re

import pytest

from components import config
from components.backends.kind.settings import KindSettings
from components.schema import MAX_MODEL_NAME_LENGTH
from tests.rendering import raw_config, stack_document

NS = "ml-platform"


@pytest.fixture
def dev_kind() -> dict:
    return copy.deepcopy(stack_document("dev-kind"))


def problems_of(document: dict) -> list[config.Problem]:
    with pytest.raises(config.ConfigError) as raised:
        config.parse(raw_config(document))
    return raised.value.problems


def keys_of(document: dict) -> list[str]:
    return [problem.key for problem in problems_of(document)]


def test_dev_kind_stack_is_valid():
    """The shipped stack file parses, with the defaults filled in."""
    stack = config.parse(raw_config(stack_document("dev-kind")))
    assert stack.settings.cluster_backend == "kind"
    assert [model.name for model in stack.models] == ["digits"]
    assert stack.models[0].training.resources.gpus == 0
    assert stack.models[0].serving.port == 80
    assert isinstance(stack.backend_settings, KindSettings)


def test_unknown_cluster_and_registry_kinds_are_named(dev_kind):
    """Both unknown backends are reported, each with what is allowed."""
    dev_kind["config"][f"{NS}:clusterBackend"] = "nomad"
    dev_kind["config"][f"{NS}:registryBackend"] = "quay"
    problems = {p.key: p for p in problems_of(dev_kind)}
    assert "kind, eks" in problems[f"{NS}:clusterBackend"].allowed
    assert '"nomad"' in str(problems[f"{NS}:clusterBackend"])
    assert "local, ecr" in problems[f"{NS}:registryBackend"].allowed


def test_registry_must_suit_the_cluster(dev_kind):
    """A kind cluster cannot pull from ECR through this platform; the pairing is checked."""
    dev_kind["config"][f"{NS}:registryBackend"] = "ecr"
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:registryBackend" and "works with: local" in problem.allowed


def test_model_image_must_be_declared(dev_kind):
    dev_kind["config"][f"{NS}:models"][0]["serving"]["image"] = "sever"
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:models[0].serving.image"
    assert problem.value == "sever" and "server, trainer" in problem.allowed


@pytest.mark.parametrize("value", [-1, 1.5, "2", True])
def test_replicas_must_be_a_positive_integer(dev_kind, value):
    """Negative, fractional, quoted and boolean replica counts are all rejected, never coerced."""
    dev_kind["config"][f"{NS}:models"][0]["serving"]["replicas"] = value
    assert keys_of(dev_kind) == [f"{NS}:models[0].serving.replicas"]


@pytest.mark.parametrize("value", [-1, 0.5])
def test_gpu_count_must_be_a_non_negative_integer(dev_kind, value):
    dev_kind["config"][f"{NS}:models"][0]["training"]["resources"]["gpus"] = value
    assert keys_of(dev_kind) == [f"{NS}:models[0].training.resources.gpus"]


def test_served_model_needs_a_training_source(dev_kind):
    del dev_kind["config"][f"{NS}:models"][0]["training"]
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:models[0].training" and "no training source" in problem.allowed


def test_duplicate_model_names(dev_kind):
    models = dev_kind["config"][f"{NS}:models"]
    models.append(copy.deepcopy(models[0]))
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:models[1].name" and "models[0]" in problem.allowed


@pytest.mark.parametrize(
    "name", ["Digits", "digits_v2", "-digits", "digits-", "d" * (MAX_MODEL_NAME_LENGTH + 1), "", "1digits", "123"]
)
def test_model_names_must_make_valid_kubernetes_names(dev_kind, name):
    """A model's name prefixes its Service's (a DNS-1035 label: a letter first, at most 63 with
    Pulumi's suffix): `1digits` and 40 characters made Services Kubernetes refuses."""
    dev_kind["config"][f"{NS}:models"][0]["name"] = name
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:models[0].name" and problem.value == name
    assert "DNS-1035 label of at most 28 characters" in problem.allowed and "starting with a letter" in problem.allowed


def test_a_model_name_of_the_maximum_length_is_valid(dev_kind):
    dev_kind["config"][f"{NS}:models"][0]["name"] = "d" * MAX_MODEL_NAME_LENGTH
    assert config.parse(raw_config(dev_kind)).models[0].name == "d" * MAX_MODEL_NAME_LENGTH


def test_image_names_must_be_dns_labels(dev_kind):
    images = dev_kind["config"][f"{NS}:images"]
    images["Trainer_Image"] = images.pop("trainer")
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:images.Trainer_Image (name)" and "DNS-1123" in problem.allowed


@pytest.mark.parametrize("quantity", ["2x", "-1", "0", "1.5 Gi", "Gi", "4GB"])
def test_malformed_resource_quantities(dev_kind, quantity):
    dev_kind["config"][f"{NS}:models"][0]["training"]["resources"]["memory"] = quantity
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:models[0].training.resources.memory"
    assert "Kubernetes quantity" in problem.allowed


@pytest.mark.parametrize(
    ("field", "quantity"),
    [("cpu", q) for q in ("500m", "2", "0.5", "1m", "0.001")]
    + [("memory", q) for q in ("512Mi", "4Gi", "1G", "1Mi", "1.5Gi")],
)
def test_well_formed_quantities_pass(dev_kind, field, quantity):
    dev_kind["config"][f"{NS}:models"][0]["serving"]["resources"][field] = quantity
    config.parse(raw_config(dev_kind))


@pytest.mark.parametrize(
    ("field", "quantity", "words"),
    [
        ("memory", "1m", "write Mi for mebibytes"),
        ("memory", "512", "at least 1Mi"),
        ("memory", "0.5Mi", "at least 1Mi"),
        ("memory", "1000k", "at least 1Mi"),
        ("cpu", "0.0001", "at least 1m"),
        ("cpu", "0.5m", "at least 1m"),
        ("cpu", "2Gi", "cores (2, 0.5) or millicores (500m)"),
    ],
)
def test_quantities_must_be_sane_for_what_they_measure(dev_kind, field, quantity, words):
    """`memory: 1m` is one millibyte and `cpu: 2Gi` two billion cores: well-formed Kubernetes
    quantities that can never run, refused with what was probably meant."""
    dev_kind["config"][f"{NS}:models"][0]["training"]["resources"][field] = quantity
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:models[0].training.resources.{field}" and words in problem.allowed


def test_kind_artifact_volume_is_a_storage_size(dev_kind):
    dev_kind["config"][f"{NS}:kind"] = {"artifactVolumeSize": "5m"}
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:kind.artifactVolumeSize" and "storage" in problem.allowed


def test_unknown_keys_are_errors_at_every_level(dev_kind):
    """A typo must never fall back to a default: top-level and nested typos are named with what is allowed."""
    dev_kind["config"][f"{NS}:kubernetesVerison"] = "1.34"
    dev_kind["config"][f"{NS}:models"][0]["serving"]["replica"] = 3
    problems = {p.key: p for p in problems_of(dev_kind)}
    assert "kubernetesVersion" in problems[f"{NS}:kubernetesVerison"].allowed
    assert "replicas" in problems[f"{NS}:models[0].serving.replica"].allowed


def test_every_problem_is_reported_together(dev_kind):
    models = dev_kind["config"][f"{NS}:models"]
    models[0]["serving"]["replicas"] = -2
    models[0]["training"]["resources"]["cpu"] = "lots"
    dev_kind["config"][f"{NS}:clusterBackend"] = "nomad"
    models.append({"name": "second", "serving": {"image": "server"}})
    with pytest.raises(config.ConfigError) as raised:
        config.parse(raw_config(dev_kind))
    message = str(raised.value)
    assert "4 problem(s)" in message
    for key in (
        "models[0].serving.replicas",
        "models[0].training.resources.cpu",
        "clusterBackend",
        "models[1].training",
    ):
        assert f"{NS}:{key}" in message


def test_required_keys(dev_kind):
    del dev_kind["config"][f"{NS}:models"]
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:models" and problem.allowed == "required"


def test_kind_node_image_must_match_kubernetes_version(dev_kind):
    dev_kind["config"][f"{NS}:kubernetesVersion"] = "1.34"
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:kind.nodeImage" and "1.34" in problem.allowed


def test_kind_images_must_be_pinned_by_digest(dev_kind):
    dev_kind["config"][f"{NS}:kind"] = {"registryImage": "registry:2"}
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:kind.registryImage" and "digest" in problem.allowed


def test_load_balancer_is_refused_on_kind(dev_kind):
    """kind has no load-balancer controller: a LoadBalancer Service would never get an address."""
    dev_kind["config"][f"{NS}:models"][0]["serving"]["serviceType"] = "LoadBalancer"
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:models[0].serving.serviceType" and "ClusterIP" in problem.allowed


def test_scalar_keys_arrive_as_strings():
    """The CLI passes every value as a string: booleans and versions must still parse as declared."""
    document = stack_document("dev-kind")
    raw = raw_config(document) | {f"{NS}:awaitTraining": "false", f"{NS}:kubernetesVersion": "1.33"}
    stack = config.parse(raw)
    assert stack.settings.await_training is False and stack.settings.kubernetes_version == "1.33"


def test_zero_is_not_replaced_by_a_default(dev_kind):
    """An explicit 0 (here: backoffLimit) is kept, not turned into the default."""
    dev_kind["config"][f"{NS}:models"][0]["training"]["backoffLimit"] = 0
    assert config.parse(raw_config(dev_kind)).models[0].training.backoff_limit == 0


def test_build_context_must_exist(dev_kind):
    """A stack must never point at an empty or missing build context."""
    dev_kind["config"][f"{NS}:images"]["server"]["context"] = "images/no-such-image"
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:images.server.context" and "Dockerfile" in problem.allowed


def test_a_model_with_nothing_to_train_is_refused(dev_kind):
    dev_kind["config"][f"{NS}:models"][0] = {"name": "empty"}
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:models[0].training" and "model empty has no training source" in problem.allowed


def test_a_key_in_an_unknown_namespace_is_an_error_naming_the_closest_known_key(dev_kind):
    """`ml-platfrom:awaitTraining: false` was accepted and did nothing: the default stayed in force."""
    dev_kind["config"]["ml-platfrom:awaitTraining"] = False
    (problem,) = problems_of(dev_kind)
    assert problem.key == "ml-platfrom:awaitTraining"
    assert "unknown namespace 'ml-platfrom'" in problem.allowed
    assert "did you mean ml-platform:awaitTraining?" in problem.allowed


def test_a_misspelt_key_names_the_closest_known_key_at_every_level(dev_kind):
    dev_kind["config"][f"{NS}:awaitTrainig"] = False
    dev_kind["config"][f"{NS}:models"][0]["serving"]["replica"] = 3
    problems = {p.key: p.allowed for p in problems_of(dev_kind)}
    assert "did you mean awaitTraining?" in problems[f"{NS}:awaitTrainig"]
    assert "did you mean replicas?" in problems[f"{NS}:models[0].serving.replica"]


def test_kubernetes_provider_config_is_refused_because_it_would_do_nothing(dev_kind):
    """Every Kubernetes resource has an explicit provider, which reads no `kubernetes:` config."""
    dev_kind["config"]["kubernetes:kubeconfig"] = "~/.kube/config"
    (problem,) = problems_of(dev_kind)
    assert problem.key == "kubernetes:kubeconfig" and "has no effect" in problem.allowed


def test_another_backends_provider_config_is_refused(dev_kind):
    dev_kind["config"]["aws:region"] = "us-west-2"
    (problem,) = problems_of(dev_kind)
    assert problem.key == "aws:region" and "read only when clusterBackend is eks" in problem.allowed


def test_pulumi_docker_and_the_backends_provider_namespaces_are_read(dev_kind):
    """Pulumi's own keys and the Docker provider's apply to every stack; `aws:` keys the program
    does not read itself (`aws:profile`) are the AWS provider's, on an EKS stack."""
    dev_kind["config"]["pulumi:tags"] = {"team": "ml"}
    dev_kind["config"]["docker:host"] = "ssh://builder"
    config.parse(raw_config(dev_kind))
    eks = copy.deepcopy(stack_document("prod-eks"))
    eks["config"]["aws:profile"] = "prod"
    config.parse(raw_config(eks))


def test_a_secret_value_never_appears_in_a_problem(dev_kind):
    """The CLI hands secrets to the program decrypted; a misplaced secret must not be printed."""
    dev_kind["config"]["ml-platfrom:apiToken"] = "hunter2"
    dev_kind["config"][f"{NS}:models"] = "hunter3"
    with pytest.raises(config.ConfigError) as raised:
        config.parse(raw_config(dev_kind), secret_keys={"ml-platfrom:apiToken", f"{NS}:models"})
    assert "hunter2" not in str(raised.value) and "hunter3" not in str(raised.value)
    assert "ml-platfrom:apiToken" in str(raised.value) and "[secret]" in str(raised.value)


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A repository with both images, beside a directory outside it that holds a Dockerfile too."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Dockerfile").write_text("FROM scratch\n")
    root = tmp_path / "repository"
    for name in ("trainer", "server"):
        (root / "images" / name).mkdir(parents=True)
        (root / "images" / name / "Dockerfile").write_text("FROM scratch\n")
    (root / "images" / "linked").symlink_to(outside)
    (root / "images" / "server" / "Linked.Dockerfile").symlink_to(outside / "Dockerfile")
    monkeypatch.setattr(config, "PROJECT_ROOT", root)
    return root


@pytest.mark.parametrize(
    ("context", "words"),
    [
        ("../outside", "'..' is not allowed"),
        ("images/../../outside", "'..' is not allowed"),
        ("{outside}", "not an absolute one"),
        ("images/linked", "a symlink that leads to {outside}"),
    ],
)
def test_a_build_context_outside_the_repository_is_refused(dev_kind, repository, context, words):
    """Each of these holds a Dockerfile and was accepted: the build would send, and the image bake
    in, files from anywhere on the machine that runs `pulumi up`."""
    outside = repository.parent / "outside"
    dev_kind["config"][f"{NS}:images"]["trainer"]["context"] = context.format(outside=outside)
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:images.trainer.context" and words.format(outside=outside) in problem.allowed


@pytest.mark.parametrize("dockerfile", ["../trainer/Dockerfile", "Linked.Dockerfile"])
def test_a_dockerfile_outside_its_build_context_is_refused(dev_kind, repository, dockerfile):
    dev_kind["config"][f"{NS}:images"]["server"]["dockerfile"] = dockerfile
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:images.server.dockerfile" and "inside the build context" in problem.allowed


def test_an_unquoted_version_says_quote_it(dev_kind):
    """`kubernetesVersion: 1.30` reaches the program as "1.3" (the CLI passes the number's text);
    a number where text is expected inside an object (`cpu: 0.5`) says the same."""
    dev_kind["config"][f"{NS}:kubernetesVersion"] = "1.3"
    dev_kind["config"][f"{NS}:models"][0]["training"]["resources"]["cpu"] = 0.5
    problems = {p.key: p.allowed for p in problems_of(dev_kind)}
    assert (
        "quoted" in problems[f"{NS}:kubernetesVersion"]
        and "1.30 as the number 1.3" in problems[f"{NS}:kubernetesVersion"]
    )
    assert "quote it" in problems[f"{NS}:models[0].training.resources.cpu"]


@pytest.mark.parametrize("value", [True, False])
def test_an_unquoted_boolean_where_text_is_expected_says_boolean_not_number(dev_kind, value):
    """`ACCESS_LOG: true` is YAML's boolean; Python counts a bool as an int, but the message must not."""
    dev_kind["config"][f"{NS}:models"][0]["serving"]["env"] = {"ACCESS_LOG": value}
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:models[0].serving.env.ACCESS_LOG" and problem.value is value
    assert "gives a boolean here" in problem.allowed and "quote it" in problem.allowed
    assert "number" not in problem.allowed


@pytest.mark.parametrize(("gpus", "processes"), [(1, 2), (2, 4)])
def test_more_training_processes_than_gpus_is_an_error_naming_both_keys(dev_kind, gpus, processes):
    """torchrun gives each process a GPU of its own: two on one GPU fail at start (NCCL 'Duplicate GPU')."""
    training = dev_kind["config"][f"{NS}:models"][0]["training"]
    training["resources"]["gpus"], training["processesPerNode"] = gpus, processes
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:models[0].training.processesPerNode" and problem.value == processes
    assert f"more processes than {NS}:models[0].training.resources.gpus ({gpus})" in problem.allowed
    assert "Duplicate GPU" in problem.allowed


@pytest.mark.parametrize(("gpus", "processes"), [(0, 4), (2, 2), (4, 1)])
def test_processes_up_to_the_gpus_or_any_number_on_cpu_are_valid(dev_kind, gpus, processes):
    training = dev_kind["config"][f"{NS}:models"][0]["training"]
    training["resources"]["gpus"], training["processesPerNode"] = gpus, processes
    assert config.parse(raw_config(dev_kind)).models[0].training.processes_per_node == processes


@pytest.mark.parametrize("namespace", ["default", "kube-system", "kube-public", "kube-node-lease", "kube-mine"])
def test_the_workload_namespace_may_not_be_kubernetes_own(dev_kind, namespace):
    """The stack labels its namespace `restricted` and denies ingress there by default: in
    kube-system or default that would break the cluster's own workloads."""
    dev_kind["config"][f"{NS}:namespace"] = namespace
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:namespace" and problem.value == namespace
    assert "not default or a kube-* one" in problem.allowed and "kube-system" in problem.allowed


def set_key(document: dict, key: str, value) -> None:
    """Sets `key` (`models[0].training.resources.cpu`, `kind.artifactVolumeSize`) of the stack file."""
    top, *parts = re.split(r"\.|(?=\[)", key)
    target = document["config"]
    path = [f"{NS}:{top}", *(int(part[1:-1]) if part.startswith("[") else part for part in parts)]
    for part in path[:-1]:
        target = target.setdefault(part, {}) if isinstance(target, dict) else target[part]
    target[path[-1]] = value


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("models[0].training.resources.memory", "\uff15\uff11\uff12Mi"),  # full-width digits: 512Mi
        ("models[0].training.resources.cpu", "\uff12"),
        ("models[0].serving.resources.cpu", "\u0662"),  # an Arabic-Indic 2
        ("models[0].serving.resources.memory", "512Mi\n"),
        ("kind.artifactVolumeSize", "\uff15Gi"),
        ("kubernetesVersion", "1.\uff13\uff13"),
        ("kubernetesVersion", "1.33\n"),
    ],
)
def test_quantities_and_versions_take_ascii_digits_only(dev_kind, key, value):
    """Python's \\d matches any script's digits and `$` matches before a trailing newline; Kubernetes
    takes neither, so these failed at `pulumi up` instead."""
    set_key(dev_kind, key, value)
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:{key}" and problem.value == value


INT32 = 2**31 - 1


@pytest.mark.parametrize(
    ("role", "field", "value", "words"),
    [
        ("serving", "replicas", 2**40, f"at most {INT32}"),
        ("serving", "maxBatchSize", INT32 + 1, "at most 268435456 (the server's bound on MAX_INSTANCES"),
        ("serving", "maxBatchSize", 2**28 + 1, "at most 268435456 (the server's bound on MAX_INSTANCES"),
        ("serving", "resources.gpus", INT32 + 1, f"at most {INT32}"),
        ("training", "backoffLimit", 2**63, f"at most {INT32}"),
        ("training", "epochs", INT32 + 1, f"at most {INT32}"),
        ("training", "batchSize", INT32 + 1, f"at most {INT32}"),
        ("training", "processesPerNode", INT32 + 1, f"at most {INT32}"),
        ("training", "activeDeadlineSeconds", 2**63, f"at most {INT32} (68 years"),
        ("training", "nodes", 2**31, "at most 100000 (the most completions an Indexed Job may have)"),
        ("training", "nodes", 100_001, "at most 100000"),
        ("training", "seed", 2**64, f"at most {2**64 - 1} (the largest seed torch.manual_seed accepts)"),
    ],
)
def test_integers_stay_within_what_kubernetes_and_the_trainer_accept(dev_kind, role, field, value, words):
    """Each was accepted and would have failed at `pulumi up` (or in the trainer) instead."""
    set_key(dev_kind, f"models[0].{role}.{field}", value)
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:models[0].{role}.{field}" and problem.value == value
    assert words in problem.allowed


def test_autoscaling_bounds_are_32_bit(dev_kind):
    serving = dev_kind["config"][f"{NS}:models"][0]["serving"]
    del serving["replicas"]
    serving["autoscaling"] = {"minReplicas": 2, "maxReplicas": 2**31}
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:models[0].serving.autoscaling.maxReplicas" and f"at most {INT32}" in problem.allowed


def test_the_largest_seed_torch_accepts_is_valid(dev_kind):
    dev_kind["config"][f"{NS}:models"][0]["training"]["seed"] = 2**64 - 1
    assert config.parse(raw_config(dev_kind)).models[0].training.seed == 2**64 - 1


@pytest.mark.parametrize("key", [f"{NS}:namespace", f"{NS}:models", f"{NS}:awaitTraining"])
def test_a_key_that_is_not_a_secret_may_not_be_set_as_one(dev_kind, key):
    """The program publishes these in clear (outputs, manifests): a `secure:` value in the stack
    file promised a secrecy nobody got. The value itself is still never shown."""
    dev_kind["config"].setdefault(key, "ml-secret-ns" if key.endswith("namespace") else "true")
    with pytest.raises(config.ConfigError) as raised:
        config.parse(raw_config(dev_kind), secret_keys={key})
    (problem,) = raised.value.problems
    assert problem.key == key
    assert (
        problem.allowed.startswith("not a secret: set it in clear") and f"pulumi config set {key} " in problem.allowed
    )
    assert "ml-secret-ns" not in str(raised.value)


def test_a_providers_key_the_program_reads_may_not_be_secret_but_its_own_secrets_may():
    eks = copy.deepcopy(stack_document("prod-eks"))
    eks["config"]["aws:secretKey"] = "decrypted"
    config.parse(raw_config(eks), secret_keys={"aws:secretKey"})
    with pytest.raises(config.ConfigError) as raised:
        config.parse(raw_config(eks), secret_keys={"aws:region"})
    (problem,) = raised.value.problems
    assert problem.key == "aws:region" and "not a secret" in problem.allowed


@pytest.mark.parametrize(("dockerfile", "state"), [(".", "is a directory"), ("Dockerfile.gpu", "does not exist")])
def test_a_dockerfile_that_is_not_a_file_is_named_as_the_problem(dev_kind, dockerfile, state):
    """`dockerfile: "."` blamed `context` and said the existing context "does not exist"."""
    dev_kind["config"][f"{NS}:images"]["trainer"]["dockerfile"] = dockerfile
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:images.trainer.dockerfile" and problem.value == dockerfile
    assert problem.allowed.startswith("must be a file inside the build context") and state in problem.allowed


def test_a_build_target_must_be_a_stage_of_the_dockerfile(dev_kind):
    """`docker build --target` fails on a stage the Dockerfile does not name, at `pulumi up`."""
    dev_kind["config"][f"{NS}:images"]["trainer"]["target"] = "no such stage!"
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:images.trainer.target" and problem.value == "no such stage!"
    assert problem.allowed.startswith("must name a stage of") and problem.allowed.endswith(": build, runtime")


@pytest.mark.parametrize("target", ["runtime", "Build", "RUNTIME"])
def test_a_build_target_is_matched_ignoring_case_as_docker_does(dev_kind, target):
    dev_kind["config"][f"{NS}:images"]["trainer"]["target"] = target
    assert config.parse(raw_config(dev_kind)).images["trainer"].target == target


def test_a_target_of_a_dockerfile_without_named_stages_is_refused(dev_kind, repository):
    dev_kind["config"][f"{NS}:images"]["server"]["target"] = "runtime"
    (problem,) = problems_of(dev_kind)
    assert problem.key == f"{NS}:images.server.target" and "names no stage" in problem.allowed
