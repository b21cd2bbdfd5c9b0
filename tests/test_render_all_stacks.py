"""Tier 3: what holds for every stack's render. Its Kubernetes objects pass the real API schemas
(kubernetes-validate --strict, for the stack's own Kubernetes version) and the enum checks the
schemas leave out; every resource belongs to a component; two renders are byte-identical."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from components import config, workload_options
from tests.rendering import render
from tools.render import known_stacks, stack_config

STACKS = known_stacks()
VALIDATE = Path(sys.executable).parent / "kubernetes-validate"


def _kubernetes_version(stack: str) -> str:
    return config.parse(*stack_config(stack)).settings.kubernetes_version + ".0"


@pytest.mark.parametrize("stack", STACKS)
def test_manifests_pass_kubernetes_validate_strict(rendered_stack, stack):
    rendered = rendered_stack(stack)
    files = sorted(str(path) for path in (rendered.directory / "manifests").glob("*.yaml"))
    assert files, f"{stack} rendered no Kubernetes objects"
    result = subprocess.run(
        [str(VALIDATE), "--strict", "--quiet", "-k", _kubernetes_version(stack), *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_enum_fields_hold_allowed_values(rendered_stack, stack):
    """kubernetes-validate does not check enums; a bad restartPolicy or Service type would pass it."""
    rendered = rendered_stack(stack)
    for body in rendered.objects("Job"):
        assert body["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
        assert body["spec"]["completionMode"] in ("Indexed", "NonIndexed")
    for body in rendered.objects("Service"):
        assert body["spec"].get("type", "ClusterIP") in ("ClusterIP", "NodePort", "LoadBalancer")
    for body in rendered.objects("Deployment"):
        assert body["spec"]["strategy"]["type"] in ("RollingUpdate", "Recreate")
    for kind in ("Job", "Deployment"):
        for body in rendered.objects(kind):
            pod = body["spec"]["template"]["spec"]
            for toleration in pod.get("tolerations", []):
                assert toleration["operator"] in ("Exists", "Equal")
                assert toleration["effect"] in ("NoSchedule", "PreferNoSchedule", "NoExecute")
            for container in pod["containers"]:
                assert container["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
                assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
                assert "@sha256:" in container["image"], "workloads run images by digest"
    for body in rendered.objects("HorizontalPodAutoscaler"):
        for metric in body["spec"]["metrics"]:
            assert metric["type"] in ("Resource", "ContainerResource", "Pods", "Object", "External")
            assert metric["resource"]["target"]["type"] in ("Utilization", "AverageValue", "Value")
    for body in rendered.objects("PodDisruptionBudget"):
        assert body["spec"].get("unhealthyPodEvictionPolicy") in (None, "IfHealthyBudget", "AlwaysAllow")


@pytest.mark.parametrize("stack", STACKS)
def test_every_variable_the_platform_sets_is_reserved_from_the_stack_file(rendered_stack, stack):
    """Whatever the platform or the stack's backend sets in a pod (the artifact store's region, ...)
    must be refused in `training.env` / `serving.env`, or a stack could override it."""
    models = {model.name: model for model in config.parse(*stack_config(stack)).models}
    rendered = rendered_stack(stack)
    for kind, reserved, prefixes in (
        ("Job", workload_options.TRAINING_ENV, workload_options.TRAINING_ENV_PREFIXES),
        ("Deployment", workload_options.SERVING_ENV, workload_options.SERVING_ENV_PREFIXES),
    ):
        for body in rendered.objects(kind):
            model = models[body["metadata"]["labels"]["app.kubernetes.io/name"]]
            workload = model.training if kind == "Job" else model.serving
            configured = set(workload.env) if workload is not None else set()
            for container in body["spec"]["template"]["spec"]["containers"]:
                for variable in container.get("env", []):
                    if variable["name"] not in configured:
                        assert workload_options.reserved_env(variable["name"], reserved, prefixes), variable


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_belongs_to_a_component(rendered_stack, stack):
    """No resource hangs off the stack directly: each has its component as parent (`parent=self`)."""
    rendered = rendered_stack(stack)
    components = {r["urn"] for r in rendered.resources if r["type"].startswith("ml-platform:")}
    for resource in rendered.resources:
        if not resource["type"].startswith("ml-platform:"):
            assert resource["parent"] in components, resource["urn"]


@pytest.mark.parametrize("stack", STACKS)
def test_two_renders_are_byte_identical(rendered_stack, stack, tmp_path):
    """A pull request's render diffs cleanly against main's only if rendering is deterministic."""
    first = rendered_stack(stack).directory
    render(stack, tmp_path / "again")
    files = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    assert files == sorted(
        path.relative_to(tmp_path / "again") for path in (tmp_path / "again").rglob("*") if path.is_file()
    )
    for relative in files:
        assert (tmp_path / "again" / relative).read_bytes() == (first / relative).read_bytes(), relative
