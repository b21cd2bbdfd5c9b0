"""Tier 1: the render tool's own transformations."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.rendering import PROJECT_ROOT
from tools import render


def test_stack_config_is_passed_as_the_cli_passes_it(tmp_path):
    """Strings stay strings, objects become JSON, unqualified keys get the project namespace, and
    secure values (undecryptable without the CLI) become a visible placeholder marked secret."""
    (tmp_path / "Pulumi.s.yaml").write_text(
        yaml.safe_dump(
            {
                "config": {
                    "ml-platform:namespace": "models",
                    "ml-platform:models": [{"name": "m"}],
                    "awaitTraining": False,
                    "aws:region": "eu-west-1",
                    "ml-platform:apiToken": {"secure": "AAABAMRk..."},
                }
            }
        )
    )
    values, secret_keys = render.stack_config("s", tmp_path)
    assert values["ml-platform:namespace"] == "models"
    assert json.loads(values["ml-platform:models"]) == [{"name": "m"}]
    assert values["ml-platform:awaitTraining"] == "false"
    assert values["aws:region"] == "eu-west-1"
    assert values["ml-platform:apiToken"] == render.SECURE_PLACEHOLDER
    assert secret_keys == ["ml-platform:apiToken"]


def test_clean_masks_secrets_and_restores_integers():
    secret = {render.SECRET_SIGNATURE: "1b47061264138c4ac30d75fd1eb44270", "value": "hunter2"}
    cleaned = render.clean({"b": 2.0, "a": [secret, 0.5, {"z": 1.0}]})
    assert cleaned == {"a": ["[secret]", 0.5, {"z": 1}], "b": 2}
    assert list(cleaned) == ["a", "b"]
    assert "hunter2" not in json.dumps(cleaned)


def _stack_file(tmp_path, text: str, name: str = "s"):
    (tmp_path / f"Pulumi.{name}.yaml").write_text(text)
    return name


def _located_error(tmp_path, text: str) -> str:
    stack = _stack_file(tmp_path, text)
    with pytest.raises(render.RenderError) as raised:
        render.stack_config(stack, tmp_path)
    return str(raised.value)


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("config:\n  ml-platform:namespace: [unclosed\n", 3, 1, "YAML syntax error"),
        ("config:\n  a: 1\n b: 2\n", 3, 2, "YAML syntax error"),
        ("config:\n  - ml-platform:namespace: x\n", 2, 3, "config: must be a mapping"),
        ("config: models\n", 1, 9, "config: must be a mapping"),
        ("- config\n", 1, 1, "a stack file is a mapping"),
        ("config:\n  ml-platform:namespace: a\n  ml-platform:namespace: b\n", 3, 3, "given twice (first on line 2)"),
        ("confg:\n  ml-platform:namespace: a\n", 1, 1, "did you mean 'config'?"),
        (
            "config:\n  ml-platform:kubernetesVersion: 1.30\n",
            2,
            34,
            'read as the number 1.3, and this key is text; quote it: "1.30"',
        ),
        ("config:\n  ml-platform:buildOnPreview: yes\n", 2, 31, "write true or false"),
        ("config:\n  ? [a, b]\n  : 1\n", 2, 5, "config keys are text"),
        ("config:\n  ml-platform:models: [{env: {RUN_DATE: 2024-01-01}}]\n", 2, 41, "a YAML date or time"),
        ("config:\n  ml-platform:models: [{env: {BLOB: !!binary aGVsbG8=}}]\n", 2, 37, "a YAML binary value"),
        ("config:\n  ml-platform:models: [{activeDeadlineSeconds: 30:00}]\n", 2, 48, "base 60 like 30:00"),
        ("config:\n  ml-platform:models: [{seed: 017}]\n", 2, 31, "octal like 017"),
    ],
)
def test_a_bad_stack_file_is_one_line_naming_file_line_and_column(tmp_path, text, line, column, words):
    """Syntax errors, a `config:` that is not a mapping, duplicate keys, unknown top-level keys,
    numbers where text is declared, YAML 1.1 booleans and numbers, and YAML types no config value
    can hold (dates, binary): each is one `FILE:LINE:COLUMN: ...` line, never a traceback, and never
    silently read another way than the Pulumi CLI reads it."""
    message = _located_error(tmp_path, text)
    assert message.count("\n") == 0, message
    assert message.startswith(f"{tmp_path / 'Pulumi.s.yaml'}:{line}:{column}: "), message
    assert words in message


def test_the_render_tool_exits_2_with_one_line_for_a_bad_stack_file(tmp_path):
    stack = _stack_file(tmp_path, "config:\n  ml-platform:namespace: 'unterminated\n")
    result = subprocess.run(
        [sys.executable, "-m", "tools.render", stack, "--out", str(tmp_path / "out"), "--stacks-dir", str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"{tmp_path / 'Pulumi.s.yaml'}:3:1: YAML syntax error" in result.stderr
    assert not (tmp_path / "out").exists()


def test_quoted_versions_and_yaml_12_booleans_are_read_as_written(tmp_path):
    stack = _stack_file(
        tmp_path, 'config:\n  ml-platform:kubernetesVersion: "1.30"\n  ml-platform:buildOnPreview: true\n'
    )
    values, _ = render.stack_config(stack, tmp_path)
    assert values["ml-platform:kubernetesVersion"] == "1.30"
    assert values["ml-platform:buildOnPreview"] == "true"


def _previous_render(out):
    (out / "manifests").mkdir(parents=True)
    (out / "resources.json").write_text("{}\n")
    (out / "outputs.json").write_text("{}\n")
    (out / "manifests" / "job-ml-models-old.yaml").write_text("kind: Job\n")


def _render_cli(stack, out, stacks_dir):
    return subprocess.run(
        [sys.executable, "-m", "tools.render", stack, "--out", str(out), "--stacks-dir", str(stacks_dir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_failed_render_removes_the_previous_render_and_says_so(tmp_path):
    """An older render left in --out after a failure would pass for this stack's: it is removed."""
    _previous_render(tmp_path / "out")
    stack = _stack_file(tmp_path, "config: [not, a, mapping]\n")
    result = _render_cli(stack, tmp_path / "out", tmp_path)
    assert result.returncode == 2
    assert not (tmp_path / "out").exists()
    assert f"removed the previous render in {tmp_path / 'out'}" in result.stderr


def test_an_out_directory_that_is_not_a_render_is_refused_and_left_alone(tmp_path):
    """`--out .` or `--out ~` must never be deleted: only a previous render is replaced."""
    out = tmp_path / "work"
    _previous_render(out)
    (out / "notes.txt").write_text("mine\n")
    result = _render_cli("dev-kind", out, PROJECT_ROOT / "stacks")
    assert result.returncode == 2
    assert f"refusing to write {out}: it exists and is not a render (it holds notes.txt)" in result.stderr
    assert (out / "notes.txt").read_text() == "mine\n" and (out / "resources.json").exists()


def test_an_unexpected_failure_also_removes_the_previous_render(tmp_path, monkeypatch, capsys):
    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    _previous_render(tmp_path / "out")
    monkeypatch.setattr(render, "run_program", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        render.main(["dev-kind", "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
    assert "removed the previous render" in capsys.readouterr().err


def test_secrets_file_stands_in_for_the_clis_decryption(tmp_path):
    """`--secrets` replaces the placeholder of a secure key only; the key stays marked secret, and a
    value for a key the stack file does not hold encrypted is an error, not a silent addition."""
    (tmp_path / "Pulumi.s.yaml").write_text(
        yaml.safe_dump({"config": {"ml-platform:token": {"secure": "v1:x"}, "ml-platform:namespace": "models"}})
    )
    values, secret_keys = render.stack_config("s", tmp_path, {"ml-platform:token": "known"})
    assert values["ml-platform:token"] == "known" and secret_keys == ["ml-platform:token"]
    with pytest.raises(render.RenderError, match="ml-platform:namespace"):
        render.stack_config("s", tmp_path, {"ml-platform:namespace": "other"})


def test_manifests_keep_a_secret_mappings_keys_and_mask_its_values():
    secret = {render.SECRET_SIGNATURE: "1b47061264138c4ac30d75fd1eb44270", "value": {".dockerconfigjson": "e30="}}
    assert render.clean({"data": secret}, keep_keys=True) == {"data": {".dockerconfigjson": "[secret]"}}
    assert render.clean({"data": secret}) == {"data": "[secret]"}


def _render_main(capsys, *args: str) -> tuple[int, str]:
    """The render tool's entry point in this process; (exit status, stderr)."""
    status = render.main(list(args))
    return status, capsys.readouterr().err


def _bad_input(tmp_path, case: str) -> list[str]:
    """The arguments that give the render a bad --out or --secrets (`case`)."""
    (tmp_path / "afile").write_text("not a directory\n")
    (tmp_path / "bad.yaml").write_text("a: [\n")
    (tmp_path / "twice.yaml").write_text("ml-platform:token: a\nml-platform:token: b\n")
    (tmp_path / "list.yaml").write_text("- ml-platform:token\n")
    out = ["--out", str(tmp_path / "out")]
    return {
        "out-under-a-file": ["--out", str(tmp_path / "afile" / "sub")],
        "out-is-a-file": ["--out", str(tmp_path / "afile")],
        "secrets-missing": [*out, "--secrets", str(tmp_path / "nosuch.yaml")],
        "secrets-not-yaml": [*out, "--secrets", str(tmp_path / "bad.yaml")],
        "secrets-a-directory": [*out, "--secrets", str(tmp_path)],
        "secrets-key-twice": [*out, "--secrets", str(tmp_path / "twice.yaml")],
        "secrets-not-a-mapping": [*out, "--secrets", str(tmp_path / "list.yaml")],
    }[case]


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("out-under-a-file", "afile is not a directory"),
        ("out-is-a-file", "it is a file, not a render directory"),
        ("secrets-missing", "nosuch.yaml: cannot read it: No such file or directory"),
        ("secrets-not-yaml", "bad.yaml:2:1: YAML syntax error"),
        ("secrets-a-directory", "cannot read it: Is a directory"),
        ("secrets-key-twice", "twice.yaml:2:1: key 'ml-platform:token' is given twice"),
        ("secrets-not-a-mapping", "expected a YAML mapping of full config keys to string values"),
    ],
)
def test_a_bad_out_or_secrets_is_one_line_before_anything_renders(tmp_path, capsys, case, words):
    """Defect 7: each was a traceback (`--out` under a file only after the whole render). The stack
    here does not exist: that the message is about --out/--secrets shows they are checked first."""
    status, err = _render_main(capsys, "no-such-stack", *_bad_input(tmp_path, case))
    assert status == 2
    assert err.startswith("render no-such-stack: ") and err.count("\n") == 1, err
    assert words in err


def test_a_bad_out_under_a_file_gives_one_line_from_the_command_line(tmp_path):
    """The same through the real command line, on a real stack: exit 2, no traceback, no render."""
    (tmp_path / "file").write_text("x\n")
    out = tmp_path / "file" / "sub"
    result = _render_cli("dev-kind", out, PROJECT_ROOT / "stacks")
    assert result.returncode == 2
    assert result.stderr == f"render dev-kind: cannot write {out}: {tmp_path / 'file'} is not a directory\n"
    assert not result.stdout and (tmp_path / "file").read_text() == "x\n"


def _failing_render_args(tmp_path, failure: str) -> list[str]:
    """Arguments of a render of a stack in `tmp_path` that fails with `failure`, into tmp_path/out."""
    _stack_file(tmp_path, yaml.safe_dump({"config": {"ml-platform:token": {"secure": "v1:x"}}}))
    _stack_file(tmp_path, "config: [not, a, mapping]\n", name="broken")
    (tmp_path / "bad.yaml").write_text("a: [\n")
    (tmp_path / "other-key.yaml").write_text("ml-platform:namespace: other\n")
    common = ["--out", str(tmp_path / "out"), "--stacks-dir", str(tmp_path)]
    return {
        "unknown-stack": ["no-such-stack", *common],
        "bad-stack-file": ["broken", *common],
        "secrets-missing": ["s", *common, "--secrets", str(tmp_path / "nosuch.yaml")],
        "secrets-not-yaml": ["s", *common, "--secrets", str(tmp_path / "bad.yaml")],
        "secrets-for-a-plain-key": ["s", *common, "--secrets", str(tmp_path / "other-key.yaml")],
    }[failure]


@pytest.mark.parametrize(
    "failure", ["unknown-stack", "bad-stack-file", "secrets-missing", "secrets-not-yaml", "secrets-for-a-plain-key"]
)
def test_every_failed_render_removes_the_previous_render_and_says_so(tmp_path, capsys, failure):
    """Defect 8: a bad --secrets kept the old render, looking current, where an unknown stack removed
    it. Whatever fails, the previous render goes, and the user is told."""
    _previous_render(tmp_path / "out")
    args = _failing_render_args(tmp_path, failure)
    status, err = _render_main(capsys, *args)
    assert status == 2
    assert not (tmp_path / "out").exists()
    message, removed = err.splitlines()
    assert message.startswith(f"render {args[0]}: "), message
    assert removed == (
        f"render {args[0]}: removed the previous render in {tmp_path / 'out'}: it was not made from this stack file"
    )


def test_load_render_refuses_a_urn_given_twice(rendered_stack, tmp_path):
    """Defect 13: a resource listed twice was counted twice by the cost estimate; every reader of a
    render goes through load_render, which names the URN."""
    document = json.loads((rendered_stack("dev-kind").directory / "resources.json").read_text())
    assert render.load_render(rendered_stack("dev-kind").directory) == document, "a real render loads as written"
    twice = document["resources"][3]
    document["resources"].append(twice)
    (tmp_path / "resources.json").write_text(json.dumps(document))
    with pytest.raises(render.RenderError) as raised:
        render.load_render(tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'resources.json'}: resources[{len(document['resources']) - 1}].urn: ")
    assert f"{twice['urn']} is given twice (first at resources[3])" in message and "\n" not in message


COMMAND_LINE_TOOLS = sorted(
    path.stem
    for path in (PROJECT_ROOT / "tools").glob("*.py")
    if re.search(r'^if __name__ == "__main__":$', path.read_text(), re.MULTILINE)
)


def _run_tool(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("tool", COMMAND_LINE_TOOLS)
def test_every_tool_runs_as_a_script_and_as_a_module(tool, tmp_path):
    """The docs name the tools both ways (`tools/render.py`, `python -m tools.render`); as a script
    each crashed with ModuleNotFoundError. Both give the same help, the script from any directory."""
    as_module = _run_tool([sys.executable, "-m", f"tools.{tool}", "--help"], PROJECT_ROOT)
    as_script = _run_tool([sys.executable, str(PROJECT_ROOT / "tools" / f"{tool}.py"), "--help"], tmp_path)
    assert as_module.returncode == 0, as_module.stderr
    assert as_script.returncode == 0, as_script.stderr
    assert as_script.stdout == as_module.stdout and as_script.stdout.startswith("usage: ")


def test_a_tool_run_as_a_script_does_its_work_and_keeps_its_exit_status(tmp_path):
    script = str(PROJECT_ROOT / "tools" / "stacks.py")
    as_script = _run_tool([sys.executable, script, "--matrix"], tmp_path)
    as_module = _run_tool([sys.executable, "-m", "tools.stacks", "--matrix"], PROJECT_ROOT)
    assert (as_script.returncode, as_script.stdout) == (0, as_module.stdout)
    refused = _run_tool([sys.executable, script, "--stacks-dir", str(tmp_path / "none")], tmp_path)
    assert refused.returncode == 2 and refused.stderr.startswith("stacks: ") and "Traceback" not in refused.stderr
