"""Golden files for the offline preview's Markdown: what a reviewer reads on a pull request.

Each case writes a small base and head render (the render tool's format) and compares
`tools.render_diff`'s Markdown with `tests/golden/render_diff/<case>.md`. After an intended change
of the output, regenerate with `UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_render_diff_golden.py`
and review the diff of the golden files like any other change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import render_diff

GOLDEN = Path(__file__).parent / "golden" / "render_diff"
STACK = "s"
PROJECT = "ml-platform"


def _urn(type_token: str, name: str, parent_type: str = "") -> str:
    qualified = f"{parent_type}${type_token}" if parent_type else type_token
    return f"urn:pulumi:{STACK}::{PROJECT}::{qualified}::{name}"


def resource(
    type_token: str,
    name: str,
    inputs: dict[str, Any],
    *,
    parent: str = "",
    replace_on_changes: tuple[str, ...] = (),
    protect: bool = False,
    delete_before_replace: bool = False,
) -> dict[str, Any]:
    parent_type = parent.split("::")[2].split("$")[-1] if parent else ""
    return {
        "urn": _urn(type_token, name, parent_type),
        "type": type_token,
        "name": name,
        "custom": True,
        "parent": parent,
        "provider": "",
        "dependencies": [],
        "options": {
            "protect": protect,
            "ignoreChanges": [],
            "deleteBeforeReplace": delete_before_replace,
            "replaceOnChanges": list(replace_on_changes),
            "additionalSecretOutputs": [],
            "retainOnDelete": False,
            "aliases": [],
            "customTimeouts": {},
        },
        "inputs": inputs,
    }


def write_render(directory: Path, resources: list[dict[str, Any]], manifests: dict[str, Any] | None = None) -> None:
    (directory / "manifests").mkdir(parents=True)
    (directory / "resources.json").write_text(json.dumps({"stack": STACK, "resources": resources}, indent=2))
    for file_name, body in (manifests or {}).items():
        (directory / "manifests" / file_name).write_text(yaml.safe_dump(body, sort_keys=True))


def check_golden(name: str, markdown: str) -> None:
    path = GOLDEN / f"{name}.md"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown)
        pytest.fail(f"{path} rewritten: review the diff, then run without UPDATE_GOLDEN")
    assert path.exists(), f"no golden file {path}: run with UPDATE_GOLDEN=1 and review it"
    assert markdown == path.read_text(), f"{name}: output differs from {path} (UPDATE_GOLDEN=1 to accept)"


def preview(
    tmp_path: Path,
    base: list[dict[str, Any]],
    head: list[dict[str, Any]],
    manifests: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> str:
    base_manifests, head_manifests = manifests or ({}, {})
    write_render(tmp_path / "base" / STACK, base, base_manifests)
    write_render(tmp_path / "head" / STACK, head, head_manifests)
    return render_diff.report(tmp_path / "base", tmp_path / "head")


def deployment(replicas: int, image: str, model_uri: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels or {"app": "digits"}, "namespace": "ml-models"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "digits"}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "server", "image": image, "env": [{"name": "MODEL_URI", "value": model_uri}]}
                    ]
                }
            },
        },
    }


def job(run: str, image: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"digits-train-{run}", "namespace": "ml-models"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "trainer", "image": image, "args": ["--output-uri", f"file:///m/{run}"]}]
                }
            }
        },
    }


def test_scalar_changes_show_old_and_new_values_and_mask_secrets(tmp_path):
    """Replicas 2 → 3, a label added and one removed; a Secret's data and a secret input are never
    shown in clear, even when they change."""
    base = [
        resource(
            "kubernetes:apps/v1:Deployment",
            "digits-serving-deployment",
            deployment(2, "r/server@sha256:" + "a" * 64, "file:///m/1", {"app": "digits", "tier": "old"}),
        ),
        resource("kubernetes:core/v1:Secret", "registry-auth", {"type": "Opaque", "stringData": {"token": "s3cr3t-1"}}),
        resource("docker:index/image:Image", "server-build", {"imageName": "r/server:1", "registry": "[secret]"}),
    ]
    head = [
        resource(
            "kubernetes:apps/v1:Deployment",
            "digits-serving-deployment",
            deployment(3, "r/server@sha256:" + "a" * 64, "file:///m/1", {"app": "digits", "team": "ml"}),
        ),
        resource("kubernetes:core/v1:Secret", "registry-auth", {"type": "Opaque", "stringData": {"token": "s3cr3t-2"}}),
        resource("docker:index/image:Image", "server-build", {"imageName": "r/server:1", "registry": "[secret]"}),
    ]
    markdown = preview(tmp_path, base, head)
    assert "`spec.replicas`: `2` → `3`" in markdown
    assert "s3cr3t" not in markdown
    check_golden("scalar_changes", markdown)


def test_provider_replacements_are_flagged_with_their_reason(tmp_path):
    """A GPU node group's instance type and a bucket's name are replaced by the provider (no
    replaceOnChanges of ours); a Service's type is updated in place, its clusterIP replaced."""
    base = [
        resource(
            "aws:eks/nodeGroup:NodeGroup",
            "cluster-gpu-gpu",
            {"instanceTypes": ["g5.xlarge"], "scalingConfig": {"maxSize": 2}, "diskSize": 100},
        ),
        resource("aws:s3/bucket:Bucket", "artifacts-bucket", {"bucket": "ml-artifacts"}, protect=True),
        resource("kubernetes:core/v1:Service", "digits-serving-service", {"spec": {"type": "ClusterIP"}}),
        resource("kubernetes:core/v1:Service", "pinned", {"spec": {"clusterIP": "10.0.0.10"}}),
    ]
    head = [
        resource(
            "aws:eks/nodeGroup:NodeGroup",
            "cluster-gpu-gpu",
            {"instanceTypes": ["g6.xlarge"], "scalingConfig": {"maxSize": 4}, "diskSize": 100},
        ),
        resource("aws:s3/bucket:Bucket", "artifacts-bucket", {"bucket": "ml-artifacts-2"}, protect=True),
        resource("kubernetes:core/v1:Service", "digits-serving-service", {"spec": {"type": "LoadBalancer"}}),
        resource("kubernetes:core/v1:Service", "pinned", {"spec": {"clusterIP": "10.0.0.11"}}),
    ]
    markdown = preview(tmp_path, base, head)
    assert "**replaced because** provider replaces on `instanceTypes`" in markdown
    assert "| `~` update | `digits-serving-service` |" in markdown
    assert "| `+-` replace | `pinned` |" in markdown
    assert "It is protected" in markdown
    check_golden("provider_replacements", markdown)


def test_image_rebuild_is_summarised_in_words(tmp_path):
    """The trainer's code changed: its image is rebuilt, the Job becomes a new training run, and
    the server Deployment rolls to the new run's model; the server image is unchanged."""
    image_component = _urn("ml-platform:image:Image", "trainer")
    old_digest, new_digest = "1" * 64, "2" * 64
    base = [
        resource("docker:index/image:Image", "trainer-build", {"imageName": "r/trainer:aaaa"}, parent=image_component),
        resource(
            "kubernetes:batch/v1:Job",
            "digits-training-job",
            job("run1", f"r/trainer@sha256:{old_digest}"),
            replace_on_changes=("spec",),
            delete_before_replace=True,
        ),
        resource(
            "kubernetes:apps/v1:Deployment",
            "digits-serving-deployment",
            deployment(2, "r/server@sha256:" + "9" * 64, "file:///m/run1"),
        ),
    ]
    head = [
        resource("docker:index/image:Image", "trainer-build", {"imageName": "r/trainer:bbbb"}, parent=image_component),
        resource(
            "kubernetes:batch/v1:Job",
            "digits-training-job",
            job("run2", f"r/trainer@sha256:{new_digest}"),
            replace_on_changes=("spec",),
            delete_before_replace=True,
        ),
        resource(
            "kubernetes:apps/v1:Deployment",
            "digits-serving-deployment",
            deployment(2, "r/server@sha256:" + "9" * 64, "file:///m/run2"),
        ),
    ]
    manifests = (
        {"job-ml-models-digits-train-run1.yaml": {"kind": "Job", "metadata": {"name": "digits-train-run1"}}},
        {"job-ml-models-digits-train-run2.yaml": {"kind": "Job", "metadata": {"name": "digits-train-run2"}}},
    )
    markdown = preview(tmp_path, base, head, manifests)
    assert "Image `trainer` is rebuilt and pushed" in markdown
    assert "**new training run** (`digits-train-run1` → `digits-train-run2`): image `trainer` rebuilt" in markdown
    assert "Deployment `digits-serving-deployment` rolls" in markdown
    assert "server` is rebuilt" not in markdown
    check_golden("image_rebuild", markdown)


def test_long_preview_is_cut_with_fences_closed_and_a_note(tmp_path, capsys):
    """A preview longer than the limit is cut on a line, inside the manifest diff here: the code
    fence and <details> are closed and a note says where the full Markdown is."""
    base = [resource("kubernetes:core/v1:ConfigMap", "big", {"data": {"k": "v0"}})]
    head = [resource("kubernetes:core/v1:ConfigMap", "big", {"data": {"k": "v1"}})]
    lines = {f"key{index:03d}": f"value {index}" for index in range(200)}
    write_render(tmp_path / "base" / STACK, base, {"configmap-big.yaml": {"kind": "ConfigMap", "data": lines}})
    write_render(
        tmp_path / "head" / STACK,
        head,
        {"configmap-big.yaml": {"kind": "ConfigMap", "data": {k: v + "!" for k, v in lines.items()}}},
    )
    limit = 3000
    render_diff.main(
        [str(tmp_path / "base"), str(tmp_path / "head"), "--max-chars", str(limit), "--full-url", "https://run"]
    )
    markdown = capsys.readouterr().out
    assert len(markdown) <= limit
    assert markdown.count("```") % 2 == 0
    assert markdown.count("<details>") == markdown.count("</details>")
    check_golden("truncated", markdown)


@pytest.mark.parametrize(
    ("type_token", "path", "replaced"),
    [
        ("aws:eks/nodeGroup:NodeGroup", "instanceTypes[0]", True),
        ("aws:eks/nodeGroup:NodeGroup", "amiType", True),
        ("aws:eks/nodeGroup:NodeGroup", "capacityType", True),
        ("aws:eks/nodeGroup:NodeGroup", "diskSize", True),
        ("aws:eks/nodeGroup:NodeGroup", "scalingConfig.maxSize", False),
        ("aws:eks/nodeGroup:NodeGroup", "labels.team", False),
        ("aws:s3/bucket:Bucket", "bucket", True),
        ("aws:s3/bucket:Bucket", "tags.team", False),
        ("aws:ecr/repository:Repository", "name", True),
        ("aws:ecr/repository:Repository", "imageTagMutability", False),
        ("kubernetes:batch/v1:Job", "spec.template.spec.containers[0].image", True),
        ("kubernetes:batch/v1:Job", "spec.backoffLimit", False),
        ("kubernetes:apps/v1:Deployment", "spec.selector.matchLabels.app", True),
        ("kubernetes:apps/v1:Deployment", "spec.template.spec.containers[0].image", False),
        ("kubernetes:core/v1:Service", "spec.clusterIP", True),
        ("kubernetes:core/v1:Service", "spec.type", False),
        ("kubernetes:core/v1:Namespace", "metadata.name", True),
        ("gcp:container/nodePool:NodePool", "nodeConfig.guestAccelerators[0].type", True),
        ("gcp:container/nodePool:NodePool", "nodeConfig.machineType", False),
        ("gcp:storage/bucket:Bucket", "location", True),
        ("gcp:storage/bucket:Bucket", "name", True),
        ("command:local:Command", "triggers[0]", True),
        ("command:local:Command", "create", False),
    ],
)
def test_provider_replacement_table(type_token, path, replaced):
    """The table beside the diff tool (tools/provider_replacements.py) decides replace vs update
    for the types the stacks use, from the providers' own ForceNew / replaceOnChanges."""
    assert bool(render_diff.replace_reasons(type_token, [], [path])) is replaced


def test_every_replacement_rule_names_its_source():
    from tools import provider_replacements

    for rule in provider_replacements.RULES:
        assert rule.source and rule.paths, rule
