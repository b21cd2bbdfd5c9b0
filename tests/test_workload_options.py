"""Tier 1: what a stack may add to a model's workloads (extra trainer flags, environment variables,
an autoscaler), what it may not override, and what the pod and scaling builders make of it."""

from __future__ import annotations

import copy

import pytest

from components import config, workload_options
from components.config import Resources, ServingConfig, TrainingConfig
from components.contracts.artifacts import ArtifactAccess
from components.contracts.cluster import NO_GPUS
from components.workload_options import Autoscaling
from components.workloads import pod, scaling, serving_pod, training_pod
from components.workloads.training_job import run_id
from tests.rendering import raw_config, stack_document

NS = "ml-platform"
IMAGE = "r/trainer@sha256:" + "a" * 64
ACCESS = ArtifactAccess(model_root_uri="file:///models/m", service_account_name="sa")
MODEL = f"{NS}:models[0]"


@pytest.fixture
def dev_kind() -> dict:
    return copy.deepcopy(stack_document("dev-kind"))


def _model(document: dict) -> dict:
    return document["config"][f"{NS}:models"][0]


def _problems(document: dict) -> dict[str, config.Problem]:
    with pytest.raises(config.ConfigError) as raised:
        config.parse(raw_config(document))
    return {problem.key: problem for problem in raised.value.problems}


def _training_container(training: TrainingConfig, access: ArtifactAccess = ACCESS):
    template = training_pod.training_pod_template(
        model="digits",
        image="i",
        model_uri="file:///models/digits/runs/x",
        training=training,
        access=access,
        placement=pod.place(training.resources, NO_GPUS, "w"),
        labels={},
    )
    return template.spec.containers[0]


def _serving_container(serving: ServingConfig, access: ArtifactAccess = ACCESS):
    template = serving_pod.serving_pod_template(
        token_secret="token" if serving.require_token else None,
        model="digits",
        image="i",
        model_uri="file:///models/digits/runs/x",
        serving=serving,
        access=access,
        placement=pod.place(serving.resources, NO_GPUS, "w"),
        labels={},
        selector={},
    )
    return template.spec.containers[0]


# What the platform sets is exactly what it reserves.


def test_reserved_flags_are_the_flags_the_training_pod_passes():
    """A flag the pod passes but does not reserve could be silently overridden by `training.args`."""
    arguments = training_pod.training_arguments("digits", TrainingConfig(image="t"), "u")
    assert set(arguments[::2]) == set(workload_options.TRAINER_FLAGS)


def test_reserved_variables_cover_what_the_pods_set():
    serving_names = {variable.name for variable in _serving_container(ServingConfig(image="s", require_token=True)).env}
    assert serving_names == set(workload_options.SERVING_ENV)
    training_names = {variable.name for variable in _training_container(TrainingConfig(image="t")).env}
    assert training_names <= set(workload_options.TRAINING_ENV)


# Config errors: key, value and what is allowed.


@pytest.mark.parametrize(
    ("argument", "flag"),
    [("--epochs", "--epochs"), ("--seed=3", "--seed"), ("--epoch", "--epochs"), ("--output", "--output-uri")],
)
def test_training_args_may_not_repeat_the_platforms_flags(dev_kind, argument, flag):
    """argparse keeps a flag's last value and expands unambiguous prefixes: either would override."""
    _model(dev_kind)["training"]["args"] = ["--device", "cpu", argument, "3"]
    (problem,) = _problems(dev_kind).values()
    assert problem.key == f"{MODEL}.training.args[2]" and problem.value == argument
    assert flag in problem.allowed and workload_options.TRAINER_FLAGS[flag] in problem.allowed
    assert "except --output-uri, --model-name, --epochs, --batch-size, --learning-rate, --seed" in problem.allowed


@pytest.mark.parametrize(
    ("argument", "shown"),
    [
        ("--help", "--help is argparse's help"),
        ("--he", "--he (argparse reads it as --help)"),
        ("--h", "--h (argparse reads it as --help)"),
        ("-h", "-h is argparse's help"),
        ("-hv", "-hv (argparse reads it as -h first)"),
    ],
)
def test_training_args_may_not_ask_for_help(dev_kind, argument, shown):
    """argparse prints the usage and exits 0: the Job would succeed, and serving wait for a model never trained."""
    _model(dev_kind)["training"]["args"] = ["--device", "cpu", argument]
    (problem,) = _problems(dev_kind).values()
    assert problem.key == f"{MODEL}.training.args[2]" and problem.value == argument
    assert problem.allowed.startswith(shown) and "exit 0" in problem.allowed
    assert "--learning-rate, --seed, --help or a prefix of one, and -h alone or with more letters" in problem.allowed


@pytest.mark.parametrize("argument", ["$(E)", "--note=$(E)", "$$$(E)", "a$(b"])
def test_training_args_may_not_refer_to_variables(dev_kind, argument):
    """Kubernetes expands $(NAME) in args from the container's variables: with env {E: --epochs}
    the trainer would get a reserved flag the check never saw."""
    _model(dev_kind)["training"]["args"] = [argument, "1"]
    _model(dev_kind)["training"]["env"] = {"E": "--epochs"}
    (problem,) = _problems(dev_kind).values()
    assert problem.key == f"{MODEL}.training.args[0]" and problem.value == argument
    assert "Kubernetes would replace by its value" in problem.allowed
    assert "write $$( for a literal $(" in problem.allowed


def test_a_literal_dollar_parenthesis_is_written_doubled(dev_kind):
    """`$$(` reaches the trainer as `$(` (Kubernetes' escape); a `$` elsewhere is left alone."""
    _model(dev_kind)["training"]["args"] = ["--note", "$$(E) costs $5", "--x=$$$$(y)"]
    (model,) = config.parse(raw_config(dev_kind)).models
    assert model.training.args == ["--note", "$$(E) costs $5", "--x=$$$$(y)"]


@pytest.mark.parametrize(
    ("role", "name"),
    [
        ("serving", "MODEL_URI"),
        ("serving", "model_uri"),  # the server reads its settings case-insensitively
        ("serving", "PORT"),
        ("serving", "AWS_ACCESS_KEY_ID"),
        ("serving", "GOOGLE_APPLICATION_CREDENTIALS"),
        ("training", "PYTHONUNBUFFERED"),
        ("training", "MASTER_ADDR"),
        ("training", "TORCHELASTIC_RUN_ID"),
        ("training", "AWS_REGION"),
        # torchrun reads each flag's default from PET_<FLAG>: PET_STANDALONE=1 ignores --master-addr.
        ("training", "PET_STANDALONE"),
        ("training", "pet_nnodes"),
        # The server listens where the probes and the Service reach it.
        ("serving", "HOST"),
        ("serving", "host"),
        # With the NVIDIA runtime's envvar strategy, NVIDIA_VISIBLE_DEVICES=all shows every GPU of the node.
        ("serving", "NVIDIA_VISIBLE_DEVICES"),
        ("training", "NVIDIA_VISIBLE_DEVICES"),
        ("training", "NVIDIA_DRIVER_CAPABILITIES"),
        ("serving", "CUDA_VISIBLE_DEVICES"),
        ("training", "CUDA_VISIBLE_DEVICES"),
    ],
)
def test_env_may_not_set_what_the_platform_torchrun_the_gpu_stack_or_the_artifact_store_set(dev_kind, role, name):
    _model(dev_kind)[role]["env"] = {"LOG_LEVEL": "debug", name: "x"}
    (problem,) = _problems(dev_kind).values()
    assert problem.key == f"{MODEL}.{role}.env.{name} (name)" and problem.value == name
    assert problem.allowed.startswith(name) and "allowed: any C identifier" in problem.allowed


@pytest.mark.parametrize("name", ["1ST", "LOG-LEVEL", "A B", ""])
def test_env_names_are_c_identifiers(dev_kind, name):
    _model(dev_kind)["serving"]["env"] = {name: "x"}
    (problem,) = _problems(dev_kind).values()
    assert problem.key == f"{MODEL}.serving.env.{name} (name)" and "not a C identifier" in problem.allowed


@pytest.mark.parametrize("role", ["serving", "training"])
def test_env_names_equal_but_for_case_are_refused(dev_kind, role):
    """The server reads its settings ignoring case: with LOG_LEVEL and log_level the manifest says
    one thing and the server uses the other."""
    _model(dev_kind)[role]["env"] = {"LOG_LEVEL": "info", "WORKERS": "2", "log_level": "debug"}
    (problem,) = _problems(dev_kind).values()
    assert problem.key == f"{MODEL}.{role}.env"
    assert problem.allowed.startswith("LOG_LEVEL and log_level differ only in case") and "keep one" in problem.allowed


@pytest.mark.parametrize("value", [1, True, None, ["a"]])
def test_env_values_are_strings_never_coerced(dev_kind, value):
    """YAML `PORT: 8080` is an int; quoting it is the user's decision, not a silent conversion."""
    _model(dev_kind)["serving"]["env"] = {"WORKERS": value}
    assert list(_problems(dev_kind)) == [f"{MODEL}.serving.env.WORKERS"]


def test_names_the_platform_leaves_alone_are_accepted(dev_kind):
    _model(dev_kind)["training"]["args"] = ["--device", "cpu", "--seed-offset=1", "--", "--epochs-note"]
    _model(dev_kind)["training"]["env"] = {"NCCL_DEBUG": "INFO", "_PRIVATE": "1"}
    _model(dev_kind)["serving"]["env"] = {"LOG_LEVEL": "debug", "INFERENCE_THREADS": "2"}
    (model,) = config.parse(raw_config(dev_kind)).models
    assert model.training.args == ["--device", "cpu", "--seed-offset=1", "--", "--epochs-note"]
    assert model.training.env == {"NCCL_DEBUG": "INFO", "_PRIVATE": "1"}
    assert model.serving is not None and model.serving.env["INFERENCE_THREADS"] == "2"


def test_replicas_and_autoscaling_conflict(dev_kind):
    """The shipped dev-kind stack sets replicas: adding autoscaling must make the user choose."""
    _model(dev_kind)["serving"]["autoscaling"] = {"minReplicas": 2, "maxReplicas": 4}
    (problem,) = _problems(dev_kind).values()
    assert problem.key == f"{MODEL}.serving.replicas" and problem.value == 2
    assert "conflicts with autoscaling" in problem.allowed and "remove replicas" in problem.allowed


def test_autoscaling_without_replicas_is_valid_with_defaults(dev_kind):
    serving = _model(dev_kind)["serving"]
    del serving["replicas"]
    serving["autoscaling"] = {"maxReplicas": 4}
    (model,) = config.parse(raw_config(dev_kind)).models
    assert model.serving is not None and model.serving.autoscaling == Autoscaling(
        min_replicas=2, max_replicas=4, target_cpu_utilization=70
    )


@pytest.mark.parametrize(
    ("autoscaling", "key", "allowed"),
    [
        ({"minReplicas": 5, "maxReplicas": 3}, "autoscaling", "maxReplicas (3) must be at least minReplicas (5)"),
        ({"minReplicas": 0, "maxReplicas": 3}, "autoscaling.minReplicas", "greater than or equal to 1"),
        ({"minReplicas": 2}, "autoscaling.maxReplicas", "required"),
        ({"maxReplicas": 3, "targetCpuUtilization": 100}, "autoscaling.targetCpuUtilization", "from 1 to 90"),
        ({"maxReplicas": 3, "targetCpuUtilization": 0}, "autoscaling.targetCpuUtilization", "from 1 to 90"),
        ({"maxReplicas": 3, "targetMemoryUtilization": 80}, "autoscaling.targetMemoryUtilization", "unknown key"),
    ],
)
def test_autoscaling_bounds(dev_kind, autoscaling, key, allowed):
    serving = _model(dev_kind)["serving"]
    del serving["replicas"]
    serving["autoscaling"] = autoscaling
    (problem,) = _problems(dev_kind).values()
    assert problem.key == f"{MODEL}.serving.{key}" and allowed in problem.allowed


# The run id: args decide the model, and so may env.


def test_training_args_and_env_are_part_of_the_run_id():
    base = run_id(IMAGE, TrainingConfig(image="trainer"))
    with_args = run_id(IMAGE, TrainingConfig(image="trainer", args=["--hidden-units", "128"]))
    assert with_args != base
    assert with_args != run_id(IMAGE, TrainingConfig(image="trainer", args=["--hidden-units", "256"]))
    assert with_args != run_id(IMAGE, TrainingConfig(image="trainer", args=["128", "--hidden-units"]))
    with_env = run_id(IMAGE, TrainingConfig(image="trainer", env={"DATA_DIR": "/a", "NCCL_DEBUG": "INFO"}))
    assert with_env != base
    assert with_env == run_id(IMAGE, TrainingConfig(image="trainer", env={"NCCL_DEBUG": "INFO", "DATA_DIR": "/a"}))


def test_run_ids_from_before_args_and_env_existed_are_kept():
    """Upgrading the platform must not retrain every model: with neither set, the digest is the one
    computed before the fields existed (values from the previous `run_id`)."""
    # The settings of that run spelled out: the defaults have changed since (15 epochs, batch 32, lr 0.003).
    before = TrainingConfig(image="trainer", epochs=10, batch_size=64, learning_rate=0.001)
    assert run_id(IMAGE.replace("r/trainer", "r"), before) == "975a45da72d9"
    assert run_id(IMAGE, TrainingConfig(image="t", args=[], env={})) == run_id(IMAGE, TrainingConfig(image="t"))


# What the pod builders do with them.


def test_extra_args_follow_the_platforms_flags():
    training = TrainingConfig(image="t", args=["--device", "cpu"])
    arguments = training_pod.training_arguments("digits", training, "u")
    assert arguments[-2:] == ["--device", "cpu"] and arguments[0] == "--output-uri"
    container = _training_container(training)
    assert container.args[-2:] == ["--device", "cpu"]


def test_extra_env_follows_the_platforms_in_the_stack_files_order():
    container = _training_container(TrainingConfig(image="t", env={"B": "2", "A": "1"}))
    assert [(v.name, v.value) for v in container.env] == [("PYTHONUNBUFFERED", "1"), ("B", "2"), ("A", "1")]
    container = _serving_container(ServingConfig(image="s", env={"LOG_LEVEL": "debug"}))
    assert [v.name for v in container.env][-1] == "LOG_LEVEL" and container.env[-1].value == "debug"


def test_a_variable_a_backend_sets_but_nobody_reserved_is_an_error_at_every_render():
    """Backstop for a new backend: its artifact store's variables must be reserved, or a stack could
    set them too and its value silently win (the later duplicate); refused even while no stack does."""
    from pulumi_kubernetes.core.v1 import EnvVarArgs

    access = ArtifactAccess(
        model_root_uri="azure://c/m", service_account_name="sa", env=[EnvVarArgs(name="AZURE_CLIENT_ID", value="x")]
    )
    for build, workload in (
        (_serving_container, ServingConfig(image="s")),
        (_training_container, TrainingConfig(image="t")),
    ):
        with pytest.raises(
            ValueError, match=r"sets AZURE_CLIENT_ID, .*nothing reserves.*components/workload_options\.py"
        ):
            build(workload, access)


def test_every_variable_the_pods_set_is_reserved_for_their_workload():
    """The pods' own variables, the artifact stores' (AWS_*), and the server's listen address."""
    from pulumi_kubernetes.core.v1 import EnvVarArgs

    access = ArtifactAccess(
        model_root_uri="s3://b/m",
        service_account_name="sa",
        env=[EnvVarArgs(name="AWS_REGION", value="r"), EnvVarArgs(name="AWS_ENDPOINT_URL_S3", value="u")],
    )
    server = _serving_container(ServingConfig(image="s", require_token=True), access)
    assert all(workload_options.serving_env_owner(variable.name) for variable in server.env)
    assert {"name": "HOST", "value": "0.0.0.0"} in [{"name": v.name, "value": v.value} for v in server.env]
    trainer = _training_container(TrainingConfig(image="t"), access)
    assert all(workload_options.training_env_owner(variable.name) for variable in trainer.env)


# Scaling: replicas, the autoscaler and the disruption budget.


def _serving(**fields) -> ServingConfig:
    return ServingConfig(image="server", resources=Resources(cpu="250m", memory="512Mi"), **fields)


def test_without_an_autoscaler_pulumi_owns_the_replica_count():
    serving = _serving(replicas=3)
    assert scaling.minimum_replicas(serving) == 3
    assert scaling.deployment_ignore_changes(serving) is None


def test_with_an_autoscaler_the_deployment_starts_at_the_minimum_and_pulumi_never_sets_it_again():
    serving = _serving(autoscaling=Autoscaling(min_replicas=3, max_replicas=8))
    assert scaling.minimum_replicas(serving) == 3
    assert scaling.deployment_ignore_changes(serving) == ["spec.replicas"]


def test_autoscaler_targets_the_deployment_on_cpu_utilisation():
    serving = _serving(autoscaling=Autoscaling(min_replicas=2, max_replicas=5, target_cpu_utilization=60))
    spec = scaling.autoscaler_spec(serving, "digits-serving-deployment-abc")
    assert (spec.min_replicas, spec.max_replicas) == (2, 5)
    target = spec.scale_target_ref
    assert (target.api_version, target.kind, target.name) == ("apps/v1", "Deployment", "digits-serving-deployment-abc")
    (metric,) = spec.metrics
    assert metric.type == "Resource" and metric.resource.name == "cpu"
    assert (metric.resource.target.type, metric.resource.target.average_utilization) == ("Utilization", 60)
    with pytest.raises(ValueError, match="no autoscaling"):
        scaling.autoscaler_spec(_serving(), "d")


@pytest.mark.parametrize(
    ("fields", "max_unavailable", "min_available"),
    [
        ({"replicas": 2}, 1, None),
        ({"replicas": 5}, 1, None),
        ({"autoscaling": Autoscaling(min_replicas=2, max_replicas=4)}, 1, None),
        # One pod: maxUnavailable 1 would let a drain take the model down; minAvailable 1 forbids it.
        ({"replicas": 1}, None, 1),
        ({"autoscaling": Autoscaling(min_replicas=1, max_replicas=4)}, None, 1),
    ],
)
def test_disruption_budget_never_allows_zero_serving_pods(fields, max_unavailable, min_available):
    spec = scaling.disruption_budget_spec(_serving(**fields), {"app": "digits"})
    assert (spec.max_unavailable, spec.min_available) == (max_unavailable, min_available)
    assert spec.selector.match_labels == {"app": "digits"}
    assert spec.unhealthy_pod_eviction_policy == "AlwaysAllow", "an unready pod serves nothing: never block a drain"
