"""`python -m tools.check`: a stack file or a render edited to break a rule fails with the rule's
name and exit status 1; advisories alone pass; bad input exits 2."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.policy_helpers import Render
from tests.rendering import STACKS_DIR
from tools.check import Violation, change_marks, main, markdown_table, verdict


def _write_render(tmp_path, render: Render):
    out = tmp_path / "render"
    out.mkdir()
    (out / "resources.json").write_text(json.dumps(render.document))
    return out


def test_a_mutated_stack_file_fails_with_the_rule_name(tmp_path, capsys):
    """prod-eks with its load balancer opened to the world (allowed, with a warning) fails the rule."""
    stacks = tmp_path / "stacks"
    shutil.copytree(STACKS_DIR, stacks)
    path = stacks / "Pulumi.prod-eks.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["ml-platform:eks"]["loadBalancer"]["sourceCidrs"] = ["0.0.0.0/0"]
    path.write_text(yaml.safe_dump(document))
    assert main(["prod-eks", "--stacks-dir", str(stacks)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(
        line.startswith("load-balancer-restricted: digits-serving-service (kubernetes:core/v1:Service): ")
        and "admits 0.0.0.0/0" in line
        for line in lines
    ), lines


def test_a_shipped_stack_passes(capsys):
    assert main(["dev-kind"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "dev-kind passes: 0 mandatory, 0 advisory violation(s)"


def test_advisories_alone_pass_and_are_printed(rendered_stack, tmp_path, capsys):
    render_dir = _write_render(tmp_path, Render(rendered_stack("prod-eks")))
    assert main(["--render", str(render_dir)]) == 0
    out = capsys.readouterr().out
    assert "advisory (1):\ntraining-on-spot: cluster-gpu-gpu (aws:eks/nodeGroup:NodeGroup): " in out


def test_an_edited_render_fails_and_mandatory_comes_first(rendered_stack, tmp_path, capsys):
    render = Render(rendered_stack("prod-eks"))
    render.pod("kubernetes:apps/v1:Deployment").pop("automountServiceAccountToken")
    assert main(["--render", str(_write_render(tmp_path, render))]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "mandatory (1):"
    assert lines[1].startswith("service-account-token-not-mounted: digits-serving-deployment (kubernetes:apps/v1:")
    assert lines[-1] == "prod-eks FAILS: 1 mandatory, 1 advisory violation(s)"


def test_config_file_levels_apply(rendered_stack, tmp_path, capsys):
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"training-on-spot": "mandatory"}))
    render_dir = _write_render(tmp_path, Render(rendered_stack("prod-eks")))
    assert main(["--render", str(render_dir), "--config", str(config)]) == 1
    assert "mandatory (1):\ntraining-on-spot: " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (lambda tmp: tmp, "is not a render: no resources.json"),
        (lambda tmp: (tmp / "resources.json").write_text("{") and tmp, "resources.json"),
        (lambda tmp: (tmp / "resources.json").write_text('{"resources": {}}') and tmp, "resources: expected a list"),
    ],
    ids=["empty-dir", "bad-json", "wrong-shape"],
)
def test_a_directory_that_is_not_a_render_exits_2(tmp_path, capsys, setup, error):
    assert main(["--render", str(setup(tmp_path))]) == 2
    assert error in capsys.readouterr().err


def test_an_unknown_stack_exits_2(capsys):
    assert main(["no-such-stack"]) == 2
    err = capsys.readouterr().err  # the child render's message, as one line of this tool's
    assert err.startswith("check: render no-such-stack: unknown stack 'no-such-stack'"), err


def test_a_bad_config_file_exits_2(rendered_stack, tmp_path, capsys):
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"image-not-latest": "sometimes"}))
    assert main(["--render", str(rendered_stack("dev-kind").directory), "--config", str(config)]) == 2
    assert "image-not-latest.enforcementLevel = 'sometimes'" in capsys.readouterr().err


def test_markdown_for_the_pull_request_preview():
    violation = Violation(
        rule="load-balancer-restricted", level="mandatory", urn="urn:x", resource="svc (kubernetes:core/v1:Service)",
        message="admits a|b: fix it",
    )  # fmt: skip
    assert verdict([violation]) == "fails (1 mandatory violation(s))"
    assert verdict([]) == "passes every mandatory rule"
    rows = markdown_table([violation], [" (new)"]).splitlines()
    assert rows[2] == (
        "| mandatory (new) | `load-balancer-restricted` | `svc (kubernetes:core/v1:Service)` | admits a\\|b: fix it |"
    )


def test_the_preview_marks_a_finding_that_only_changed_its_words_as_changed_not_new():
    """The same rule on the same resource, saying more (a second model on a GPU pool), is not a new
    finding; names and messages from the render cannot become HTML or extra cells."""
    at_base = Violation(
        rule="training-on-spot", level="advisory", urn="urn:pool", resource="pool (aws:eks/nodeGroup:NodeGroup)",
        message="spot nodes run a-training-job: use on-demand",
    )  # fmt: skip
    at_head = Violation(
        rule="training-on-spot", level="advisory", urn="urn:pool", resource="pool (aws:eks/nodeGroup:NodeGroup)",
        message="spot nodes run a-training-job, <b>b</b>|c: use on-demand",
    )  # fmt: skip
    elsewhere = Violation(
        rule="training-on-spot", level="advisory", urn="urn:other",
        resource="<img src=x> (aws:eks/nodeGroup:NodeGroup)", message="spot nodes run a-training-job: use on-demand",
    )  # fmt: skip
    head = [at_head, elsewhere]
    assert change_marks([at_base], head) == [" (changed)", " (new)"]
    assert change_marks(head, head) == ["", ""]
    rows = markdown_table(head, change_marks([at_base], head)).splitlines()[2:]
    assert rows == [
        "| advisory (changed) | `training-on-spot` | `pool (aws:eks/nodeGroup:NodeGroup)` "
        "| spot nodes run a-training-job, \\<b\\>b\\</b\\>\\|c: use on-demand |",
        "| advisory (new) | `training-on-spot` | `<img src=x> (aws:eks/nodeGroup:NodeGroup)` "
        "| spot nodes run a-training-job: use on-demand |",
    ]


def test_the_preview_section_marks_violations_the_change_brings(rendered_stack, tmp_path):
    from tools.check import preview_section

    base = Render(rendered_stack("prod-eks"))
    head = Render(rendered_stack("prod-eks"))
    head.pod("kubernetes:apps/v1:Deployment").pop("automountServiceAccountToken")
    (tmp_path / "base").mkdir()
    (tmp_path / "head").mkdir()
    for side, render in (("base", base), ("head", head)):
        (tmp_path / side / "render").mkdir()
        (tmp_path / side / "render" / "resources.json").write_text(json.dumps(render.document))
    section = preview_section("prod-eks", tmp_path / "base" / "render", tmp_path / "head" / "render")
    assert section is not None and section.title == "Policy: fails (1 mandatory violation(s))"
    rows = section.markdown.splitlines()[2:]
    assert any(row.startswith("| mandatory (new) | `service-account-token-not-mounted` |") for row in rows), rows
    assert any(row.startswith("| advisory | `training-on-spot` |") for row in rows), "present at the base: not new"
    assert preview_section("prod-eks", tmp_path / "base" / "render", tmp_path / "absent") is None


def test_a_relative_stacks_dir_is_read_from_where_the_tool_runs(tmp_path, monkeypatch, capsys):
    """The render runs from the project root in a child process: a relative --stacks-dir must still
    mean the caller's directory."""
    shutil.copytree(STACKS_DIR, tmp_path / "mystacks")
    monkeypatch.chdir(tmp_path)
    assert main(["dev-kind", "--stacks-dir", "mystacks"]) == 0, capsys.readouterr().err


def _first(document):
    return document["resources"][0]


# Each edit of a real render (its resources.json, outputs.json or a manifest) and the words of the
# one-line error. Before, most were a TypeError or KeyError traceback in whichever tool read them.
MALFORMED_RENDERS = {
    "resource-not-an-object": (lambda d: d["resources"].__setitem__(0, 1), "resources[0]: expected an object, got 1"),
    "inputs-a-list": (
        lambda d: _first(d).__setitem__("inputs", [1]),
        "resources[0].inputs: expected an object, got [1]",
    ),
    "urn-missing": (lambda d: _first(d).pop("urn"), "resources[0].urn: missing (expected a non-empty string)"),
    "type-a-number": (
        lambda d: _first(d).__setitem__("type", 7),
        "resources[0].type: expected a non-empty string, got 7",
    ),
    "options-missing": (lambda d: _first(d).pop("options"), "resources[0].options: missing (expected an object)"),
    "dependencies-not-strings": (
        lambda d: _first(d).__setitem__("dependencies", [1]),
        "resources[0].dependencies: expected a list of strings, got [1]",
    ),
    "ignore-changes-a-string": (
        lambda d: _first(d)["options"].__setitem__("ignoreChanges", "spec"),
        'resources[0].options.ignoreChanges: expected a list of strings, got "spec"',
    ),
    "timeouts-a-number": (
        lambda d: _first(d)["options"].__setitem__("customTimeouts", {"create": 5}),
        "resources[0].options.customTimeouts: expected an object of strings",
    ),
    "stack-missing": (lambda d: d.pop("stack"), "stack: missing (expected a non-empty string)"),
    "urn-twice": (lambda d: d["resources"].append(_first(d)), "is given twice (first at resources[0])"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_RENDERS))
def test_a_malformed_render_exits_2_with_one_line(rendered_stack, tmp_path, capsys, case):
    """Defects 10 and 13: tools.render.load_render checks the structure every reader relies on, so
    a malformed render is one line naming the file and the field here, in the cost estimate and in
    the preview alike."""
    edit, words = MALFORMED_RENDERS[case]
    render = Render(rendered_stack("dev-kind"))
    edit(render.document)
    render_dir = _write_render(tmp_path, render)
    assert main(["--render", str(render_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"check: {render_dir / 'resources.json'}: "), err
    assert words in err and err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("file_name", "text", "words"),
    [
        ("resources.json", '{"stack": "s", "resources": [], "x": NaN}', "not JSON: NaN is not a JSON number"),
        (
            "resources.json",
            '{"stack": "s", "resources": [], "x": 1e999}',
            "not JSON: the number 1e999 is beyond a double",
        ),
        ("outputs.json", "[1]", "expected an object of stack outputs, got [1]"),
        ("outputs.json", "{", "not JSON"),
        ("manifests/job-x.yaml", "kind: [\n", "not a YAML manifest"),
        ("manifests/job-x.yaml", "- kind\n", "expected a Kubernetes object (a mapping)"),
    ],
    ids=["nan", "infinite-number", "outputs-a-list", "outputs-not-json", "manifest-not-yaml", "manifest-a-list"],
)
def test_a_render_with_a_bad_file_exits_2_naming_it(rendered_stack, tmp_path, capsys, file_name, text, words):
    """The render's other files are read by the cost estimate (outputs) and the preview (manifests)."""
    render_dir = _write_render(tmp_path, Render(rendered_stack("dev-kind")))
    (render_dir / "manifests").mkdir()
    (render_dir / file_name).write_text(text)
    assert main(["--render", str(render_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"check: {render_dir / file_name}: ") and words in err and err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (
            {"image-from-stack-registry": {"enforcementLevel": ["x"]}},
            "image-from-stack-registry.enforcementLevel = ['x']",
        ),
        ({"all": {"enforcementLevel": {"a": 1}}}, "all.enforcementLevel = {'a': 1}"),
    ],
)
def test_a_config_level_that_is_not_text_exits_2(rendered_stack, tmp_path, capsys, config, words):
    """Defect 10: a list as a level was a TypeError (unhashable) traceback."""
    path = tmp_path / "policy-config.json"
    path.write_text(json.dumps(config))
    assert main(["--render", str(rendered_stack("dev-kind").directory), "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"check: {path}: {words}: must be one of advisory, mandatory, disabled\n"
