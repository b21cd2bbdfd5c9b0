"""The repository's lint, format and type-check set-up: the checks are strict enough to catch the
defects they are configured for, the repository passes them, and pre-commit runs the same pinned tools."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"


def _run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line.strip()):
            pins[match[1].lower()] = match[2]
    return pins


def test_the_repository_passes_every_check():
    result = _run("bash", "scripts/code-checks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_test_command_runs_the_checks_before_the_tests():
    script = (ROOT / "scripts" / "test").read_text()
    assert "set -euo pipefail" in script
    assert script.index("bash scripts/code-checks") < script.index("-m pytest")


@pytest.fixture
def scratch_project(tmp_path: Path) -> Path:
    """A copy of the project's tool configuration around one package, to show what it refuses."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "__init__.py").write_text("")
    return tmp_path


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("import subprocess\n\nsubprocess.run(['ls'])\n", "PLW1510"),  # a subprocess whose failure is ignored
        ("def f():\n    try:\n        return 1\n    except Exception:\n        return 0\n", "BLE001"),
        ("import sys\nimport os\n\nprint(os, sys)\n", "I001"),  # unsorted imports
        ("def f(x=[]):\n    return x\n", "B006"),  # a mutable default shared between calls
    ],
)
def test_lint_refuses_what_it_is_configured_for(scratch_project: Path, source: str, rule: str):
    (scratch_project / "components" / "bad.py").write_text(source)
    result = _run(str(VENV_BIN / "ruff"), "check", "--no-fix", "--output-format", "concise", ".", cwd=scratch_project)
    assert result.returncode == 1 and rule in result.stdout, result.stdout


def test_format_check_refuses_unformatted_code(scratch_project: Path):
    (scratch_project / "components" / "bad.py").write_text("x = {  'a':1 }\n")
    assert _run(str(VENV_BIN / "ruff"), "format", "--check", ".", cwd=scratch_project).returncode == 1


def test_type_check_is_strict(scratch_project: Path):
    """An unannotated function and an Optional used as if it were set both fail."""
    (scratch_project / "components" / "bad.py").write_text(
        "def untyped(x):\n    return x\n\n\ndef optional(value: str | None) -> int:\n    return len(value)\n"
    )
    result = _run(str(VENV_BIN / "mypy"), "components", cwd=scratch_project)
    assert result.returncode == 1
    assert "no-untyped-def" in result.stdout and "arg-type" in result.stdout, result.stdout


def test_pre_commit_runs_the_pinned_tools():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    pins = _pins()
    ruff = next(repo for repo in config["repos"] if repo["repo"].endswith("/ruff-pre-commit"))
    assert ruff["rev"] == f"v{pins['ruff']}"
    assert {hook["id"] for hook in ruff["hooks"]} == {"ruff-check", "ruff-format"}
    local = next(repo for repo in config["repos"] if repo["repo"] == "local")
    assert [hook["entry"] for hook in local["hooks"]] == [".venv/bin/mypy"]
    assert _run(str(VENV_BIN / "pre-commit"), "validate-config", ".pre-commit-config.yaml").returncode == 0
