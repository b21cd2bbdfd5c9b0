"""Tier 3: the dev-minikube stack's real program, rendered offline from its real stack file: an
existing cluster (nothing provisioned but namespaced objects) with images on ghcr.io, pulled with
an imagePullSecret made from the same secret config value they are pushed with.

(kubernetes-validate, checkov, parenting and determinism run for every stack, this one included:
tests/test_render_all_stacks.py and tests/test_scanners.py.)"""

from __future__ import annotations

import pytest

from components import outputs
from tests.rendering import stack_document
from tests.test_render_registries import secret_leaks
from tools.render import SECURE_PLACEHOLDER

STACK = "dev-minikube"
NS = "ml-platform"
# What an existing cluster's stack may create: its own components, Kubernetes objects through the
# cluster's provider, and the image builds (pushed to the registry, not the cluster).
ALLOWED_TYPES = ("ml-platform:", "kubernetes:", "pulumi:providers:kubernetes", "docker:index/image:Image")


@pytest.fixture(scope="module")
def minikube(rendered_stack):
    return rendered_stack(STACK)


def _only(items):
    assert len(items) == 1, items
    return items[0]


def _pods(rendered):
    """Every workload's pod spec, by `Kind/name` (the stack has two models)."""
    return {
        f"{body['kind']}/{body['metadata']['name']}": body["spec"]["template"]["spec"]
        for body in rendered.objects("Job") + rendered.objects("Deployment")
    }


def test_the_existing_cluster_backend_creates_no_cluster_node_or_cloud_resource(minikube):
    types = sorted({resource["type"] for resource in minikube.resources})
    assert all(kind.startswith(ALLOWED_TYPES) for kind in types), types
    assert not [t for t in types if t.startswith(("command:", "aws:", "gcp:", "eks:", "docker:index/container"))]
    # Every Kubernetes object lives in the workloads' namespace; the namespace itself is the only
    # cluster-scoped object (this stack creates it: existing.createNamespace defaults to true).
    cluster_scoped = [body["kind"] for body in minikube.manifests.values() if "namespace" not in body["metadata"]]
    assert cluster_scoped == ["Namespace"]
    assert {body["metadata"].get("namespace") for body in minikube.manifests.values()} == {None, "ml-models"}


def test_the_provider_targets_the_declared_context_with_the_default_kubeconfig(minikube):
    provider = minikube.one("pulumi:providers:kubernetes")
    # No kubeconfig input: the provider loads $KUBECONFIG or ~/.kube/config, which `minikube start` writes.
    assert provider["inputs"] == {"context": "minikube", "clusterIdentifier": "minikube"}
    for resource in minikube.resources:
        if resource["type"].startswith("kubernetes:"):
            assert resource["provider"] == provider["urn"], resource["name"]


def test_images_are_pushed_to_ghcr_under_the_prefix_and_pods_run_them_by_digest(minikube):
    builds = {r["name"].removesuffix("-build"): r["inputs"] for r in minikube.of_type("docker:index/image:Image")}
    assert set(builds) == {"trainer", "server"}
    for image, build in builds.items():
        assert build["imageName"].startswith(f"ghcr.io/acme/{image}:")
        assert build["registry"] == "[secret]", "push credentials carry the token: masked whole"
    refs = minikube.outputs[outputs.IMAGES]
    assert minikube.outputs[outputs.REGISTRY_URLS] == {
        "server": "ghcr.io/acme/server",
        "trainer": "ghcr.io/acme/trainer",
    }
    for workload, pod in _pods(minikube).items():
        expected = refs["trainer"] if workload.startswith("Job/") else refs["server"]
        assert pod["containers"][0]["image"] == expected, workload
    for ref in refs.values():
        assert ref.startswith("ghcr.io/acme/") and "@sha256:" in ref


def test_pods_pull_with_a_dockerconfigjson_secret_in_their_namespace(minikube):
    secret = _only(minikube.objects("Secret"))
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"]["namespace"] == "ml-models"
    assert secret["data"] == {".dockerconfigjson": "[secret]"}
    for kind, pod in _pods(minikube).items():
        assert pod["imagePullSecrets"] == [{"name": secret["metadata"]["name"]}], kind
    # Workloads wait for the secret, as for anything else the cluster says is needed first.
    secret_urn = minikube.one("kubernetes:core/v1:Secret")["urn"]
    for kind in ("kubernetes:batch/v1:Job", "kubernetes:apps/v1:Deployment"):
        for workload in minikube.of_type(kind):
            assert secret_urn in workload["dependencies"], workload["name"]
    assert minikube.one("kubernetes:core/v1:Secret")["inputs"]["data"] == "[secret]"


def test_artifacts_are_on_a_claim_of_the_declared_class_and_access_mode(minikube):
    declared = stack_document(STACK)["config"][f"{NS}:existing"]["artifacts"]["volume"]
    claim = _only(minikube.objects("PersistentVolumeClaim"))
    assert claim["spec"]["storageClassName"] == declared["storageClass"]
    assert claim["spec"]["accessModes"] == [declared["accessMode"]]
    assert claim["spec"]["resources"]["requests"]["storage"] == declared["size"]
    for workload, pod in _pods(minikube).items():
        read_only = workload.startswith("Deployment/")
        (volume,) = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
        assert volume["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"], "readOnly": read_only}
    assert minikube.outputs[outputs.MODELS]["digits"][outputs.MODEL_URI].startswith("file:///models/digits/runs/")


def test_no_gpus_declared_means_no_gpu_placement(minikube):
    assert "gpu" not in stack_document(STACK)["config"][f"{NS}:existing"]
    for kind, pod in _pods(minikube).items():
        assert "nodeSelector" not in pod and "tolerations" not in pod, kind
        assert set(pod["containers"][0]["resources"]["limits"]) == {"cpu", "memory"}, kind


def test_the_namespace_is_restricted_and_denies_ingress_by_default(minikube):
    namespace = _only(minikube.objects("Namespace"))
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    policies = [o for o in minikube.objects("NetworkPolicy") if o["spec"]["podSelector"] == {}]
    assert _only(policies)["spec"]["policyTypes"] == ["Ingress"]


def test_the_secure_token_reaches_no_file_of_the_render(minikube):
    """The program got the stack file's secure value (a placeholder here, undecryptable without the
    CLI) as a secret: masked everywhere it went (push credentials, pull secret)."""
    assert secret_leaks(minikube.directory, (SECURE_PLACEHOLDER,)) == []
    assert minikube.outputs[outputs.CLUSTER_NAME] == "minikube"


def test_a_second_model_of_another_shape_trains_from_the_same_image_with_its_dataset_flag(minikube):
    """breast-cancer (30 tabular features) beside digits: the same trainer image with `--dataset`,
    its own run and artifact prefix, served by the same server image (trained and served for real in
    tests/images/test_images_second_model.py)."""
    (job,) = [
        j for j in minikube.objects("Job") if j["metadata"]["labels"]["app.kubernetes.io/name"] == "breast-cancer"
    ]
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-2:] == ["--dataset", "breast-cancer"], "extra flags follow the platform's"
    assert args[args.index("--model-name") + 1] == "breast-cancer"
    uri = minikube.outputs[outputs.MODELS]["breast-cancer"][outputs.MODEL_URI]
    assert uri.startswith("file:///models/breast-cancer/runs/")
    assert uri != minikube.outputs[outputs.MODELS]["digits"][outputs.MODEL_URI]
