"""The GitHub workflow is valid (schema and actionlint, offline) and its preview script works."""

from __future__ import annotations

import subprocess

import pytest

from tests.rendering import PROJECT_ROOT
from tools.render import known_stacks

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "ci.yml"
SCAN_BIN = PROJECT_ROOT / ".venv-scan" / "bin"


def _run(*command: str, cwd=PROJECT_ROOT, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.parametrize(
    "command",
    [
        ("check-jsonschema", "--builtin-schema", "vendor.github-workflows"),
        # actionlint catches unknown action inputs, undefined expressions and script injection.
        ("actionlint",),
    ],
    ids=["schema", "actionlint"],
)
def test_workflow_is_valid(command):
    tool = SCAN_BIN / command[0]
    assert tool.exists(), f"{command[0]} is missing: run ./scripts/test, which installs it into .venv-scan"
    result = _run(str(tool), *command[1:], str(WORKFLOW))
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_runs_the_readme_test_command():
    text = WORKFLOW.read_text()
    assert "run: ./scripts/test" in text and "./scripts/preview-diff" in text


def test_preview_script_previews_every_stack_against_a_commit():
    """scripts/preview-diff renders each stack at a base commit and at the working tree and
    prints one section per stack (what changed is tested in tests/test_render_diff.py)."""
    worktrees_before = _run("git", "worktree", "list").stdout
    result = _run("bash", "scripts/preview-diff", "HEAD", timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("## Offline preview")
    for stack in known_stacks():
        assert f"### `{stack}`" in result.stdout
    worktrees = _run("git", "worktree", "list").stdout
    assert worktrees == worktrees_before, f"the base worktree was not removed:\n{worktrees}"
