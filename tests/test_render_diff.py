"""The pull-request preview: what a change does to a stack, from two renders."""

from __future__ import annotations

import copy

import yaml

from tests.rendering import render, stack_document
from tools import render_diff


def _resource(urn, inputs, replace_on_changes=(), **options):
    return {
        "urn": urn,
        "type": urn.split("::")[2],
        "name": urn.split("::")[3],
        "inputs": inputs,
        "options": {"replaceOnChanges": list(replace_on_changes), **options},
    }


def test_changed_paths_use_pulumis_property_notation():
    old = {"spec": {"replicas": 2, "containers": [{"image": "a", "args": ["x"]}]}, "gone": 1}
    new = {"spec": {"replicas": 3, "containers": [{"image": "b", "args": ["x", "y"]}]}, "added": 1}
    assert render_diff.changed_paths(old, new) == [
        "added",
        "gone",
        "spec.containers[0].args",
        "spec.containers[0].image",
        "spec.replicas",
    ]


def test_replace_follows_replace_on_changes_patterns():
    assert render_diff._covers("spec", "spec.template.spec.containers[0].args[5]")
    assert render_diff._covers("triggers[*]", "triggers[0]")
    assert not render_diff._covers("spec", "metadata.labels.x")
    assert not render_diff._covers("spec.template", "spec")


def test_stack_changes_classify_create_delete_replace_update():
    job = "urn:pulumi:s::p::kubernetes:batch/v1:Job::job"
    deployment = "urn:pulumi:s::p::kubernetes:apps/v1:Deployment::web"
    base = [
        _resource(job, {"spec": {"epochs": 1}}, ["spec"]),
        _resource(deployment, {"spec": {"replicas": 2}}),
        _resource("urn:pulumi:s::p::kubernetes:core/v1:Service::old", {}),
    ]
    head = [
        _resource(job, {"spec": {"epochs": 2}}, ["spec"]),
        _resource(deployment, {"spec": {"replicas": 3}}),
        _resource("urn:pulumi:s::p::kubernetes:core/v1:Service::new", {}),
    ]
    changes = {(c.action, c.name): c for c in render_diff.stack_changes(base, head)}
    assert set(changes) == {("replace", "job"), ("update", "web"), ("create", "new"), ("delete", "old")}
    assert changes[("update", "web")].paths == ("spec.replicas",)


def test_inputs_under_ignore_changes_are_not_an_update():
    """Pulumi keeps the old value under ignoreChanges (an autoscaled Deployment's replicas): the
    preview must not promise an update Pulumi would not make, nor hide the other paths."""
    deployment = "urn:pulumi:s::p::kubernetes:apps/v1:Deployment::web"
    base = [_resource(deployment, {"spec": {"replicas": 2, "paused": False}}, ignoreChanges=["spec.replicas"])]
    head = [_resource(deployment, {"spec": {"replicas": 3, "paused": False}}, ignoreChanges=["spec.replicas"])]
    assert render_diff.stack_changes(base, head) == []
    head[0]["inputs"]["spec"]["paused"] = True
    (change,) = render_diff.stack_changes(base, head)
    assert change.paths == ("spec.paused",)


def test_option_changes_are_shown():
    urn = "urn:pulumi:s::p::aws:s3/bucket:Bucket::models"
    base = [_resource(urn, {}, protect=True)]
    head = [_resource(urn, {}, protect=False)]
    (change,) = render_diff.stack_changes(base, head)
    assert change.action == "update" and change.paths == ("(option) protect",)


def test_preview_of_a_real_stack_edit(rendered_stack, tmp_path):
    """Rendering dev-kind before and after a stack-file edit: a new model is created, the retrained
    model's Job is replaced and its servers are updated to the new run, nothing else moves."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "dev-kind").symlink_to(rendered_stack("dev-kind").directory)
    document = copy.deepcopy(stack_document("dev-kind"))
    models = document["config"]["ml-platform:models"]
    models[0]["training"]["epochs"] += 5
    wide = copy.deepcopy(models[0])
    wide["name"] = "digits-wide"
    models.append(wide)
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.dev-kind.yaml").write_text(yaml.safe_dump(document))
    render("dev-kind", tmp_path / "head" / "dev-kind", stacks_dir=stacks)

    markdown = render_diff.report(base, tmp_path / "head")
    assert "### `dev-kind`: 10 to create, 0 to delete, 1 to replace, 1 to update" in markdown
    assert "| `+-` replace (delete first) | `digits-training-job` | `kubernetes:batch/v1:Job` |" in markdown
    assert "`spec.template.spec.containers[0].args[5]`: `15` → `20`" in markdown
    assert "| `~` update | `digits-serving-deployment` |" in markdown
    assert "+          value: file:///models/digits/runs/" in markdown
    assert "digits-wide-training-job" in markdown


def test_unchanged_stack_says_so(rendered_stack, tmp_path):
    for side in ("base", "head"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "dev-kind").symlink_to(rendered_stack("dev-kind").directory)
    assert "### `dev-kind`: no changes" in render_diff.report(tmp_path / "base", tmp_path / "head")
