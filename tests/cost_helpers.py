"""Pricing a copy of a real stack file with one change, for the cost tests of each cloud stack."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.rendering import Rendered, render, stack_document
from tools import cost


def estimate_changed(tmp_path: Path, stack: str, key: str, change: Callable[[dict[str, Any]], None]) -> cost.Estimate:
    """Renders a copy of `stack`'s real stack file with `change` applied to its `key` object."""
    return estimate_config_changed(tmp_path, stack, lambda config: change(config[key]))


def estimate_config_changed(
    tmp_path: Path, stack: str, change: Callable[[dict[str, Any]], None], *, new_name: str | None = None
) -> cost.Estimate:
    """Renders a copy of `stack`'s real stack file, saved as stack `new_name` (default: the same
    name), with `change` applied to its whole `config` mapping."""
    document = stack_document(stack)
    change(document["config"])
    stack = new_name or stack
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    render(stack, tmp_path / "out", stacks_dir=stacks)
    return cost.estimate(tmp_path / "out")


def render_copy(
    tmp_path: Path,
    rendered: Rendered,
    change: Callable[[list[dict[str, Any]]], None] = lambda resources: None,
    outputs_text: str | None = None,
) -> Path:
    """A copy of a real render with `change` applied to its resources and, if given, outputs.json
    replaced by `outputs_text`: the cost tool's input as a pull request could shape it."""
    resources = copy.deepcopy(rendered.resources)
    change(resources)
    out = tmp_path / "render"
    out.mkdir()
    stack = json.loads((rendered.directory / "resources.json").read_text())["stack"]
    (out / "resources.json").write_text(json.dumps({"stack": stack, "resources": resources}))
    (out / "outputs.json").write_text(json.dumps(rendered.outputs) if outputs_text is None else outputs_text)
    return out


def named(resources: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [resource for resource in resources if resource["name"] == name]
    return found


def duplicate(resources: list[dict[str, Any]], name: str, new_name: str) -> dict[str, Any]:
    """Appends a copy of the resource `name` as `new_name` (its URN renamed too), as a stack with
    one more of it would render, and returns the copy."""
    copied = copy.deepcopy(named(resources, name))
    copied["name"] = new_name
    copied["urn"] = copied["urn"].rsplit("::", 1)[0] + "::" + new_name
    resources.append(copied)
    return copied
