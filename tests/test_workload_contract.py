"""The Kubernetes side and the images agree: what the pod specs pass is what the code reads.

The probes must hit routes the server really has, every environment variable the Deployment sets
must be a server setting, and every flag the Job passes must parse in the real trainer."""

from __future__ import annotations

import sys

import pytest

from components.config import Resources, ServingConfig, TrainingConfig
from components.contracts.artifacts import ArtifactAccess
from components.contracts.cluster import NO_GPUS
from components.workloads import pod, serving_pod, training_pod
from tests.rendering import PROJECT_ROOT


@pytest.fixture(scope="module")
def server_modules():
    sys.path.insert(0, str(PROJECT_ROOT / "images" / "server"))
    try:
        from mlserve import app, settings

        yield app, settings
    finally:
        sys.path.remove(str(PROJECT_ROOT / "images" / "server"))


def _serving_container():
    template = serving_pod.serving_pod_template(
        model="digits",
        image="r/server@sha256:" + "0" * 64,
        model_uri="file:///models/digits/runs/x",
        serving=ServingConfig(image="server"),
        access=ArtifactAccess(model_root_uri="file:///models/digits", service_account_name="sa"),
        placement=pod.place(Resources(cpu="250m", memory="512Mi"), NO_GPUS, "w"),
        labels={},
        selector={},
    )
    return template.spec.containers[0]


def test_probes_hit_routes_the_server_has_on_the_port_that_serves_them(server_modules):
    """Each probe's path is a route of the server on the port the probe names (the admin port), and
    the port the Service targets serves the predict route."""
    app_module, settings_module = server_modules
    settings = settings_module.Settings(model_uri="file:///nowhere")
    application = app_module.create_app(settings)
    container = _serving_container()
    env = {variable.name: variable.value for variable in container.env}
    port_of = {port.name: port.container_port for port in container.ports}
    served = {(route.path, int(env[route.port])) for route in application.routes}
    for probe in (container.readiness_probe, container.liveness_probe, container.startup_probe):
        assert (probe.http_get.path, port_of[probe.http_get.port]) in served, probe.http_get.path
    predict = [path for path, port in served if path.endswith(":predict")]
    assert predict and all(port_of[serving_pod.SERVER_PORT_NAME] == port for path, port in served if path in predict)


def test_every_env_variable_the_deployment_sets_is_a_server_setting(server_modules):
    _, settings_module = server_modules
    fields = {name.upper() for name in settings_module.Settings.model_fields}
    container = _serving_container()
    names = {variable.name for variable in container.env}
    assert names <= fields, names - fields
    assert container.ports[0].container_port == settings_module.Settings.model_fields["port"].default


def test_every_flag_the_job_passes_parses_in_the_trainer():
    sys.path.insert(0, str(PROJECT_ROOT / "images" / "trainer"))
    try:
        import train

        # training.args reach the trainer after the platform's flags (`--device` is one the trainer has).
        training = TrainingConfig(
            image="trainer", epochs=7, batch_size=32, learning_rate=0.01, seed=5, args=["--device", "cpu"]
        )
        arguments = training_pod.training_arguments("digits", training, "file:///models/digits/runs/x")
        parsed = train.parse_args([str(argument) for argument in arguments])
    finally:
        sys.path.remove(str(PROJECT_ROOT / "images" / "trainer"))
    assert (parsed.output_uri, parsed.model_name, parsed.epochs) == ("file:///models/digits/runs/x", "digits", 7)
    assert (parsed.batch_size, parsed.learning_rate, parsed.seed, parsed.device) == (32, 0.01, 5, "cpu")


def test_the_platforms_training_defaults_are_the_trainers():
    """The trainer's defaults are the ones measured to clear each data set's accuracy bar
    (images/trainer/README.md); a stack that sets nothing must train exactly that run."""
    sys.path.insert(0, str(PROJECT_ROOT / "images" / "trainer"))
    try:
        from mltrain.training import TrainConfig
    finally:
        sys.path.remove(str(PROJECT_ROOT / "images" / "trainer"))
    trainer = TrainConfig(output_uri="file:///x")
    platform = TrainingConfig(image="trainer")
    assert (platform.epochs, platform.batch_size, platform.learning_rate, platform.seed) == (
        trainer.epochs,
        trainer.batch_size,
        trainer.learning_rate,
        trainer.seed,
    )
