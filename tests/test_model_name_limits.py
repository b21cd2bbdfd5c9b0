"""Tier 3: a model name of the longest length config validation allows gives Kubernetes names
the API server accepts, for every object the platform derives from it (rendered from the real
program, with every optional object of a model: the rendezvous Service of a multi-node run, the
autoscaler, the token Secret)."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from components.config import MAX_NODES
from components.schema import AUTONAME_SUFFIX_LENGTH, KUBERNETES_NAME_LENGTH, MAX_MODEL_NAME_LENGTH
from tests.rendering import Rendered, load, render, stack_document
from tools.mocks import auto_name

STACK = "dev-kind"
NS = "ml-platform"
TOKEN_KEY = f"{NS}:servingToken"
MODEL = "m" + "0123456789abcdefghijklmnopqrstuvwxyz"[: MAX_MODEL_NAME_LENGTH - 2] + "z"
DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Rendered:
    directory = tmp_path_factory.mktemp("longest-model-name")
    document = copy.deepcopy(stack_document(STACK))
    (model,) = document["config"][f"{NS}:models"]
    model["name"] = MODEL
    model["training"]["nodes"] = 2
    del model["serving"]["replicas"]
    model["serving"]["autoscaling"] = {"minReplicas": 2, "maxReplicas": 4}
    model["serving"]["requireToken"] = True
    document["config"][TOKEN_KEY] = {"secure": "v1:ciphertext"}
    assert len(MODEL) == MAX_MODEL_NAME_LENGTH, "the longest name config validation allows"
    (directory / "stacks").mkdir()
    (directory / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(document))
    (directory / "secrets.yaml").write_text(yaml.safe_dump({TOKEN_KEY: "token"}))
    render(STACK, directory / "out", stacks_dir=directory / "stacks", secrets=directory / "secrets.yaml")
    return load(directory / "out")


def _real_lengths(rendered: Rendered) -> dict[str, int]:
    """Auto-named objects' names in the render -> their length on a real cluster, whose provider
    appends a longer random suffix than the render's mocks."""
    lengths = {}
    for resource in rendered.resources:
        metadata = resource["inputs"].get("metadata") if resource["type"].startswith("kubernetes:") else None
        if isinstance(metadata, dict) and "name" not in metadata:
            lengths[auto_name(resource["name"])] = len(resource["name"]) + AUTONAME_SUFFIX_LENGTH
    return lengths


def _model_names(rendered: Rendered) -> list[tuple[str, str, str]]:
    """(where, kind, name) of every name of a model object, and every name its pods refer to."""
    names = []
    for file_name, body in rendered.manifests.items():
        if MODEL not in file_name:
            continue
        names.append((file_name, body["kind"], body["metadata"]["name"]))
        pod = body.get("spec", {}).get("template", {}).get("spec", {})
        for field in ("subdomain", "serviceAccountName"):
            if field in pod:
                names.append((f"{file_name} {field}", field, pod[field]))
    return names


def test_there_is_an_object_of_every_kind_a_model_may_have(rendered):
    kinds = {body["kind"] for name, body in rendered.manifests.items() if MODEL in name}
    expected = {"Job", "Deployment", "Service", "NetworkPolicy", "PodDisruptionBudget"}
    expected |= {"HorizontalPodAutoscaler", "Secret", "ServiceAccount"}
    assert kinds == expected


def test_every_name_derived_from_the_longest_model_name_is_a_valid_kubernetes_name(rendered):
    """Every name at most 63 characters on a real cluster (whose auto-names are one character
    longer than the mocks'), Services and pods' subdomains DNS-1035 labels (a letter first)."""
    real_lengths = _real_lengths(rendered)
    for where, kind, name in _model_names(rendered):
        length = real_lengths.get(name, len(name))
        assert length <= KUBERNETES_NAME_LENGTH, f"{where}: {name} is {length} characters on a real cluster"
        pattern = DNS_1035_LABEL if kind in ("Service", "subdomain") else DNS_1123_LABEL
        assert pattern.fullmatch(name), f"{where}: {name}"


def test_the_indexed_jobs_last_pod_hostname_fits_a_dns_label(rendered):
    """Indexed Job pods are `<job>-<index>`, their hostname in the rendezvous subdomain."""
    (job,) = rendered.objects("Job")
    hostname = f"{job['metadata']['name']}-{MAX_NODES - 1}"
    assert len(hostname) <= KUBERNETES_NAME_LENGTH and DNS_1123_LABEL.fullmatch(hostname)


def test_every_label_value_of_a_model_object_is_valid(rendered):
    for file_name, body in rendered.manifests.items():
        if MODEL not in file_name:
            continue
        pod_labels = body.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
        for value in [*body["metadata"].get("labels", {}).values(), *pod_labels.values()]:
            assert len(value) <= KUBERNETES_NAME_LENGTH and LABEL_VALUE.fullmatch(value), f"{file_name}: {value}"
