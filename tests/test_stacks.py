"""tools.stacks: which stacks are cloud stacks, from the stack files and the project default."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from components import backends
from tests.rendering import PROJECT_ROOT
from tools import stacks
from tools.render import known_stacks


def _write(directory, name, config):
    (directory / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))


def test_cloud_stacks_are_those_not_on_kind(tmp_path):
    _write(tmp_path, "laptop", {"ml-platform:clusterBackend": "kind"})
    _write(tmp_path, "default", {"ml-platform:namespace": "x"})  # Pulumi.yaml's default backend: kind
    _write(tmp_path, "prod-eks", {"ml-platform:clusterBackend": "eks", "aws:region": "eu-west-1"})
    _write(tmp_path, "prod-gke", {"clusterBackend": "gke", "gcp:region": "europe-west4"})
    assert [s.name for s in stacks.all_stacks(tmp_path)] == known_stacks(tmp_path)
    assert stacks.ci_matrix(tmp_path) == [
        {"stack": "prod-eks", "cloud": "aws", "region": "eu-west-1", "var_suffix": "PROD_EKS"},
        {"stack": "prod-gke", "cloud": "gcp", "region": "europe-west4", "var_suffix": "PROD_GKE"},
    ]


def test_an_unknown_backend_is_an_error_naming_what_to_add(tmp_path):
    _write(tmp_path, "odd", {"ml-platform:clusterBackend": "nomad"})
    with pytest.raises(ValueError, match=re.escape("unknown cluster backend 'nomad'")):
        stacks.cloud_stacks(tmp_path)


def test_every_cloud_of_the_backend_table_has_a_ci_login():
    """A backend with a cloud provider row is a cloud stack; the workflows' login action must know its cloud."""
    action = (PROJECT_ROOT / ".github" / "actions" / "cloud-credentials" / "action.yml").read_text()
    for backend in backends.CLUSTERS.values():
        if backend.provider is not None:
            assert f"if: inputs.cloud == '{backend.provider.namespace}'" in action, backend.name


def test_default_backend_is_read_from_the_project_file():
    assert stacks.default_cluster_backend() == "kind"


def test_the_repositorys_stacks():
    """Cloud stacks are those whose backend row has a cloud provider; local and existing clusters
    (reached by a kubeconfig, not by CI's OIDC) are not previewed or deployed with credentials."""
    clouds = {name for name, backend in backends.CLUSTERS.items() if backend.provider is not None}
    assert [s.name for s in stacks.cloud_stacks()] == [
        name for name in known_stacks() if stacks.stack_info(name).cluster_backend in clouds
    ]
    assert not {"dev-kind", "dev-minikube"} & {s.name for s in stacks.cloud_stacks()}


def test_cli_prints_names_and_the_matrix():
    run = [sys.executable, "-m", "tools.stacks"]
    names = subprocess.run(run, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert names == known_stacks()
    matrix = subprocess.run([*run, "--matrix"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    assert json.loads(matrix) == stacks.ci_matrix()
