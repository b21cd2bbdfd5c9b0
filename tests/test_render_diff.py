"""The pull-request preview: what a change does to a stack, from two renders."""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.rendering import Rendered, render, stack_document
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


# --- Probed defects: each test renders real stacks and edits one side's render ----------------------


def _sides(tmp_path: Path, rendered: Rendered, stack: str) -> tuple[Path, Path]:
    """BASE and HEAD directories, each holding a copy of `rendered` as `stack`, for a test to edit."""
    for side in ("base", "head"):
        shutil.copytree(rendered.directory, tmp_path / side / stack)
    return tmp_path / "base", tmp_path / "head"


def _edit_resources(render_dir: Path, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    path = render_dir / "resources.json"
    document = json.loads(path.read_text())
    edit(document["resources"])
    path.write_text(json.dumps(document, indent=2))


def _named(resources: list[dict[str, Any]], name: str, type_prefix: str = "") -> dict[str, Any]:
    (found,) = [r for r in resources if r["name"] == name and r["type"].startswith(type_prefix)]
    return found


def _outside_code(markdown: str) -> str:
    """The Markdown that GitHub interprets: what is left after removing fenced blocks (closed by a
    line of backticks indented up to three spaces, as CommonMark says) and code spans."""
    kept, fence = [], ""
    for line in markdown.splitlines():
        opener = re.match(r" {0,3}(`{3,})", line)
        if fence:
            if opener and opener[1].startswith(fence) and not line.strip().strip("`"):
                fence = ""
        elif opener:
            fence = opener[1]
        else:
            kept.append(re.sub(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)", "", line))  # code spans, any fence
    return "\n".join(kept)


def test_deleted_image_and_deleted_stack_are_listed(rendered_stack, tmp_path):
    """An image dropped from the stack file (and every image, when a whole stack is gone) is listed
    as deleted; the preview used to crash reading the deleted image's (empty) new state."""
    document = copy.deepcopy(stack_document("dev-kind"))
    document["config"]["ml-platform:images"]["extra"] = {"context": "images/server"}
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.dev-kind.yaml").write_text(yaml.safe_dump(document))
    render("dev-kind", tmp_path / "base" / "dev-kind", stacks_dir=stacks)
    (tmp_path / "head").mkdir()
    (tmp_path / "head" / "dev-kind").symlink_to(rendered_stack("dev-kind").directory)

    markdown = render_diff.report(tmp_path / "base", tmp_path / "head")
    assert "### `dev-kind`: 0 to create, 2 to delete, 0 to replace, 0 to update" in markdown
    assert "- Image `extra` is deleted: it is no longer built." in markdown
    assert "| `-` delete | `extra-build` | `docker:index/image:Image` |" in markdown

    (tmp_path / "empty").mkdir()
    gone = render_diff.report(tmp_path / "head", tmp_path / "empty")
    assert "- Image `server` is deleted" in gone and "- Image `trainer` is deleted" in gone
    assert "0 to create, 27 to delete" in gone


def test_an_iam_grant_to_another_member_is_a_replacement(rendered_stack, tmp_path):
    """An IAM member resource is one grant: the provider replaces it when its member changes (as
    prod-gke's bucket grants did, from a Google service account to a Kubernetes principal)."""
    base, head = _sides(tmp_path, rendered_stack("prod-gke"), "prod-gke")
    _edit_resources(
        base / "prod-gke",
        lambda resources: _named(resources, "digits-serving-objects")["inputs"].update(member="serviceAccount:old"),
    )
    markdown = render_diff.report(base, head)
    assert "0 to create, 0 to delete, 1 to replace, 0 to update" in markdown
    assert "**replaced because** provider replaces on `member`" in markdown


def test_a_changed_provider_is_a_replacement(rendered_stack, tmp_path):
    """Pulumi replaces a resource whose provider reference names another provider; the same
    provider renamed through an alias is not another provider."""
    base, head = _sides(tmp_path, rendered_stack("prod-eks"), "prod-eks")
    other = "urn:pulumi:prod-eks::ml-platform::pulumi:providers:kubernetes::other-cluster"
    _edit_resources(
        head / "prod-eks",
        lambda resources: _named(resources, "digits-serving-deployment").update(provider=other),
    )
    markdown = render_diff.report(base, head)
    assert "0 to create, 0 to delete, 1 to replace, 0 to update" in markdown
    assert (
        "| `+-` replace | `digits-serving-deployment` | `kubernetes:apps/v1:Deployment` | "
        "`(provider)`: `pulumi:providers:kubernetes::cluster-provider` → `pulumi:providers:kubernetes::other-cluster`"
        "<br>**replaced because** the provider changed |"
    ) in markdown

    def rename_provider(resources: list[dict[str, Any]]) -> None:
        provider = _named(resources, "cluster-provider")
        old_urn = provider["urn"]
        provider["urn"] = old_urn.replace("::cluster-provider", "::k8s-provider")
        provider["name"] = "k8s-provider"
        provider["options"]["aliases"] = ["name=cluster-provider"]
        for resource in resources:
            if resource["provider"] == old_urn:
                resource["provider"] = provider["urn"]

    shutil.rmtree(head)
    shutil.copytree(base, head)
    _edit_resources(head / "prod-eks", rename_provider)
    assert "### `prod-eks`: 0 to create, 0 to delete, 0 to replace, 1 to update" in render_diff.report(base, head)


def test_an_aliased_rename_is_matched_not_deleted_and_created(rendered_stack, tmp_path):
    """The artifacts bucket moved from BucketV2 to Bucket with `aliases=[type=BucketV2]`: Pulumi
    moves its state to the new URN, so a protected bucket is not shown deleted and re-created."""
    base, head = _sides(tmp_path, rendered_stack("prod-eks"), "prod-eks")
    bucket = _named(rendered_stack("prod-eks").resources, "artifacts-bucket")
    assert "type=aws:s3/bucketV2:BucketV2" in bucket["options"]["aliases"]

    def as_bucket_v2(resources: list[dict[str, Any]]) -> None:
        old = _named(resources, "artifacts-bucket")
        old["type"] = "aws:s3/bucketV2:BucketV2"
        old["urn"] = old["urn"].replace("$aws:s3/bucket:Bucket::", "$aws:s3/bucketV2:BucketV2::")

    _edit_resources(base / "prod-eks", as_bucket_v2)
    assert "### `prod-eks`: no changes" in render_diff.report(base, head)

    _edit_resources(head / "prod-eks", lambda resources: _named(resources, "artifacts-bucket")["inputs"].update(x=1))
    markdown = render_diff.report(base, head)
    assert "0 to create, 0 to delete, 0 to replace, 1 to update" in markdown
    assert "| `~` update | `artifacts-bucket` | `aws:s3/bucket:Bucket` | `x`: (none) → `1` |" in markdown


def test_children_of_an_aliased_parent_are_matched_under_its_old_urn(rendered_stack, tmp_path):
    """A component whose type changed, with an alias to its old type: its children's URNs change
    with it (they carry the parent's type), and Pulumi finds them under the parent's old URN."""
    base, head = _sides(tmp_path, rendered_stack("prod-eks"), "prod-eks")
    resources = base / "prod-eks" / "resources.json"
    resources.write_text(resources.read_text().replace("ml-platform:cluster:S3Artifacts", "ml-platform:old:Artifacts"))
    _edit_resources(
        head / "prod-eks",
        lambda resources: _named(resources, "artifacts", "ml-platform:")["options"].update(
            aliases=["type=ml-platform:old:Artifacts"]
        ),
    )
    markdown = render_diff.report(base, head)
    assert "### `prod-eks`: 0 to create, 0 to delete, 0 to replace, 1 to update" in markdown
    assert "| `~` update | `artifacts` | `ml-platform:cluster:S3Artifacts` | `(option) aliases`" in markdown


def test_a_render_given_instead_of_a_directory_of_renders_is_refused(rendered_stack, tmp_path, capsys):
    """`render_diff RENDERS/dev-kind RENDERS/prod-eks` compared the renders' `manifests` folders as
    a stack and said "no changes"; a folder in BASE or HEAD that is no render is refused too."""
    dev_kind, prod_eks = rendered_stack("dev-kind").directory, rendered_stack("prod-eks").directory
    assert render_diff.main([str(dev_kind), str(prod_eks)]) == 2
    assert capsys.readouterr().err == (
        f"render_diff: BASE {dev_kind} is itself a render, not a directory of renders; BASE must hold one "
        "render per stack (BASE/<stack>/, from python -m tools.render STACK --out BASE/STACK)\n"
    )
    (tmp_path / "renders" / "notes").mkdir(parents=True)
    (tmp_path / "renders" / ".render-staging").mkdir()  # the render tool's own, skipped
    assert render_diff.main([str(dev_kind.parent), str(tmp_path / "renders")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"render_diff: HEAD {tmp_path / 'renders'}: notes/ is not a render (no resources.json)")


def test_render_content_cannot_break_the_table_or_inject_html(rendered_stack, tmp_path):
    """Names, types and values come from the program and its stack file: each is shown in a code
    span (where GitHub shows HTML as text) that a `|` or a backtick inside cannot end, and a manifest
    line cannot close the diff's code fence."""
    evil = "evil|name`<img src=x onerror=alert(1)>"
    base, head = _sides(tmp_path, rendered_stack("dev-kind"), "dev-kind")

    def inject(resources: list[dict[str, Any]]) -> None:
        job = copy.deepcopy(_named(resources, "digits-training-job"))
        job.update(name=evil, type=f"kubernetes:batch/v1:Job`{evil}", urn=job["urn"] + "-evil")
        resources.append(job)
        _named(resources, "digits-serving-deployment")["inputs"]["spec"]["replicas"] = f"<b>{evil}</b>"

    _edit_resources(head / "dev-kind", inject)
    manifest = "kind: ConfigMap\nnote: |\n  ```\n  <img src=x onerror=alert(1)>\ndata: {k: v0}\n"
    (base / "dev-kind" / "manifests" / "configmap-evil.yaml").write_text(manifest)
    (head / "dev-kind" / "manifests" / "configmap-evil.yaml").write_text(manifest.replace("v0", "v1"))

    markdown = render_diff.report(base, head)
    assert "``evil\\|name`<img src=x onerror=alert(1)>``" in markdown  # as written, in a longer fence
    # Outside a table a backslash before the pipe would show: the summary's bullets keep it bare.
    assert (
        "- Deployment `digits-serving-deployment` scales from 2 to ``<b>evil|name`<img src=x onerror=alert(1)></b>`` "
        "replicas." in markdown
    )
    assert "onerror" not in _outside_code(markdown)
    rows = [line for line in markdown.splitlines() if line.startswith("| `")]
    assert rows and all(len(re.findall(r"(?<!\\)\|", row)) == 5 for row in rows), rows


def _truncated(render_dir: Path) -> Path:
    path = render_dir / "resources.json"
    path.write_text(path.read_text()[:300])
    return path


def _without_options(render_dir: Path) -> Path:
    _edit_resources(render_dir, lambda resources: [r.pop("options") for r in resources])
    return render_dir / "resources.json"


def _bad_manifest(render_dir: Path) -> Path:
    path = next((render_dir / "manifests").glob("*.yaml"))
    path.write_text("kind: [unclosed\n")
    return path


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["{tmp}/nosuch", "{head}"], "BASE {tmp}/nosuch: no such directory"),
        (["{base}", "{head}", "--section", "nosuch:fn"], "--section 'nosuch:fn': no module 'nosuch'"),
        (["{base}", "{head}", "--section", "tools.cost"], "--section 'tools.cost': expected MODULE:FUNCTION"),
        (["{base}", "{head}", "--section", "tools.cost:nosuch"], "tools.cost has no function 'nosuch'"),
        (["{base}", "{head}", "--max-chars", "10"], "--max-chars: limit 10 is below the"),
    ],
)
def test_bad_arguments_are_one_line_errors(rendered_stack, tmp_path, capsys, arguments, says):
    base, head = _sides(tmp_path, rendered_stack("dev-kind"), "dev-kind")
    paths = {"tmp": tmp_path, "base": base, "head": head}
    assert render_diff.main([argument.format(**paths) for argument in arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("render_diff: ") and error.count("\n") == 1 and says.format(**paths) in error, error


def _bad_warnings(render_dir: Path) -> Path:
    path = render_dir / "warnings.json"
    path.write_text('{"warning": 1}\n')
    return path


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        (_truncated, "Unterminated string"),
        (_without_options, "resources[0].options: missing (expected an object)"),
        (_bad_manifest, "not a YAML manifest"),
        (_bad_warnings, "expected a list of warning texts"),
    ],
)
def test_unreadable_renders_are_one_line_errors_naming_the_file(rendered_stack, tmp_path, capsys, spoil, says):
    base, head = _sides(tmp_path, rendered_stack("dev-kind"), "dev-kind")
    _edit_resources(head / "dev-kind", lambda resources: resources.pop())  # a change, so manifests are read
    path = spoil(base / "dev-kind")
    assert render_diff.main([str(base), str(head)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"render_diff: {path}: ") and error.count("\n") == 1 and says in error, error


def test_deleting_a_protected_resource_is_called_out():
    """Pulumi refuses to delete a protected resource: the summary says so, as it does for a
    protected replacement; an unprotected delete gets no such line."""
    bucket = "urn:pulumi:s::p::aws:s3/bucket:Bucket::models"
    queue = "urn:pulumi:s::p::aws:sqs/queue:Queue::jobs"
    changes = render_diff.stack_changes([_resource(bucket, {}, protect=True), _resource(queue, {})], [])
    lines = render_diff.summary(changes)
    assert lines == [
        "`models` (`aws:s3/bucket:Bucket`) is **deleted**, but it is protected: the update fails until "
        "`protect` is lifted in a change of its own (or the resource is kept)."
    ]


def test_an_image_rebuilt_for_another_reason_than_its_context_says_which():
    """Same content tag, another platform or repository: the line names what changed, never a
    `tag a → a` that claims the context changed."""
    urn = "urn:pulumi:s::p::docker:index/image:Image::server-build"
    base = [_resource(urn, {"imageName": "r.io/server:abc", "build": {"platform": "linux/amd64"}})]
    head = [_resource(urn, {"imageName": "r.io/server:abc", "build": {"platform": "linux/arm64"}})]
    (line,) = render_diff.summary(render_diff.stack_changes(base, head))
    assert line == (
        "Image `server` is rebuilt and pushed: its build changed (`build.platform`: `linux/amd64` → `linux/arm64`)."
    )
    head[0]["inputs"]["imageName"] = "r.io/server:def"
    (line,) = render_diff.summary(render_diff.stack_changes(base, head))
    assert line.startswith("Image `server` is rebuilt and pushed: its build context changed (tag `abc` → `def`)")


def test_an_environment_variable_added_or_removed_is_not_shown_as_null():
    urn = "urn:pulumi:s::p::kubernetes:apps/v1:Deployment::web"

    def deployment(env: dict[str, str]) -> dict[str, Any]:
        container = {"name": "server", "image": "i", "env": [{"name": k, "value": v} for k, v in env.items()]}
        return _resource(urn, {"spec": {"template": {"spec": {"containers": [container]}}}})

    changes = render_diff.stack_changes([deployment({"OLD": "1"})], [deployment({"NEW": "2"})])
    (line,) = render_diff.summary(changes)
    assert line == "Deployment `web` rolls (new pods, old ones drained): `NEW` set to `2`, `OLD` removed."


# --- The program's warnings ----------------------------------------------------------------------

GPU_ON_KIND = "model digits-wide training asks for 1 GPU(s) but this cluster has none; it runs on CPU"


@pytest.fixture(scope="module")
def gpu_on_kind(tmp_path_factory) -> Path:
    """dev-kind with a second model that asks for a GPU, which kind lacks: the program warns (a
    warning about a resource, logged once its URN resolves), and the render records it."""
    directory = tmp_path_factory.mktemp("gpu-on-kind")
    document = copy.deepcopy(stack_document("dev-kind"))
    wide = copy.deepcopy(document["config"]["ml-platform:models"][0])
    wide["name"] = "digits-wide"
    wide["training"]["resources"]["gpus"] = 1
    document["config"]["ml-platform:models"].append(wide)
    (directory / "stacks").mkdir()
    (directory / "stacks" / "Pulumi.dev-kind.yaml").write_text(yaml.safe_dump(document))
    out = directory / "render"
    result = render("dev-kind", out, stacks_dir=directory / "stacks")
    assert GPU_ON_KIND in result.stderr, "still printed, as `pulumi up` shows warnings"
    return out


def _one_stack(tmp_path: Path, side: str, render_dir: Path) -> Path:
    shutil.copytree(render_dir, tmp_path / side / "dev-kind")
    return tmp_path / side


def test_a_warning_new_in_head_reaches_the_preview_marked_new(rendered_stack, tmp_path, gpu_on_kind):
    """The reported case: the render's warnings went to stderr only and never reached the comment."""
    (recorded,) = json.loads((gpu_on_kind / "warnings.json").read_text())
    assert recorded.startswith(GPU_ON_KIND)
    base = _one_stack(tmp_path, "base", rendered_stack("dev-kind").directory)
    markdown = render_diff.report(base, _one_stack(tmp_path, "head", gpu_on_kind))
    section = markdown.split("#### Warnings: ", 1)[1].split("\n\n#### ", 1)[0]
    assert section.startswith("1, 1 new\n\n- **New:** model digits-wide training asks for 1 GPU(s)"), section


def test_a_warning_already_at_the_base_is_listed_but_not_new(tmp_path, gpu_on_kind):
    markdown = render_diff.report(_one_stack(tmp_path, "base", gpu_on_kind), _one_stack(tmp_path, "head", gpu_on_kind))
    assert "### `dev-kind`: no changes" in markdown
    assert "#### Warnings: 1\n\n- model digits-wide training asks for 1 GPU(s)" in markdown
    assert "**New:**" not in markdown


def test_a_warning_only_at_the_base_is_resolved_and_a_new_stack_has_only_new_ones(
    rendered_stack, tmp_path, gpu_on_kind
):
    base = _one_stack(tmp_path, "base", gpu_on_kind)
    markdown = render_diff.report(base, _one_stack(tmp_path, "head", rendered_stack("dev-kind").directory))
    assert "#### Warnings: 0, 1 resolved\n\n- **Resolved** (warned at the base only): model digits-wide" in markdown
    (tmp_path / "empty").mkdir()
    created = render_diff.report(tmp_path / "empty", tmp_path / "head")
    assert "#### Warnings" not in created, "a stack created without warnings has no section"
    created = render_diff.report(tmp_path / "empty", base)
    assert "#### Warnings: 1, 1 new\n\n- **New:** model digits-wide" in created


def test_a_base_rendered_before_warnings_were_recorded_marks_none_new(tmp_path, gpu_on_kind):
    """The base is rendered by the base's own render tool, which may predate warnings.json: unknown is
    not "none", so no warning is called new."""
    base = _one_stack(tmp_path, "base", gpu_on_kind)
    (base / "dev-kind" / "warnings.json").unlink()
    markdown = render_diff.report(base, _one_stack(tmp_path, "head", gpu_on_kind))
    assert "#### Warnings: 1\n\nThe base's render does not record warnings" in markdown
    assert "**New:**" not in markdown and "**Resolved**" not in markdown


def test_warning_text_is_escaped(rendered_stack, tmp_path):
    """A warning quotes stack-file values a pull request wrote: it cannot become HTML, a link or a mention."""
    base, head = _sides(tmp_path, rendered_stack("dev-kind"), "dev-kind")
    evil = "models[0].name = <img src=x onerror=alert(1)> [x](https://evil) @org/team *bold*"
    (head / "dev-kind" / "warnings.json").write_text(json.dumps([evil]))
    markdown = render_diff.report(base, head)
    (line,) = [line for line in markdown.splitlines() if line.startswith("- **New:**")]
    assert line == (
        r"- **New:** models\[0\].name = \<img src=x onerror=alert(1)\> \[x\](https://evil) \@org/team \*bold\*"
    )
