"""Tier 3: any registry with any cluster, rendered from temporary stacks derived from the real stack
files: Docker Hub on kind, and an AKS-like existing cluster (declared GPU scheduling, an
S3-compatible object store, a namespace it does not own, a kubeconfig from secret config and a
company registry). Both pass kubernetes-validate --strict and checkov like the shipped stacks.

Known secret values go in through the render's `--secrets` (what the CLI decrypts, passed with
`set_all_config(values, secret_keys)` as the CLI passes it): each must reach the program, as a
secret, and appear in no file of the render, not even base64-encoded."""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components import outputs
from tests.rendering import PROJECT_ROOT, Rendered, load, render, stack_document
from tests.test_scanners import checkov

NS = "ml-platform"
VALIDATE = Path(sys.executable).parent / "kubernetes-validate"
REGISTRY_TOKEN = "dckr_pat_KNOWN-registry-token-7f3a"
KUBECONFIG = "apiVersion: v1\nkind: Config\n# KNOWN-kubeconfig-token-91be\n"
OBJECT_STORE_KEY = "KNOWN-object-store-key-c0de"
SECRETS = {
    f"{NS}:registryPassword": REGISTRY_TOKEN,
    f"{NS}:kubeconfig": KUBECONFIG,
    f"{NS}:objectStoreSecretAccessKey": OBJECT_STORE_KEY,
}
MARKERS = ("KNOWN-registry-token-7f3a", "KNOWN-kubeconfig-token-91be", "KNOWN-object-store-key-c0de")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


def secret_leaks(directory: Path, markers: tuple[str, ...] = MARKERS) -> list[str]:
    """Files of a render where a marker appears in clear or inside any base64 string."""
    leaks = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text()
        decoded = []
        for token in _BASE64.findall(text):
            try:
                decoded.append(base64.b64decode(token + "=" * (-len(token) % 4)).decode("utf-8", "replace"))
            except (binascii.Error, ValueError):
                continue
        leaks += [f"{path.name}: {marker}" for marker in markers if any(marker in t for t in [text, *decoded])]
    return leaks


def _write_stack(directory: Path, name: str, document: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document))
    secure = {key for key, value in document["config"].items() if isinstance(value, dict) and set(value) == {"secure"}}
    secrets = directory / f"secrets-{name}.yaml"
    secrets.write_text(yaml.safe_dump({key: value for key, value in SECRETS.items() if key in secure}))
    return secrets


def docker_hub_on_kind(public: bool = False) -> dict:
    document = copy.deepcopy(stack_document("dev-kind"))
    config = document["config"]
    config[f"{NS}:registryBackend"] = "oci"
    config[f"{NS}:registry"] = {"preset": "dockerhub", "repositoryPrefix": "acme", "username": "acme", "public": public}
    # A stack file holds the token encrypted; the render gets its decryption from --secrets.
    config[f"{NS}:registryPassword"] = {"secure": "v1:ciphertext"}
    return document


def aks_like() -> dict:
    document = copy.deepcopy(stack_document("dev-minikube"))
    config = document["config"]
    config[f"{NS}:existing"] = {
        "context": "aks-ml",
        "createNamespace": False,
        "gpu": {
            "resourceName": "nvidia.com/gpu",
            "nodeSelector": {"accelerator": "nvidia"},
            "tolerations": [{"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
        },
        "artifacts": {
            "objectStore": {
                "uri": "s3://ml-models/team-a",
                "endpoint": "https://minio.example.com:9000",
                "region": "us-east-1",
                "accessKeyId": "ml-platform",
            }
        },
        "serviceTypes": ["ClusterIP", "LoadBalancer"],
    }
    config[f"{NS}:registry"] = {"server": "registry.example.com", "repositoryPrefix": "ml", "username": "robot$ml"}
    config[f"{NS}:kubeconfig"] = {"secure": "v1:ciphertext"}
    config[f"{NS}:objectStoreSecretAccessKey"] = {"secure": "v1:ciphertext"}
    model = config[f"{NS}:models"][0]
    model["training"]["resources"]["gpus"] = 1
    model["serving"]["serviceType"] = "LoadBalancer"
    return document


def _render(tmp_path_factory, name: str, document: dict) -> Rendered:
    directory = tmp_path_factory.mktemp(name)
    secrets = _write_stack(directory / "stacks", name, document)
    render(name, directory / "out", stacks_dir=directory / "stacks", secrets=secrets)
    return load(directory / "out")


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Rendered:
    return _render(tmp_path_factory, "hub-kind", docker_hub_on_kind())


@pytest.fixture(scope="module")
def aks(tmp_path_factory) -> Rendered:
    return _render(tmp_path_factory, "aks-like", aks_like())


def _pods(rendered: Rendered) -> dict[str, dict]:
    return {
        body["kind"]: body["spec"]["template"]["spec"]
        for body in rendered.objects("Job") + rendered.objects("Deployment")
    }


def _only(items):
    assert len(items) == 1, items
    return items[0]


@pytest.mark.parametrize("stack", ["hub", "aks"])
def test_manifests_pass_kubernetes_validate_strict_and_checkov(request, stack):
    rendered = request.getfixturevalue(stack)
    files = sorted(str(path) for path in (rendered.directory / "manifests").glob("*.yaml"))
    result = subprocess.run(
        [str(VALIDATE), "--strict", "--quiet", "-k", "1.33.0", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    scan = checkov("kubernetes", rendered.directory / "manifests")
    assert scan["failed"] == [], "\n".join(scan["failed"])
    assert scan["passed"] > 100


@pytest.mark.parametrize("stack", ["hub", "aks"])
def test_pods_run_pinned_digests_and_pull_with_the_registry_secret(request, stack):
    rendered = request.getfixturevalue(stack)
    secret = _only([s for s in rendered.objects("Secret") if s["type"] == "kubernetes.io/dockerconfigjson"])
    assert secret["data"] == {".dockerconfigjson": "[secret]"}
    refs = rendered.outputs[outputs.IMAGES]
    for kind, pod in _pods(rendered).items():
        assert pod["imagePullSecrets"] == [{"name": secret["metadata"]["name"]}], kind
        assert pod["containers"][0]["image"] in refs.values() and "@sha256:" in pod["containers"][0]["image"]


def test_docker_hub_images_live_under_the_user_and_kind_wires_no_local_registry(hub):
    for build in hub.of_type("docker:index/image:Image"):
        image = build["name"].removesuffix("-build")
        assert build["inputs"]["imageName"].startswith(f"docker.io/acme/{image}:")
    assert hub.outputs[outputs.IMAGES]["trainer"].startswith("docker.io/acme/trainer@sha256:")
    # The kind cluster is still made by the kind CLI; no registry container, wiring or hosting ConfigMap.
    commands = [r["name"] for r in hub.of_type("command:local:Command")]
    assert commands == ["cluster-kind"]
    assert not hub.of_type("docker:index/container:Container") and not hub.of_type(
        "docker:index/remoteImage:RemoteImage"
    )
    assert not [o for o in hub.objects("ConfigMap") if o["metadata"]["name"] == "local-registry-hosting"]


def test_a_public_registry_needs_no_pull_secret(tmp_path_factory):
    rendered = _render(tmp_path_factory, "hub-public", docker_hub_on_kind(public=True))
    assert not rendered.objects("Secret")
    for kind, pod in _pods(rendered).items():
        assert "imagePullSecrets" not in pod, kind
    assert rendered.of_type("docker:index/image:Image")[0]["inputs"]["registry"] == "[secret]", "pushes still log in"


@pytest.mark.parametrize("stack", ["dev-kind", "prod-eks"])
def test_registries_whose_nodes_pull_on_their_own_add_no_pull_secret(rendered_stack, stack):
    """kind's local registry is wired into containerd; EKS nodes pull ECR with their role."""
    rendered = rendered_stack(stack)
    assert not [s for s in rendered.objects("Secret") if s.get("type") == "kubernetes.io/dockerconfigjson"]
    for kind, pod in _pods(rendered).items():
        assert "imagePullSecrets" not in pod, kind


def test_declared_gpu_scheduling_places_the_gpu_job_only(aks):
    declared = aks_like()["config"][f"{NS}:existing"]["gpu"]
    pods = _pods(aks)
    job = pods["Job"]
    assert job["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert job["nodeSelector"] == declared["nodeSelector"]
    assert job["tolerations"] == declared["tolerations"]
    serving = pods["Deployment"]
    assert "nodeSelector" not in serving and "tolerations" not in serving, "the server asks no GPU"


def test_object_store_artifacts_are_reached_with_a_mounted_credentials_file(aks):
    store = aks_like()["config"][f"{NS}:existing"]["artifacts"]["objectStore"]
    credentials = _only([s for s in aks.objects("Secret") if s["type"] == "Opaque"])
    assert credentials["data"] == {"credentials": "[secret]"}
    assert not aks.objects("PersistentVolumeClaim")
    model_uri = aks.outputs[outputs.MODELS]["digits"][outputs.MODEL_URI]
    assert model_uri.startswith(f"{store['uri']}/models/digits/runs/")
    for kind, pod in _pods(aks).items():
        (volume,) = [v for v in pod["volumes"] if "secret" in v]
        assert volume["secret"] == {"secretName": credentials["metadata"]["name"], "defaultMode": 0o440}, kind
        container = pod["containers"][0]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
        assert mount["readOnly"] is True
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["AWS_SHARED_CREDENTIALS_FILE"] == f"{mount['mountPath']}/credentials"
        assert env["AWS_ENDPOINT_URL_S3"] == store["endpoint"] and env["AWS_DEFAULT_REGION"] == store["region"]
        # The key is a file, never an environment variable of the pod spec.
        assert not [e for e in container["env"] if "valueFrom" in e], kind
    (job,) = [j for j in aks.objects("Job") if j["metadata"]["labels"]["app.kubernetes.io/name"] == "digits"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][container["args"].index("--output-uri") + 1] == model_uri


def test_an_existing_namespace_gets_namespaced_objects_only(aks):
    assert not aks.objects("Namespace")
    assert all(body["metadata"].get("namespace") == "ml-models" for body in aks.manifests.values())
    assert [o for o in aks.objects("NetworkPolicy") if o["spec"]["podSelector"] == {}], "default deny still applies"
    types = {resource["type"] for resource in aks.resources}
    allowed = ("ml-platform:", "kubernetes:", "pulumi:providers:kubernetes", "docker:index/image:Image")
    assert all(kind.startswith(allowed) for kind in types), types


def test_the_kubeconfig_from_secret_config_targets_the_context_and_is_masked(aks):
    provider = aks.one("pulumi:providers:kubernetes")
    assert provider["inputs"] == {"context": "aks-ml", "clusterIdentifier": "aks-ml", "kubeconfig": "[secret]"}
    assert aks.outputs[outputs.CLUSTER_NAME] == "aks-ml"


@pytest.mark.parametrize("stack", ["hub", "aks"])
def test_no_known_secret_value_appears_in_the_render(request, stack):
    rendered = request.getfixturevalue(stack)
    assert secret_leaks(rendered.directory) == []


# Runs the program as the render does, then reports every string input of every resource, with
# whether it sat inside a secret, and base64 contents decoded: where the known values went.
_PROBE = """
import base64, json, sys
from pathlib import Path
from tools import render
stack, stacks_dir, secrets = sys.argv[1:4]
monitor, _ = render.run_program(stack, Path(stacks_dir), render.read_secrets(Path(secrets)))
found = []
def walk(where, value, secret):
    if isinstance(value, dict):
        if render.SECRET_SIGNATURE in value:
            return walk(where, value.get("value"), True)
        for item in value.values():
            walk(where, item, secret)
    elif isinstance(value, (list, tuple)):
        for item in value:
            walk(where, item, secret)
    elif isinstance(value, str):
        texts = [value]
        try:
            texts.append(base64.b64decode(value, validate=True).decode())
        except Exception:
            pass
        found.extend([where, text, secret] for text in texts)
for registration in monitor.registrations:
    walk(registration.type + " " + registration.name, registration.inputs, False)
print(json.dumps(found))
"""


@pytest.mark.parametrize(
    ("stack", "document", "expected"),
    [
        (
            "hub-kind",
            docker_hub_on_kind,
            {
                "KNOWN-registry-token-7f3a": {
                    "docker:index/image:Image trainer-build",
                    "docker:index/image:Image server-build",
                    "kubernetes:core/v1:Secret image-pull-secret",
                }
            },
        ),
        (
            "aks-like",
            aks_like,
            {
                "KNOWN-registry-token-7f3a": {
                    "docker:index/image:Image trainer-build",
                    "docker:index/image:Image server-build",
                    "kubernetes:core/v1:Secret image-pull-secret",
                },
                "KNOWN-kubeconfig-token-91be": {"pulumi:providers:kubernetes cluster-provider"},
                "KNOWN-object-store-key-c0de": {"kubernetes:core/v1:Secret cluster-object-store-secret"},
            },
        ),
    ],
)
def test_known_secret_values_reach_the_program_only_as_secrets(tmp_path, stack, document, expected):
    """The other half of the masking test: the values did go in, through the CLI's secret path, and
    every resource input that holds one holds it as a secret (so the render could mask it)."""
    secrets = _write_stack(tmp_path / "stacks", stack, document())
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, stack, str(tmp_path / "stacks"), str(secrets)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    for marker, resources in expected.items():
        holders = [(where, secret) for where, text, secret in found if marker in text]
        assert {where for where, _ in holders} == resources, marker
        assert all(secret for _, secret in holders), f"{marker} in clear in {[w for w, s in holders if not s]}"
