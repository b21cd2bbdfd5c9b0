"""What a change does to each stack, as Markdown a reviewer reads in a pull request.

    python -m tools.render_diff BASE_DIR HEAD_DIR [--section MODULE:FUNCTION ...] [--max-chars N] > preview.md

BASE_DIR and HEAD_DIR each hold one render per stack (`DIR/<stack>/`, as written by
`python -m tools.render <stack> --out DIR/<stack>`), typically of the target branch and of the
pull request. For each stack it says in words what the change means (images rebuilt, new training
runs, Deployments that roll or scale), lists the resources created, deleted, replaced and updated
with each changed input as `path: old → new` (secrets masked; inputs under the resource's
`ignoreChanges`, which Pulumi does not apply, are left out), then the unified diff of the
Kubernetes manifests.

This is an offline approximation of `pulumi preview`: the renders come from mocks, so values the
cloud computes (IDs, ARNs, digests) are invented, and "replace" is predicted from the resource's
`replaceOnChanges` option and from the providers' replace-on-change inputs listed, with their
sources, in tools/provider_replacements.py. Only a real `pulumi preview` with credentials is the
provider's word.

Other tools add sections without this module importing them: `--section MODULE:FUNCTION` (or
`report(..., sections=[...])`) calls `FUNCTION(stack, base_dir, head_dir)` for every stack and
places the `Section` it returns (or nothing, for None) under that stack's changes. That is the
seam for the policy violations (tools.check) and cost (tools.cost) sections.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools import provider_replacements, render
from tools.pr_comment import truncate
from tools.render import SECRET_PLACEHOLDER, SECURE_PLACEHOLDER

SYMBOLS = {"create": "+", "delete": "-", "replace": "+-", "update": "~"}
MASK = SECRET_PLACEHOLDER
SHOWN_PATHS = 8
"""Changed inputs listed per resource; the rest are counted."""
VALUE_CHARS = 100
"""Longest value shown in full; longer ones keep their start and end."""
_DIGEST = re.compile(r"(sha256:[0-9a-f]{12})[0-9a-f]{52}")
"""Image digests are shown by their first 12 hex digits, as `docker images` does."""

DISCLAIMER = (
    "> Offline approximation of `pulumi preview`, rendered under mocks with no cloud access: "
    "values the cloud computes (IDs, ARNs, digests) are the mocks', a changed secret cannot be seen, "
    "and **replace** is predicted from each resource's `replaceOnChanges` and the providers' "
    "replace-on-change inputs (`tools/provider_replacements.py`). The preview with credentials is the "
    "provider's word."
)

JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET = "kubernetes:core/v1:Secret"  # noqa: S105 - a type token, not a secret
DOCKER_IMAGES = ("docker:index/image:Image", "docker-build:index:Image")
IMAGE_COMPONENT = "ml-platform:image:Image"


@dataclass(frozen=True)
class ValueChange:
    path: str
    old: Any
    new: Any
    added: bool = False
    removed: bool = False


@dataclass(frozen=True)
class Change:
    action: str
    type: str
    name: str
    paths: tuple[str, ...] = ()
    values: tuple[ValueChange, ...] = ()
    replace_reasons: tuple[str, ...] = ()
    """Why it is replaced: the `replaceOnChanges` pattern or provider rule that matched."""
    delete_first: bool = False
    before: dict[str, Any] = field(default_factory=dict, compare=False)
    after: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Section:
    """A block another tool adds under a stack's changes (policy violations, cost)."""

    title: str
    markdown: str


SectionProvider = Callable[[str, Path, Path], Section | None]
"""(stack, base render dir, head render dir) -> the stack's section, or None to add nothing."""


def value_changes(old: Any, new: Any, prefix: str = "") -> list[ValueChange]:
    """Every leaf that differs, with Pulumi's property paths (`spec.template.containers[0].image`)."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for key in sorted(set(old) | set(new)):
            child = f"{prefix}.{key}" if prefix else key
            if key not in old:
                changes.append(ValueChange(child, None, new[key], added=True))
            elif key not in new:
                changes.append(ValueChange(child, old[key], None, removed=True))
            else:
                changes.extend(value_changes(old[key], new[key], child))
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            change
            for index, (a, b) in enumerate(zip(old, new, strict=True))
            for change in value_changes(a, b, f"{prefix}[{index}]")
        ]
    return [] if old == new else [ValueChange(prefix or "(value)", old, new)]


def changed_paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Property paths (Pulumi's notation: `spec.template.containers[0].image`) whose values differ."""
    return [change.path for change in value_changes(old, new, prefix)]


def _covers(pattern: str, path: str) -> bool:
    """Does a replaceOnChanges pattern (`spec`, `triggers[*]`) cover a changed property path?"""
    pattern_parts = pattern.replace("[*]", ".*").split(".")
    path_parts = path.replace("[", ".").replace("]", "").split(".")
    if len(path_parts) < len(pattern_parts):
        return False
    return all(
        p == "*" or p == q for p, q in zip(pattern_parts, path_parts, strict=False)
    )  # a path may be longer than its pattern


def replace_reasons(type_token: str, replace_on_changes: Sequence[str], paths: Sequence[str]) -> list[str]:
    """Why a change replaces the resource, one line per matching pattern (empty: an update)."""
    reasons = [
        f"`replaceOnChanges: {pattern}`"
        for pattern in replace_on_changes
        if any(_covers(pattern, path) for path in paths)
    ]
    for rule in provider_replacements.rules_for(type_token):
        matched = [pattern for pattern in rule.paths if any(_covers(pattern, path) for path in paths)]
        reasons += [f"provider replaces on `{pattern}`" for pattern in matched]
    return reasons


def _masked(type_token: str, change: ValueChange) -> ValueChange:
    """Secrets never reach the preview in clear: the render masks secret outputs, and a Kubernetes
    Secret's data is masked here in case a program forgot to mark it secret."""
    secret_data = type_token == SECRET and change.path.split(".")[0].split("[")[0] in ("data", "stringData")
    if not secret_data:
        return change
    return ValueChange(
        change.path,
        None if change.added else MASK,
        None if change.removed else MASK,
        added=change.added,
        removed=change.removed,
    )


def stack_changes(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> list[Change]:
    old = {resource["urn"]: resource for resource in base}
    new = {resource["urn"]: resource for resource in head}
    changes = [
        Change("create", new[urn]["type"], new[urn]["name"], after=new[urn]) for urn in sorted(new.keys() - old.keys())
    ]
    changes += [
        Change("delete", old[urn]["type"], old[urn]["name"], before=old[urn]) for urn in sorted(old.keys() - new.keys())
    ]
    for urn in sorted(old.keys() & new.keys()):
        before, after = old[urn], new[urn]
        # Pulumi keeps the old value of an input under the new program's ignoreChanges (e.g. a
        # Deployment's spec.replicas, owned by its autoscaler): no change is applied there.
        ignored = after["options"].get("ignoreChanges", [])
        values = [
            _masked(after["type"], change)
            for change in value_changes(before["inputs"], after["inputs"])
            if not any(_covers(pattern, change.path) for pattern in ignored)
        ]
        options = [
            ValueChange(f"(option) {key}", before["options"].get(key), after["options"][key])
            for key in sorted(after["options"])
            if before["options"].get(key) != after["options"][key]
        ]
        if not values and not options:
            continue
        input_paths = [change.path for change in values]
        reasons = replace_reasons(after["type"], after["options"].get("replaceOnChanges", []), input_paths)
        changes.append(
            Change(
                "replace" if reasons else "update",
                after["type"],
                after["name"],
                paths=tuple(input_paths + [change.path for change in options]),
                values=tuple(values + options),
                replace_reasons=tuple(reasons),
                delete_first=bool(reasons) and bool(after["options"].get("deleteBeforeReplace")),
                before=before,
                after=after,
            )
        )
    return changes


def _short(text: str, limit: int = VALUE_CHARS) -> str:
    text = _DIGEST.sub(r"\1…", text)
    if len(text) <= limit:
        return text
    head = (limit - 1) // 3
    return text[:head] + "…" + text[-(limit - 1 - head) :]


def format_value(value: Any) -> str:
    if value in (SECRET_PLACEHOLDER, SECURE_PLACEHOLDER, MASK):
        return MASK
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(", ", ": "))
    return _short(text)


def _cell(text: str) -> str:
    """Markdown-safe inside a table cell and a code span."""
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")


def format_change(change: ValueChange) -> str:
    """`spec.replicas`: `2` → `3`."""
    path = f"`{_cell(change.path)}`"
    if change.added:
        return f"{path}: (none) → `{_cell(format_value(change.new))}`"
    if change.removed:
        return f"{path}: `{_cell(format_value(change.old))}` → (none)"
    return f"{path}: `{_cell(format_value(change.old))}` → `{_cell(format_value(change.new))}`"


def _changes_cell(change: Change) -> str:
    lines = [format_change(value) for value in change.values[:SHOWN_PATHS]]
    if len(change.values) > SHOWN_PATHS:
        lines.append(f"and {len(change.values) - SHOWN_PATHS} more")
    if change.replace_reasons:
        lines.append("**replaced because** " + ", ".join(dict.fromkeys(change.replace_reasons)))
    return "<br>".join(lines)


# --- What the change means, in words -------------------------------------------------------------


def _parent_name(resource: dict[str, Any], parent_type: str) -> str | None:
    parent = resource.get("parent") or ""
    if f"${parent_type}::" in parent or f"::{parent_type}::" in parent:
        return str(parent.rsplit("::", 1)[-1])
    return None


def _image_name(resource: dict[str, Any]) -> str:
    return _parent_name(resource, IMAGE_COMPONENT) or str(resource["name"]).removesuffix("-build")


def _tag(image_name: str) -> str:
    tail = image_name.rsplit("/", 1)[-1]
    return tail.split(":", 1)[1] if ":" in tail else image_name


def _repository(reference: str) -> str:
    """`host:port/name:tag` or `host:port/name@sha256:...` -> `host:port/name`."""
    name = reference.split("@", 1)[0]
    path, _, last = name.rpartition("/")
    return f"{path}/{last.split(':', 1)[0]}" if path else last.split(":", 1)[0]


def _containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    spec = resource.get("inputs", {}).get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", []))


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {item.get("name"): item.get("value") for item in container.get("env", [])}


def _rebuilt_images(changes: Sequence[Change]) -> list[tuple[str, str, str]]:
    """(image, old tag, new tag) for every built image whose build or tag changed."""
    rebuilt = []
    for change in changes:
        if change.type in DOCKER_IMAGES and change.action in ("update", "replace"):
            old = str(change.before["inputs"].get("imageName", ""))
            new = str(change.after["inputs"].get("imageName", ""))
            rebuilt.append((_image_name(change.after), _tag(old), _tag(new)))
    return rebuilt


def _images_in(changes: Sequence[Change], rebuilt: Sequence[tuple[str, str, str]]) -> dict[str, str]:
    """Repository (as workloads reference it) -> image name, for the rebuilt images."""
    names = {name for name, _, _ in rebuilt}
    repositories = {}
    for change in changes:
        if change.type in DOCKER_IMAGES and _image_name(change.after) in names:
            repositories[_repository(str(change.after["inputs"].get("imageName", "")))] = _image_name(change.after)
    return repositories


def _workload_reasons(change: Change, repositories: dict[str, str]) -> list[str]:
    """Why a Job's or Deployment's pods change: which image, which environment variable."""
    reasons = []
    before, after = _containers(change.before), _containers(change.after)
    for old, new in zip(before, after, strict=False):
        if old.get("image") != new.get("image"):
            image = repositories.get(_repository(str(new.get("image", ""))))
            reasons.append(f"image `{image}` rebuilt" if image else f"container `{new.get('name')}` image changed")
        if old.get("args") != new.get("args"):
            reasons.append(f"container `{new.get('name')}` arguments changed")
        if old.get("resources") != new.get("resources"):
            reasons.append(f"container `{new.get('name')}` resources changed")
        old_env, new_env = _env(old), _env(new)
        for key in sorted(set(old_env) | set(new_env)):
            if old_env.get(key) != new_env.get(key):
                old_value, new_value = _cell(format_value(old_env.get(key))), _cell(format_value(new_env.get(key)))
                reasons.append(f"`{key}` `{old_value}` → `{new_value}`")
    if len(before) != len(after):
        reasons.append("containers added or removed")
    other = [path for path in change.paths if path.startswith("spec.template") and not _is_container_image_or_env(path)]
    if other and not reasons:
        reasons.append("pod template changed")
    return reasons


def _is_container_image_or_env(path: str) -> bool:
    parts = path.split(".")
    return (
        len(parts) >= 5
        and parts[3].startswith("containers[")
        and parts[4].startswith(("image", "env", "args", "resources"))
    )


NODE_POOLS = ("aws:eks/nodeGroup:NodeGroup", "gcp:container/nodePool:NodePool")


def _job_lines(change: Change, repositories: dict[str, str]) -> list[str]:
    if change.action == "create":
        return [f"Job `{change.name}` is created: a training run starts."]
    if change.action != "replace":
        return []
    old_name = change.before["inputs"].get("metadata", {}).get("name")
    new_name = change.after["inputs"].get("metadata", {}).get("name")
    why = _workload_reasons(change, repositories)
    if old_name != new_name:
        return [
            f"Job `{change.name}` is replaced by a **new training run** (`{old_name}` → `{new_name}`)"
            + (f": {', '.join(why)}" if why else "")
            + ". It trains from scratch; the old run's artifacts stay where they are."
        ]
    return [
        f"Job `{change.name}` is replaced with the same run (`{new_name}`): it resumes from the run's "
        "checkpoints or finished model" + (f" ({', '.join(why)})." if why else ".")
    ]


def _deployment_lines(change: Change, repositories: dict[str, str]) -> list[str]:
    if change.action not in ("update", "replace"):
        return []
    lines = []
    if any(path.startswith("spec.template") for path in change.paths):
        why = _workload_reasons(change, repositories)
        verb = "is replaced" if change.action == "replace" else "rolls (new pods, old ones drained)"
        lines.append(f"Deployment `{change.name}` {verb}" + (f": {', '.join(why)}." if why else "."))
    scale = next((value for value in change.values if value.path == "spec.replicas"), None)
    if scale is not None:
        lines.append(f"Deployment `{change.name}` scales from {scale.old} to {scale.new} replicas.")
    return lines


def _replaced_lines(change: Change) -> list[str]:
    """Replacements that are not training runs: what a reviewer must not miss."""
    if change.action != "replace" or change.type == JOB:
        return []
    what = ", ".join(format_change(value) for value in change.values[:3])
    if change.type in NODE_POOLS:
        line = (
            f"Node group `{change.name}` is **replaced** ({what}): new nodes are created and the old group "
            "deleted, so pods on it are rescheduled."
        )
    else:
        line = f"`{change.name}` (`{change.type}`) is **replaced** ({what})."
    if change.after.get("options", {}).get("protect"):
        line += " It is protected: the update fails until `protect` is lifted."
    return [line]


def summary(changes: Sequence[Change]) -> list[str]:
    """What the change means, in words: images rebuilt, training runs, Deployments that roll or
    scale, and other replacements (empty when none of these happen)."""
    rebuilt = _rebuilt_images(changes)
    repositories = _images_in(changes, rebuilt)
    lines = [
        f"Image `{name}` is rebuilt and pushed: its build context changed (tag `{old_tag}` → `{new_tag}`)."
        for name, old_tag, new_tag in rebuilt
    ]
    lines += [line for change in changes if change.type == JOB for line in _job_lines(change, repositories)]
    lines += [
        line for change in changes if change.type == DEPLOYMENT for line in _deployment_lines(change, repositories)
    ]
    lines += [line for change in changes for line in _replaced_lines(change)]
    return lines


# --- Markdown --------------------------------------------------------------------------------------


def manifest_diff(base_dir: Path, head_dir: Path) -> str:
    names = sorted({p.name for p in base_dir.glob("*.yaml")} | {p.name for p in head_dir.glob("*.yaml")})
    chunks: list[str] = []
    for name in names:
        before = _manifest_lines(base_dir / name)
        after = _manifest_lines(head_dir / name)
        chunks.extend(difflib.unified_diff(before, after, f"base/{name}", f"head/{name}"))
    return "".join(chunks)


def _manifest_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    text = path.read_text()
    body = yaml.safe_load(text)
    if isinstance(body, dict) and body.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if isinstance(body.get(key), dict):
                body[key] = dict.fromkeys(body[key], MASK)
        text = yaml.safe_dump(body, sort_keys=True)
    return text.splitlines(keepends=True)


def _resources(directory: Path) -> list[dict[str, Any]]:
    """A stack's resources at one side; none where the stack is not rendered there (created or deleted)."""
    return list(render.load_render(directory)["resources"]) if render.is_render(directory) else []


def stack_report(stack: str, base_dir: Path, head_dir: Path, sections: Sequence[SectionProvider] = ()) -> str:
    changes = stack_changes(_resources(base_dir), _resources(head_dir))
    counts = {action: sum(1 for c in changes if c.action == action) for action in SYMBOLS}
    headline = ", ".join(f"{counts[action]} to {action}" for action in SYMBOLS)
    lines = [f"### `{stack}`: {headline}" if changes else f"### `{stack}`: no changes"]
    if changes:
        meaning = summary(changes)
        if meaning:
            lines += ["", *(f"- {line}" for line in meaning)]
        lines += ["", "| | resource | type | changes |", "|---|---|---|---|"]
        for change in changes:
            action = change.action + (" (delete first)" if change.delete_first else "")
            lines.append(
                f"| `{SYMBOLS[change.action]}` {action} | `{change.name}` | `{change.type}` | {_changes_cell(change)} |"
            )
    for provider in sections:
        section = provider(stack, base_dir, head_dir)
        if section is not None:
            lines += ["", f"#### {section.title}", "", section.markdown.rstrip("\n")]
    if changes:
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


def report(base: Path, head: Path, sections: Sequence[SectionProvider] = ()) -> str:
    stacks = sorted({p.name for p in base.iterdir() if p.is_dir()} | {p.name for p in head.iterdir() if p.is_dir()})
    body = "\n".join(stack_report(stack, base / stack, head / stack, sections) for stack in stacks)
    return f"## Offline preview\n\n{DISCLAIMER}\n\n{body}"


def load_section(spec: str) -> SectionProvider:
    """`package.module:function` -> the function (imported only when asked for)."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"--section {spec!r}: expected MODULE:FUNCTION, e.g. tools.cost:preview_section")
    provider: SectionProvider = getattr(importlib.import_module(module_name), function_name)
    return provider


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render_diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("base", type=Path, help="renders of the base, one directory per stack")
    parser.add_argument("head", type=Path, help="renders of the change, one directory per stack")
    parser.add_argument(
        "--section",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="add a per-stack section from FUNCTION(stack, base_dir, head_dir) -> Section | None",
    )
    parser.add_argument("--max-chars", type=int, default=0, help="cut the Markdown to this many characters (0: no cut)")
    parser.add_argument("--full-url", default="", help="where the full Markdown is, named in the cut note")
    args = parser.parse_args(argv)
    markdown = report(args.base, args.head, [load_section(spec) for spec in args.section])
    if args.max_chars:
        markdown = truncate(markdown, args.max_chars, args.full_url)
    sys.stdout.write(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
