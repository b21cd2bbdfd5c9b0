"""Tier 1: the pure pod-spec builders."""

from __future__ import annotations

import pulumi
import pytest

from components.config import Resources, ServingConfig, TrainingConfig
from components.contracts.artifacts import ArtifactAccess
from components.contracts.cluster import (
    GPU_NODE_LABEL,
    GPU_TAINT_KEY,
    NO_GPUS,
    GpuScheduling,
    Toleration,
)
from components.workloads import pod, serving_pod, training_pod

GPU_CLUSTER = GpuScheduling(
    available=True,
    node_selector={GPU_NODE_LABEL: "nvidia"},
    tolerations=(Toleration(key=GPU_TAINT_KEY, operator="Exists", effect="NoSchedule"),),
)
ACCESS = ArtifactAccess(model_root_uri="file:///models/m", service_account_name="sa")


def test_cpu_workload_gets_guaranteed_resources_and_no_gpu_placement():
    placement = pod.place(Resources(cpu="1", memory="2Gi"), GPU_CLUSTER, "w")
    assert placement.resources.requests == placement.resources.limits == {"cpu": "1", "memory": "2Gi"}
    assert placement.node_selector == {} and placement.tolerations == [] and placement.warning is None


def test_gpu_workload_on_a_gpu_cluster_gets_limit_toleration_and_selector():
    placement = pod.place(Resources(cpu="4", memory="16Gi", gpus=2), GPU_CLUSTER, "w")
    assert placement.resources.limits["nvidia.com/gpu"] == "2"
    assert placement.resources.requests["nvidia.com/gpu"] == "2"
    assert placement.node_selector == {GPU_NODE_LABEL: "nvidia"}
    (toleration,) = placement.tolerations
    assert (toleration.key, toleration.operator, toleration.effect) == (GPU_TAINT_KEY, "Exists", "NoSchedule")
    assert placement.gpus == 2 and placement.warning is None


def test_gpu_workload_on_a_cluster_without_gpus_runs_on_cpu_with_a_warning():
    """Never a silent change: the request is dropped and the reason is said."""
    placement = pod.place(Resources(cpu="1", memory="2Gi", gpus=1), NO_GPUS, "model digits training")
    assert "nvidia.com/gpu" not in placement.resources.limits
    assert placement.gpus == 0
    assert "model digits training asks for 1 GPU(s)" in placement.warning and "runs on CPU" in placement.warning


def test_security_context_meets_the_restricted_standard():
    container = pod.container_security_context()
    pod_context = pod.pod_security_context()
    assert container.allow_privilege_escalation is False
    assert container.capabilities.drop == ["ALL"]
    assert container.run_as_non_root is True and container.read_only_root_filesystem is True
    assert container.seccomp_profile.type == "RuntimeDefault"
    assert pod_context.run_as_non_root is True and pod_context.run_as_user == pod.RUN_AS_USER != 0


def test_single_process_training_uses_the_image_entrypoint():
    assert training_pod.training_command(TrainingConfig(image="t"), None) is None


def test_multi_process_training_runs_torchrun_standalone():
    command = training_pod.training_command(TrainingConfig(image="t", processes_per_node=4), None)
    assert command == ["torchrun", "--nnodes=1", "--nproc-per-node=4", "--standalone", training_pod.TRAINER_SCRIPT]


def test_multi_node_training_needs_a_rendezvous_host():
    with pytest.raises(ValueError, match="rendezvous"):
        training_pod.training_command(TrainingConfig(image="t", nodes=2), None)


def test_multi_node_training_ranks_pods_by_completion_index():
    command = training_pod.training_command(TrainingConfig(image="t", nodes=3, processes_per_node=2), "job-0.svc")
    assert "--nnodes=3" in command and "--node-rank=$(JOB_COMPLETION_INDEX)" in command
    assert f"--master-port={training_pod.RENDEZVOUS_PORT}" in command and command[-1] == training_pod.TRAINER_SCRIPT


def test_training_arguments_carry_every_setting():
    training = TrainingConfig(image="t", epochs=7, batch_size=32, learning_rate=0.01, seed=3)
    arguments = training_pod.training_arguments("digits", training, "s3://b/models/digits/runs/x")
    pairs = dict(zip(arguments[::2], arguments[1::2], strict=True))
    assert pairs == {
        "--output-uri": "s3://b/models/digits/runs/x",
        "--model-name": "digits",
        "--epochs": "7",
        "--batch-size": "32",
        "--learning-rate": "0.01",
        "--seed": "3",
    }


def test_serving_pod_probes_the_servers_health_endpoints():
    placement = pod.place(Resources(cpu="250m", memory="512Mi"), NO_GPUS, "w")
    template = serving_pod.serving_pod_template(
        model="digits",
        image="r/server@sha256:" + "0" * 64,
        model_uri="file:///models/digits/runs/x",
        serving=ServingConfig(image="server"),
        access=ACCESS,
        placement=placement,
        labels={"a": "b"},
        selector={"a": "b"},
    )
    (container,) = template.spec.containers
    assert container.readiness_probe.http_get.path == "/readyz"
    assert container.liveness_probe.http_get.path == "/healthz"
    inference, admin = container.ports
    # Probes use the admin port, which the Service never exposes; clients get the inference port only.
    for probe in (container.readiness_probe, container.liveness_probe, container.startup_probe):
        assert probe.http_get.port == admin.name == "admin"
    env = {variable.name: variable.value for variable in container.env}
    assert env["MODEL_URI"] == "file:///models/digits/runs/x" and env["MODEL_NAME"] == "digits"
    assert env["PORT"] == str(inference.container_port) and env["ADMIN_PORT"] == str(admin.container_port)
    assert "AUTH_TOKEN_FILE" not in env, "no token unless serving.requireToken"
    assert template.metadata.annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(admin.container_port),
        "prometheus.io/path": "/metrics",
    }
    assert template.spec.automount_service_account_token is False


def test_a_required_token_is_a_mounted_secret_file_the_server_reads():
    placement = pod.place(Resources(cpu="250m", memory="512Mi"), NO_GPUS, "w")
    template = serving_pod.serving_pod_template(
        model="digits",
        image="r/server@sha256:" + "0" * 64,
        model_uri="file:///models/digits/runs/x",
        serving=ServingConfig(image="server", require_token=True),
        access=ACCESS,
        placement=placement,
        labels={"a": "b"},
        selector={"a": "b"},
        token_secret="digits-token",
    )
    (container,) = template.spec.containers
    (volume,) = [v for v in template.spec.volumes if v.secret is not None]
    assert volume.secret.secret_name == "digits-token" and volume.secret.default_mode == 0o440
    (mount,) = [m for m in container.volume_mounts if m.name == volume.name]
    assert mount.read_only is True
    env = {variable.name: variable.value for variable in container.env}
    assert env["AUTH_TOKEN_FILE"] == f"{mount.mount_path}/{serving_pod.TOKEN_FILE}"


def test_the_admin_port_is_open_to_metrics_scrapers_only():
    spec = serving_pod.serving_network_policy({"app": "m"})
    clients, scrapers = spec.ingress
    assert clients.from_ is None and [p.port for p in clients.ports] == [serving_pod.SERVER_PORT]
    assert [p.port for p in scrapers.ports] == [serving_pod.ADMIN_PORT]
    (peer,) = scrapers.from_
    assert peer.namespace_selector.match_labels == {serving_pod.METRICS_SCRAPER_LABEL: "true"}


def test_gpu_pods_get_shared_memory():
    placement = pod.place(Resources(cpu="4", memory="16Gi", gpus=1), GPU_CLUSTER, "w")
    template = training_pod.training_pod_template(
        model="m",
        image="i",
        model_uri="u",
        training=TrainingConfig(image="t"),
        access=ACCESS,
        placement=placement,
        labels={},
    )
    mounts = {mount.mount_path for mount in template.spec.containers[0].volume_mounts}
    assert {"/tmp", "/dev/shm"} <= mounts
    assert template.spec.restart_policy == "Never"


def test_rendezvous_host_may_be_an_output():
    """The Job's name is only known once its run id is: the builder must accept an Output."""
    command = training_pod.training_command(TrainingConfig(image="t", nodes=2), pulumi.Output.from_input("j-0.s"))
    assert any(isinstance(part, pulumi.Output) for part in command)


def test_load_balancer_address_is_read_from_the_service_status():
    from types import SimpleNamespace as Status

    from components.workloads.model_service import load_balancer_address

    assert load_balancer_address(None) is None
    assert load_balancer_address(Status(load_balancer=Status(ingress=None))) is None
    published = Status(load_balancer=Status(ingress=[Status(hostname="a.elb.amazonaws.com", ip=None)]))
    assert load_balancer_address(published) == "a.elb.amazonaws.com"
    assert (
        load_balancer_address(Status(load_balancer=Status(ingress=[Status(hostname=None, ip="1.2.3.4")]))) == "1.2.3.4"
    )
