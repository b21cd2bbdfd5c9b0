"""Renders stacks with the real render tool, in a separate process per stack (Pulumi's runtime
state is process-global), and gives tests a typed view of the result."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STACKS_DIR = PROJECT_ROOT / "stacks"


def stack_document(stack: str) -> dict[str, Any]:
    return yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())


def raw_config(document: dict[str, Any]) -> dict[str, str]:
    """A stack document's config as the CLI passes it to the program: strings, objects as JSON."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in document["config"].items()}


@dataclass(frozen=True)
class Rendered:
    directory: Path
    resources: list[dict[str, Any]]
    outputs: dict[str, Any]
    manifests: dict[str, dict[str, Any]]
    """File name -> Kubernetes object."""

    def of_type(self, type_token: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == type_token]

    def one(self, type_token: str, name: str | None = None) -> dict[str, Any]:
        matches = [r for r in self.of_type(type_token) if name is None or r["name"] == name]
        assert len(matches) == 1, f"expected one {type_token} {name or ''}, found {[m['name'] for m in matches]}"
        return matches[0]

    def objects(self, kind: str) -> list[dict[str, Any]]:
        return [body for body in self.manifests.values() if body["kind"] == kind]


def render(
    stack: str, out: Path, *, check: bool = True, stacks_dir: Path | None = None, secrets: Path | None = None
) -> subprocess.CompletedProcess:
    """`secrets`: a YAML file of values for the stack's secure keys, as the CLI would decrypt them."""
    extra = ["--stacks-dir", str(stacks_dir)] if stacks_dir else []
    extra += ["--secrets", str(secrets)] if secrets else []
    result = subprocess.run(
        [sys.executable, "-m", "tools.render", stack, "--out", str(out), *extra],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"render {stack} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def load(directory: Path) -> Rendered:
    return Rendered(
        directory=directory,
        resources=json.loads((directory / "resources.json").read_text())["resources"],
        outputs=json.loads((directory / "outputs.json").read_text()),
        manifests={
            path.name: yaml.safe_load(path.read_text()) for path in sorted((directory / "manifests").glob("*.yaml"))
        },
    )


def refused_for(error: pytest.ExceptionInfo[pydantic.ValidationError], *names: str) -> None:
    """The value was refused for one of `names` (a field, or what a model check says about it), not
    as an unknown keyword: a misspelt key raises the same exception type."""
    errors = error.value.errors()
    assert errors and all(e["type"] != "extra_forbidden" for e in errors), errors
    assert any(name in map(str, e["loc"]) or name in e["msg"] for e in errors for name in names), errors
