"""Tier 3: a security scanner (checkov) finds nothing in what the stacks declare or the images build.

checkov lives in its own virtualenv (`.venv-scan`, made by `scripts/test`) because its pins
conflict with the program's. Findings that do not apply are skipped in the file they concern,
with the reason beside them (see images/*/Dockerfile)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.rendering import PROJECT_ROOT
from tools.render import known_stacks

CHECKOV = PROJECT_ROOT / ".venv-scan" / "bin" / "checkov"
STACKS = known_stacks()


def checkov(framework: str, directory) -> dict:
    assert CHECKOV.exists(), "checkov is missing: run ./scripts/test, which installs it into .venv-scan"
    # --skip-download: no network; without it checkov tries to fetch its guidelines and prints a traceback.
    result = subprocess.run(
        [
            str(CHECKOV),
            "--skip-download",
            "--framework",
            framework,
            "-d",
            str(directory),
            "--output",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    return {
        "passed": sum(r["summary"]["passed"] for r in reports),
        "failed": [
            f"{c['check_id']} {c['resource']} ({c['file_path']})"
            for r in reports
            for c in r["results"]["failed_checks"]
        ],
    }


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_manifests_pass_checkov(rendered_stack, stack):
    result = checkov("kubernetes", rendered_stack(stack).directory / "manifests")
    assert result["failed"] == [], "\n".join(result["failed"])
    assert result["passed"] > 100, "checkov checked too little: did it read the manifests?"


def test_dockerfiles_pass_checkov():
    result = checkov("dockerfile", PROJECT_ROOT / "images")
    assert result["failed"] == [], "\n".join(result["failed"])
    assert result["passed"] > 50
