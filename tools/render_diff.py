"""What a change does to each stack, as Markdown a reviewer reads in a pull request.

    python -m tools.render_diff BASE_DIR HEAD_DIR > preview.md

BASE_DIR and HEAD_DIR each hold one render per stack (`DIR/<stack>/`, as written by
`python -m tools.render <stack> --out DIR/<stack>`), typically of the target branch and of the
pull request. For each stack it lists the resources created, deleted, replaced and updated (with
the input paths that changed, less those under the resource's `ignoreChanges`, which Pulumi does
not apply), then the unified diff of the Kubernetes manifests.

"Replaced" means a changed input falls under the resource's `replaceOnChanges` option; providers
may replace on other changes too, which only a real `pulumi preview` against the cloud can tell.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYMBOLS = {"create": "+", "delete": "-", "replace": "+-", "update": "~"}


@dataclass(frozen=True)
class Change:
    action: str
    type: str
    name: str
    paths: tuple[str, ...] = ()


def changed_paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Property paths (Pulumi's notation: `spec.template.containers[0].image`) whose values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        paths = []
        for key in sorted(set(old) | set(new)):
            child = f"{prefix}.{key}" if prefix else key
            if key not in old or key not in new:
                paths.append(child)
            else:
                paths.extend(changed_paths(old[key], new[key], child))
        return paths
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            path
            for index, (a, b) in enumerate(zip(old, new, strict=True))
            for path in changed_paths(a, b, f"{prefix}[{index}]")
        ]
    return [] if old == new else [prefix or "(value)"]


def _covers(pattern: str, path: str) -> bool:
    """Does a replaceOnChanges pattern (`spec`, `triggers[*]`) cover a changed property path?"""
    pattern_parts = pattern.replace("[*]", ".*").split(".")
    path_parts = path.replace("[", ".").replace("]", "").split(".")
    if len(path_parts) < len(pattern_parts):
        return False
    return all(
        p == "*" or p == q for p, q in zip(pattern_parts, path_parts, strict=False)
    )  # a path may be longer than its pattern


def stack_changes(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> list[Change]:
    old = {resource["urn"]: resource for resource in base}
    new = {resource["urn"]: resource for resource in head}
    changes = [Change("create", new[urn]["type"], new[urn]["name"]) for urn in sorted(new.keys() - old.keys())]
    changes += [Change("delete", old[urn]["type"], old[urn]["name"]) for urn in sorted(old.keys() - new.keys())]
    for urn in sorted(old.keys() & new.keys()):
        before, after = old[urn], new[urn]
        # Pulumi keeps the old value of an input under the new program's ignoreChanges (e.g. a
        # Deployment's spec.replicas, owned by its autoscaler): no change is applied there.
        ignored = after["options"].get("ignoreChanges", [])
        paths = [
            path
            for path in changed_paths(before["inputs"], after["inputs"])
            if not any(_covers(pattern, path) for pattern in ignored)
        ]
        paths += [
            f"(option) {key}" for key in sorted(after["options"]) if before["options"].get(key) != after["options"][key]
        ]
        if not paths:
            continue
        replace_patterns = after["options"].get("replaceOnChanges", [])
        replaced = any(_covers(pattern, path) for pattern in replace_patterns for path in paths)
        changes.append(Change("replace" if replaced else "update", after["type"], after["name"], tuple(paths)))
    return changes


def manifest_diff(base_dir: Path, head_dir: Path) -> str:
    names = sorted({p.name for p in base_dir.glob("*.yaml")} | {p.name for p in head_dir.glob("*.yaml")})
    chunks: list[str] = []
    for name in names:
        before = (base_dir / name).read_text().splitlines(keepends=True) if (base_dir / name).exists() else []
        after = (head_dir / name).read_text().splitlines(keepends=True) if (head_dir / name).exists() else []
        chunks.extend(difflib.unified_diff(before, after, f"base/{name}", f"head/{name}"))
    return "".join(chunks)


def _resources(directory: Path) -> list[dict[str, Any]]:
    path = directory / "resources.json"
    return json.loads(path.read_text())["resources"] if path.exists() else []


def stack_report(stack: str, base_dir: Path, head_dir: Path) -> str:
    changes = stack_changes(_resources(base_dir), _resources(head_dir))
    counts = {action: sum(1 for c in changes if c.action == action) for action in SYMBOLS}
    summary = ", ".join(f"{counts[action]} to {action}" for action in SYMBOLS)
    lines = [f"### `{stack}`: {summary}" if changes else f"### `{stack}`: no changes", ""]
    if changes:
        lines += ["| | resource | type | changed |", "|---|---|---|---|"]
        for change in changes:
            shown = ", ".join(f"`{p}`" for p in change.paths[:6]) + (
                f" and {len(change.paths) - 6} more" if len(change.paths) > 6 else ""
            )
            lines.append(
                f"| `{SYMBOLS[change.action]}` {change.action} | `{change.name}` | `{change.type}` | {shown} |"
            )
        diff = manifest_diff(base_dir / "manifests", head_dir / "manifests")
        if diff:
            lines += [
                "",
                "<details><summary>Kubernetes manifests</summary>",
                "",
                "```diff",
                diff.rstrip("\n"),
                "```",
                "",
                "</details>",
            ]
    return "\n".join(lines) + "\n"


def report(base: Path, head: Path) -> str:
    stacks = sorted({p.name for p in base.iterdir() if p.is_dir()} | {p.name for p in head.iterdir() if p.is_dir()})
    return "## Offline preview\n\n" + "\n".join(stack_report(stack, base / stack, head / stack) for stack in stacks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render_diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("base", type=Path, help="renders of the base, one directory per stack")
    parser.add_argument("head", type=Path, help="renders of the change, one directory per stack")
    args = parser.parse_args(argv)
    sys.stdout.write(report(args.base, args.head))
    return 0


if __name__ == "__main__":
    sys.exit(main())
