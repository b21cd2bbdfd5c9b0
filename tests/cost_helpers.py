"""Pricing a copy of a real stack file with one change, for the cost tests of each cloud stack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.rendering import render, stack_document
from tools import cost


def estimate_changed(tmp_path: Path, stack: str, key: str, change: Callable[[dict[str, Any]], None]) -> cost.Estimate:
    """Renders a copy of `stack`'s real stack file with `change` applied to its `key` object."""
    document = stack_document(stack)
    change(document["config"][key])
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    render(stack, tmp_path / "out", stacks_dir=stacks)
    return cost.estimate(tmp_path / "out")
