"""Each stack imports only its own cloud's SDK: measured with `python -X importtime` on the real
program of each stack (rendered in a fresh process), which lists every module actually imported."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.rendering import PROJECT_ROOT

CLOUD_SDKS = {"pulumi_aws", "pulumi_eks", "pulumi_gcp"}
# "import time: <self us> | <cumulative us> | <indented module name>"
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \| *(\S+)$")


def imported_sdks(stack: str) -> set[str]:
    """The cloud SDKs (top-level packages) the stack's program imports, submodules included."""
    probe = f"from tools import render\nrender.run_program({stack!r})\n"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    modules = [match.group(1) for line in result.stderr.splitlines() if (match := IMPORT_LINE.match(line))]
    assert len(modules) > 100, "python -X importtime printed no import table"
    return {module.split(".")[0] for module in modules} & CLOUD_SDKS


@pytest.mark.parametrize(
    ("stack", "expected"),
    [("dev-kind", set()), ("prod-eks", {"pulumi_aws", "pulumi_eks"}), ("prod-gke", {"pulumi_gcp"})],
)
def test_a_stack_imports_its_own_cloud_sdk_and_no_other(stack, expected):
    imported = imported_sdks(stack)
    assert imported == expected, f"{stack} imported {sorted(imported)}"
