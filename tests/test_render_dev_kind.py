"""Tier 3: the dev-kind stack's real program, rendered offline from its real stack file."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from components import outputs
from components.backends.kind.settings import KindSettings
from tests.rendering import PROJECT_ROOT, load, render, stack_document
from tests.test_render_all_stacks import VALIDATE
from tests.test_scanners import checkov
from tools import render_diff

STACK = "dev-kind"
NS = "ml-platform"


@pytest.fixture(scope="module")
def kind(rendered_stack):
    return rendered_stack(STACK)


def _only(items):
    assert len(items) == 1, items
    return items[0]


def test_registry_is_a_pinned_container_on_loopback_with_a_volume(kind):
    image = kind.one("docker:index/remoteImage:RemoteImage")
    assert "@sha256:" in image["inputs"]["name"]
    container = kind.one("docker:index/container:Container")
    (port,) = container["inputs"]["ports"]
    assert port["ip"] == "127.0.0.1" and port["external"] == 5001 and port["internal"] == 5000
    (volume,) = container["inputs"]["volumes"]
    assert volume["containerPath"] == "/var/lib/registry"
    assert volume["volumeName"].startswith("registry-data-"), "the volume the component created, by its generated name"


def test_kind_cluster_is_created_and_deleted_by_the_kind_cli_with_a_pinned_node_image(kind):
    cluster = kind.one("command:local:Command", "cluster-kind")
    assert "kind create cluster" in cluster["inputs"]["create"] and "kind delete cluster" in cluster["inputs"]["delete"]
    config = yaml.safe_load(cluster["inputs"]["stdin"])
    (node,) = config["nodes"]
    assert node["image"].startswith("kindest/node:v1.33.") and "@sha256:" in node["image"]
    assert 'config_path = "/etc/containerd/certs.d"' in config["containerdConfigPatches"][0]
    assert "stdout" in cluster["options"]["additionalSecretOutputs"], "the kubeconfig must be a secret in state"


def test_every_node_is_wired_to_the_registry_after_the_cluster_exists(kind):
    wiring = kind.one("command:local:Command", "cluster-registry-wiring")
    cluster = kind.one("command:local:Command", "cluster-kind")
    assert cluster["urn"] in wiring["dependencies"]
    assert "hosts.toml" in wiring["inputs"]["create"] and "docker network connect kind" in wiring["inputs"]["create"]
    assert wiring["inputs"]["environment"]["REGISTRY_HOST"] == "localhost:5001"
    hosting = _only([o for o in kind.objects("ConfigMap") if o["metadata"]["name"] == "local-registry-hosting"])
    assert hosting["metadata"]["namespace"] == "kube-public"
    assert yaml.safe_load(hosting["data"]["localRegistryHosting.v1"])["host"] == "localhost:5001"


def test_images_are_built_for_amd64_from_the_repository_and_run_by_digest(kind):
    builds = {r["name"]: r["inputs"] for r in kind.of_type("docker:index/image:Image")}
    assert set(builds) == {"trainer-build", "server-build"}
    for name, build in builds.items():
        image = name.removesuffix("-build")
        assert build["build"]["platform"] == "linux/amd64"
        assert build["build"]["context"] == f"images/{image}"
        assert build["build"]["dockerfile"] == f"images/{image}/Dockerfile"
        assert (PROJECT_ROOT / build["build"]["dockerfile"]).is_file()
        assert build["imageName"].startswith(f"localhost:5001/{image}:")
    job = _only(kind.objects("Job"))
    deployment = _only(kind.objects("Deployment"))
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == kind.outputs[outputs.IMAGES]["trainer"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == kind.outputs[outputs.IMAGES]["server"]
    for ref in kind.outputs[outputs.IMAGES].values():
        assert "@sha256:" in ref


def test_job_matches_the_stack_config(kind):
    training = stack_document(STACK)["config"][f"{NS}:models"][0]["training"]
    job = _only(kind.objects("Job"))
    spec = job["spec"]
    assert spec["backoffLimit"] == training["backoffLimit"]
    assert spec["activeDeadlineSeconds"] == training["activeDeadlineSeconds"]
    (container,) = spec["template"]["spec"]["containers"]
    expected = {"cpu": training["resources"]["cpu"], "memory": training["resources"]["memory"]}
    assert container["resources"]["limits"] == container["resources"]["requests"] == expected
    arguments = dict(zip(container["args"][::2], container["args"][1::2], strict=True))
    assert arguments["--epochs"] == str(training["epochs"])
    assert arguments["--output-uri"] == kind.outputs[outputs.MODELS]["digits"][outputs.MODEL_URI]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def _exit_codes_no_retry_helps() -> list[int]:
    """The trainer's exit codes that images/README.md's contract marks `no` under "retry helps?"."""
    readme = (PROJECT_ROOT / "images" / "README.md").read_text()
    table = readme[readme.index("| code | meaning | retry helps? |") :].split("\n\n", 1)[0].splitlines()[2:]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    return [int(row[0]) for row in rows if row[-1] == "no"]


def test_job_fails_at_once_on_exit_codes_no_retry_can_help_and_ignores_disruptions(kind):
    """Exit 2 (bad flags) or 4 (another run's output) would fail again on every retry, up to
    backoffLimit; a pod the cluster took away (DisruptionTarget) is not the trainer's failure."""
    spec = _only(kind.objects("Job"))["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never", "a podFailurePolicy requires it"
    fail, ignore = spec["podFailurePolicy"]["rules"]
    (container,) = spec["template"]["spec"]["containers"]
    assert fail == {
        "action": "FailJob",
        "onExitCodes": {"containerName": container["name"], "operator": "In", "values": [2, 4]},
    }
    assert fail["onExitCodes"]["values"] == _exit_codes_no_retry_helps()
    assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}


def test_job_is_replaced_never_updated(kind):
    job = kind.one("kubernetes:batch/v1:Job")
    assert job["options"]["replaceOnChanges"] == ["spec"]
    assert job["options"]["deleteBeforeReplace"] is True


def test_model_artifacts_are_on_a_volume_written_by_training_and_read_only_for_serving(kind):
    claim = _only(kind.objects("PersistentVolumeClaim"))
    job = _only(kind.objects("Job"))
    deployment = _only(kind.objects("Deployment"))
    for body, read_only in ((job, False), (deployment, True)):
        pod = body["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
        assert volume["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"], "readOnly": read_only}
        (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
        assert mount["readOnly"] is read_only
    model_uri = kind.outputs[outputs.MODELS]["digits"][outputs.MODEL_URI]
    assert model_uri.startswith("file:///models/digits/runs/")


def test_service_selects_the_deployments_pods_on_the_server_port(kind):
    deployment = _only(kind.objects("Deployment"))
    service = _only(kind.objects("Service"))
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    (port,) = service["spec"]["ports"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}
    budget = _only(kind.objects("PodDisruptionBudget"))
    assert budget["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_rolling_updates_keep_capacity(kind):
    deployment = _only(kind.objects("Deployment"))
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_serving_waits_for_training(kind):
    """`pulumi up` waits for the Job (up to its deadline plus a margin), then creates the servers."""
    job = kind.one("kubernetes:batch/v1:Job")
    deployment = kind.one("kubernetes:apps/v1:Deployment")
    assert job["urn"] in deployment["dependencies"]
    assert "pulumi.com/skipAwait" not in (kind.objects("Job")[0]["metadata"].get("annotations") or {})
    deadline = kind.objects("Job")[0]["spec"]["activeDeadlineSeconds"]
    assert job["options"]["customTimeouts"] == {"create": f"{deadline + 300}s", "update": f"{deadline + 300}s"}


def test_training_can_run_without_pulumi_waiting(tmp_path):
    """awaitTraining: false - the Job is created with skipAwait and servers do not wait for it."""
    document = copy.deepcopy(stack_document(STACK))
    document["config"][f"{NS}:awaitTraining"] = False
    stack = _write_stack(tmp_path / "stacks", document)
    render(stack, tmp_path / "out", stacks_dir=tmp_path / "stacks")
    rendered = load(tmp_path / "out")
    job = rendered.one("kubernetes:batch/v1:Job")
    assert rendered.objects("Job")[0]["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert job["options"]["customTimeouts"] == {}
    assert job["urn"] not in rendered.one("kubernetes:apps/v1:Deployment")["dependencies"]


def test_workloads_run_in_a_restricted_namespace_under_their_own_accounts(kind):
    namespace = _only(kind.objects("Namespace"))
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    accounts = {o["metadata"]["name"] for o in kind.objects("ServiceAccount")}
    for body in kind.objects("Job") + kind.objects("Deployment"):
        pod = body["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] in accounts
        assert body["metadata"]["namespace"] == namespace["metadata"]["name"]


def test_kubernetes_objects_go_through_the_clusters_provider(kind):
    provider = kind.one("pulumi:providers:kubernetes")
    for resource in kind.resources:
        if resource["type"].startswith("kubernetes:"):
            assert resource["provider"] == provider["urn"], resource["name"]


def test_stack_outputs(kind):
    assert kind.outputs[outputs.KUBECONFIG] == "[secret]"
    assert kind.outputs[outputs.CLUSTER_NAME] == "ml-dev-kind"
    digits = kind.outputs[outputs.MODELS]["digits"]
    assert digits[outputs.MODEL_ENDPOINT].endswith("/v1/models/digits:predict")
    assert digits[outputs.MODEL_LOCAL_ACCESS].startswith("kubectl -n ml-models port-forward svc/")


def test_no_secret_reaches_the_render_in_clear(kind):
    """The kubeconfig the kind CLI printed is a secret: it appears nowhere in the render."""
    for path in kind.directory.rglob("*"):
        if path.is_file():
            assert "certificate-authority-data" not in path.read_text(), path


def test_unknown_stack_exits_non_zero_and_writes_nothing(tmp_path):
    result = render("no-such-stack", tmp_path / "out", check=False)
    assert result.returncode == 2
    assert "unknown stack 'no-such-stack'" in result.stderr and "dev-kind" in result.stderr
    assert not (tmp_path / "out").exists()


def _write_stack(directory, document, name="variant"):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document))
    return name


def test_invalid_config_exits_non_zero_naming_the_key_and_writes_nothing(tmp_path):
    document = copy.deepcopy(stack_document(STACK))
    document["config"][f"{NS}:models"][0]["serving"]["replicas"] = -1
    document["config"][f"{NS}:clusterBackend"] = "nomad"
    stack = _write_stack(tmp_path / "stacks", document)
    result = render(stack, tmp_path / "out", check=False, stacks_dir=tmp_path / "stacks")
    assert result.returncode == 2
    assert f"{NS}:models[0].serving.replicas = -1" in result.stderr
    assert f'{NS}:clusterBackend = "nomad"' in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def _readme_example_model() -> dict:
    """The model the README's "Adding a model" adds, as its YAML block writes it."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme[readme.index("## Adding a model") :]
    block = section[section.index("```yaml\n") + len("```yaml\n") : section.index("```\n", section.index("```yaml"))]
    # `...` stands for the existing model's settings.
    lines = [line for line in block.splitlines() if line.strip() != "..."]
    models = yaml.safe_load("\n".join(lines))[f"{NS}:models"]
    return models[-1]


def test_a_second_model_is_a_stack_file_edit(tmp_path):
    """The README's example model, added to the stack file (no code change), adds its Job,
    Deployment, Service and PDB; its GPU request on kind runs on CPU with a warning in the output."""
    document = copy.deepcopy(stack_document(STACK))
    second = _readme_example_model()
    name = second["name"]
    document["config"][f"{NS}:models"].append(second)
    stack = _write_stack(tmp_path / "stacks", document)
    result = render(stack, tmp_path / "out", stacks_dir=tmp_path / "stacks")
    rendered = load(tmp_path / "out")
    for kind_name in ("Job", "Deployment", "Service", "PodDisruptionBudget"):
        owners = sorted(o["metadata"]["labels"]["app.kubernetes.io/name"] for o in rendered.objects(kind_name))
        assert owners == sorted(["digits", name]), kind_name
    assert f"model {name} training asks for 1 GPU(s) but this cluster has none; it runs on CPU" in result.stderr
    job = _only([o for o in rendered.objects("Job") if o["metadata"]["labels"]["app.kubernetes.io/name"] == name])
    (trainer,) = job["spec"]["template"]["spec"]["containers"]
    assert "nvidia.com/gpu" not in trainer["resources"]["limits"]
    assert trainer["args"][-len(second["training"]["args"]) :] == second["training"]["args"]


def test_the_readme_example_models_flags_run_on_a_node_without_a_gpu():
    """ "On kind: runs on CPU" must be true of its flags: `--device cuda` exits 2 without a GPU."""
    training = _readme_example_model()["training"]
    flags = ["--output-uri", "file:///tmp/never-written", "--epochs", str(training["epochs"]), *training["args"]]
    probe = f"import sys; sys.path.insert(0, 'images/trainer'); import train; train.parse_args({flags!r})"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_dev_kind_does_not_import_a_cloud_sdk():
    probe = (
        "import sys\n"
        "from tools import render\n"
        "render.run_program('dev-kind')\n"
        "clouds = ('pulumi_aws', 'pulumi_eks', 'pulumi_gcp')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in clouds}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_ingress_is_denied_except_where_a_workload_opens_it(kind):
    """Default deny for the namespace; the server opens its port to clients; training pods accept
    only each other (torch rendezvous)."""
    policies = {o["metadata"]["labels"]["app.kubernetes.io/component"]: o for o in kind.objects("NetworkPolicy")}
    assert policies["platform"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}

    serving = policies["serving"]["spec"]
    deployment = _only(kind.objects("Deployment"))
    assert serving["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    clients, scrapers = serving["ingress"]
    assert "from" not in clients and clients["ports"] == [{"port": 8080, "protocol": "TCP"}]
    # Probes and /metrics are on the admin port, open only to namespaces labelled as metrics scrapers.
    assert scrapers["ports"] == [{"port": 8081, "protocol": "TCP"}]
    assert scrapers["from"] == [{"namespaceSelector": {"matchLabels": {"ml-platform/metrics-scraper": "true"}}}]
    ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert [(port["name"], port["containerPort"]) for port in ports] == [("http", 8080), ("admin", 8081)]

    training = policies["training"]["spec"]
    (rule,) = training["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": training["podSelector"]["matchLabels"]}}]
    assert rule["ports"] == [{"port": 29500, "protocol": "TCP"}]


def test_metrics_server_is_a_pinned_chart_that_accepts_kinds_self_signed_kubelets(kind):
    """kind serves no metrics.k8s.io of its own; autoscalers need it. Its kubelets' certificates
    are self-signed, so metrics-server must skip verifying them or it scrapes nothing."""
    chart = kind.one("kubernetes:helm.sh/v4:Chart", "cluster-metrics-server")
    assert chart["inputs"]["chart"] == "metrics-server" and chart["inputs"]["namespace"] == "kube-system"
    assert chart["inputs"]["version"] == KindSettings().charts.metrics_server
    assert chart["inputs"]["repositoryOpts"]["repo"] == "https://kubernetes-sigs.github.io/metrics-server/"
    assert chart["inputs"]["values"]["args"] == ["--kubelet-insecure-tls"]
    assert chart["provider"] == kind.one("pulumi:providers:kubernetes")["urn"]


def test_fixed_replicas_are_pulumis_to_set(kind):
    """dev-kind runs a fixed count: no autoscaler, and Pulumi applies a changed `replicas`."""
    assert kind.objects("HorizontalPodAutoscaler") == []
    assert kind.one("kubernetes:apps/v1:Deployment")["options"]["ignoreChanges"] == []
    assert _only(kind.objects("PodDisruptionBudget"))["spec"]["maxUnavailable"] == 1


def _autoscaled_variant(tmp_path, min_replicas: int):
    """dev-kind with the autoscaler instead of fixed replicas, extra trainer flags and variables."""
    document = copy.deepcopy(stack_document(STACK))
    model = document["config"][f"{NS}:models"][0]
    del model["serving"]["replicas"]
    model["serving"]["autoscaling"] = {"minReplicas": min_replicas, "maxReplicas": 4, "targetCpuUtilization": 60}
    model["serving"]["env"] = {"LOG_LEVEL": "debug"}
    model["training"]["args"] = ["--device", "cpu"]
    model["training"]["env"] = {"NCCL_DEBUG": "INFO"}
    # One stack name for every variant (it is in every label), each in its own directory.
    directory = tmp_path / f"min-{min_replicas}"
    stack = _write_stack(directory / "stacks", document, "autoscaled")
    render(stack, directory / "out", stacks_dir=directory / "stacks")
    return load(directory / "out")


@pytest.fixture(scope="module")
def autoscaled(tmp_path_factory):
    """The same stack rendered with minReplicas 1 and 2: an operator raising the minimum."""
    tmp_path = tmp_path_factory.mktemp("autoscaled")
    return _autoscaled_variant(tmp_path, 1), _autoscaled_variant(tmp_path, 2)


def test_changing_the_minimum_with_an_autoscaler_present_never_fights_it(autoscaled):
    """The Deployment declares its replicas once (on create) and Pulumi ignores them after: raising
    minReplicas in the stack file changes the HPA, and nothing Pulumi would apply to the Deployment,
    whatever the autoscaler has scaled it to."""
    one, two = autoscaled
    before, after = one.one("kubernetes:apps/v1:Deployment"), two.one("kubernetes:apps/v1:Deployment")
    for deployment, minimum in ((before, 1), (after, 2)):
        assert deployment["options"]["ignoreChanges"] == ["spec.replicas"]
        assert deployment["inputs"]["spec"]["replicas"] == minimum, "on create: the autoscaler's minimum"
    assert render_diff.changed_paths(before["inputs"], after["inputs"]) == ["spec.replicas"]
    changes = {change.name: change for change in render_diff.stack_changes(one.resources, two.resources)}
    assert "digits-serving-deployment" not in changes, "the only changed input is one Pulumi ignores"
    assert changes["digits-serving-autoscaler"].paths == ("spec.minReplicas",)
    assert changes["digits-serving-disruption-budget"].action == "update"


def test_replicas_beside_an_autoscaler_is_refused_naming_the_key(tmp_path):
    """Two owners of the replica count is a config error, never a silent choice of one."""
    document = copy.deepcopy(stack_document(STACK))
    document["config"][f"{NS}:models"][0]["serving"]["autoscaling"] = {"maxReplicas": 4}
    stack = _write_stack(tmp_path / "stacks", document)
    result = render(stack, tmp_path / "out", check=False, stacks_dir=tmp_path / "stacks")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{NS}:models[0].serving.replicas = 2: conflicts with autoscaling" in result.stderr


def test_autoscaler_targets_the_deployment_and_waits_for_metrics_server(autoscaled):
    one, _ = autoscaled
    hpa = _only(one.objects("HorizontalPodAutoscaler"))
    deployment = _only(one.objects("Deployment"))
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 4)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}
    assert deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "250m"
    resource = one.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    assert one.one("kubernetes:helm.sh/v4:Chart", "cluster-metrics-server")["urn"] in resource["dependencies"]


def test_one_pod_minimum_gets_a_budget_that_keeps_it(autoscaled):
    one, two = autoscaled
    assert _only(one.objects("PodDisruptionBudget"))["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in _only(one.objects("PodDisruptionBudget"))["spec"]
    assert _only(two.objects("PodDisruptionBudget"))["spec"]["maxUnavailable"] == 1


def test_extra_args_and_env_reach_the_pods_after_the_platforms(autoscaled, kind):
    one, _ = autoscaled
    (trainer,) = _only(one.objects("Job"))["spec"]["template"]["spec"]["containers"]
    assert trainer["args"][:2] == ["--output-uri", one.outputs[outputs.MODELS]["digits"][outputs.MODEL_URI]]
    assert trainer["args"][-2:] == ["--device", "cpu"]
    assert trainer["env"][-1] == {"name": "NCCL_DEBUG", "value": "INFO"}
    (server,) = _only(one.objects("Deployment"))["spec"]["template"]["spec"]["containers"]
    assert server["env"][-1] == {"name": "LOG_LEVEL", "value": "debug"}
    # Extra flags and variables decide the model: a new run, so a new Job and a new MODEL_URI.
    shipped_uri = kind.outputs[outputs.MODELS]["digits"][outputs.MODEL_URI]
    assert one.outputs[outputs.MODELS]["digits"][outputs.MODEL_URI] != shipped_uri


def test_autoscaled_variant_passes_kubernetes_validate_and_checkov(autoscaled):
    """The shipped prod-eks stack has an HPA and a maxUnavailable budget; this variant adds the
    minAvailable budget and the extra env, validated the same way."""
    one, _ = autoscaled
    files = sorted(str(path) for path in (one.directory / "manifests").glob("*.yaml"))
    validate = subprocess.run(
        [str(VALIDATE), "--strict", "--quiet", "-k", "1.33.0", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    result = checkov("kubernetes", one.directory / "manifests")
    assert result["failed"] == [], "\n".join(result["failed"])
