"""What a change does to each stack, as Markdown a reviewer reads in a pull request.

    python -m tools.render_diff BASE_DIR HEAD_DIR [--section MODULE:FUNCTION ...] [--max-chars N] > preview.md

BASE_DIR and HEAD_DIR each hold one render per stack (`DIR/<stack>/`, as written by
`python -m tools.render <stack> --out DIR/<stack>`), typically of the target branch and of the
pull request. For each stack it says in words what the change means (images rebuilt, new training
runs, Deployments that roll or scale), lists the resources created, deleted, replaced and updated
with each changed input as `path: old → new` (secrets masked; inputs under the resource's
`ignoreChanges`, which Pulumi does not apply, are left out), then the unified diff of the
Kubernetes manifests. As Pulumi does, a resource is matched to its old state through its
`aliases` (and a child through its parent's), so a rename with an alias is not a delete and a
create, and a resource whose provider is another provider resource is replaced. Under the changes,
a "Warnings" section lists what the program warns about at HEAD (the render's warnings.json: an API
endpoint or load balancer open to the internet, a GPU request that runs on CPU), each warning new
since BASE marked **new**, and those BASE had and HEAD no longer has as resolved.

Everything taken from a render (names, types, values, manifest lines) is shown as code, so that it
cannot end a table cell or reach the comment as Markdown or HTML. BASE or HEAD missing or itself a
render, a `--section` that names no function, or a render that cannot be read is one line on stderr
naming the argument or the file, and exit code 2.

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

if __name__ == "__main__" and not __package__:  # `python tools/X.py`: run as `python -m tools.X`
    import _as_module  # type: ignore[import-not-found]  # noqa: F401 - never returns (tools/_as_module.py)

import argparse
import difflib
import importlib
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from tools import provider_replacements, render
from tools.markdown import code as md_code
from tools.markdown import text as md_text
from tools.pr_comment import LimitError, truncate
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
        md_code(f"replaceOnChanges: {pattern}", in_table=True)
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


def _split_urn(urn: str) -> list[str]:
    """`urn:pulumi:STACK::PROJECT::QUALIFIED_TYPE::NAME` -> its four parts (a name may hold `::`)."""
    parts = urn.removeprefix("urn:pulumi:").split("::", 3)
    return parts + [""] * (4 - len(parts))


_ALIAS_FIELD = re.compile(r"(?:^| )(name|type|parent|stack|project)=")


def _alias_spec(alias: str) -> tuple[dict[str, str], bool]:
    """tools/mocks.py's `type=T parent=URN ... [noParent]` -> ({field: value}, noParent)."""
    no_parent = alias == "noParent" or alias.endswith(" noParent")
    fields = _ALIAS_FIELD.split(alias.removesuffix("noParent").rstrip() if no_parent else alias)[1:]
    return dict(zip(fields[::2], fields[1::2], strict=True)), no_parent


def alias_urn(urn: str, alias: str, parent: str = "") -> str:
    """The URN an alias of the resource at `urn` names. An alias is recorded as a full URN or as
    the spec of what changed; the parts a spec leaves out are the resource's own, as Pulumi fills
    them in, and a parent's type is prefixed as the renders' URNs have it. `parent`: the URN the
    resource's parent had before (Pulumi looks for a child of a renamed parent there)."""
    if alias.startswith("urn:pulumi:"):
        return alias
    spec, no_parent = _alias_spec(alias)
    stack, project, qualified_type, name = _split_urn(urn)
    parent_types, _, type_token = qualified_type.rpartition("$")
    if no_parent:
        parent_types = ""
    elif "parent" in spec or parent:
        parent_types = _split_urn(spec.get("parent", parent))[2].rsplit("$", 1)[-1]
    type_token = spec.get("type", type_token)
    qualified = f"{parent_types}${type_token}" if parent_types else type_token
    return "urn:pulumi:" + "::".join(
        [spec.get("stack", stack), spec.get("project", project), qualified, spec.get("name", name)]
    )


def matched_urns(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    """New URN -> old URN for each resource at both sides: the same URN, or an old URN one of the
    new resource's aliases names (Pulumi moves a renamed or retyped resource's state to it rather
    than deleting and creating it). Like Pulumi, a child of a parent matched through an alias is
    also looked for under that parent's old URN. An old resource matches one new resource at most."""
    matched = {urn: urn for urn in old.keys() & new.keys()}
    claimed = set(matched)
    looked_at: set[str] = set()

    def match(urn: str) -> str | None:
        if urn in looked_at or urn in matched:
            return matched.get(urn)
        looked_at.add(urn)
        aliases = ["", *new[urn]["options"].get("aliases", [])]
        candidates = [alias_urn(urn, alias) for alias in aliases[1:]]
        parent = new[urn].get("parent") or ""
        old_parent = match(parent) if parent in new else None
        if old_parent is not None and old_parent != parent:
            candidates += [alias_urn(urn, alias, parent=old_parent) for alias in aliases]
        found = next((candidate for candidate in candidates if candidate in old and candidate not in claimed), None)
        if found is not None:
            matched[urn] = found
            claimed.add(found)
        return found

    for urn in sorted(new.keys() - old.keys()):
        match(urn)
    return matched


DEFAULT_PROVIDER = "(default provider)"


def provider_name(reference: str) -> str:
    """A provider reference URN as a reviewer knows it: `pulumi:providers:kubernetes::cluster-provider`."""
    if not reference:
        return DEFAULT_PROVIDER
    _, _, qualified_type, name = _split_urn(reference)
    return f"{qualified_type.rsplit('$', 1)[-1]}::{name}"


def _provider_change(before: dict[str, Any], after: dict[str, Any], matched: dict[str, str]) -> ValueChange | None:
    """Pulumi replaces a resource whose provider is another provider resource (not the same one
    renamed through an alias): the new provider may point at another account, region or cluster."""
    old_provider, new_provider = before.get("provider") or "", after.get("provider") or ""
    if matched.get(new_provider, new_provider) == old_provider:
        return None
    return ValueChange("(provider)", provider_name(old_provider), provider_name(new_provider))


def _resource_change(before: dict[str, Any], after: dict[str, Any], matched: dict[str, str]) -> Change | None:
    """The update or replacement that takes `before` to `after`, or None when nothing Pulumi applies changes."""
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
    provider = _provider_change(before, after, matched)
    if not values and not options and provider is None:
        return None
    input_paths = [change.path for change in values]
    reasons = replace_reasons(after["type"], after["options"].get("replaceOnChanges", []), input_paths)
    if provider is not None:
        reasons.append("the provider changed")
    shown = values + options + ([provider] if provider else [])
    return Change(
        "replace" if reasons else "update",
        after["type"],
        after["name"],
        paths=tuple(change.path for change in shown),
        values=tuple(shown),
        replace_reasons=tuple(reasons),
        delete_first=bool(reasons) and bool(after["options"].get("deleteBeforeReplace")),
        before=before,
        after=after,
    )


def stack_changes(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> list[Change]:
    old = {resource["urn"]: resource for resource in base}
    new = {resource["urn"]: resource for resource in head}
    matched = matched_urns(old, new)
    changes = [
        Change("create", new[urn]["type"], new[urn]["name"], after=new[urn])
        for urn in sorted(new.keys() - matched.keys())
    ]
    changes += [
        Change("delete", old[urn]["type"], old[urn]["name"], before=old[urn])
        for urn in sorted(old.keys() - set(matched.values()))
    ]
    for urn in sorted(matched):
        change = _resource_change(old[matched[urn]], new[urn], matched)
        if change is not None:
            changes.append(change)
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


def _code(value: object) -> str:
    """Anything from a render (a name, a type, a value) as a code span in prose (the summary's
    bullets, headings): shown as it is, never interpreted as Markdown or HTML in the comment."""
    return md_code(str(value))


def _cell(value: object) -> str:
    """The same, in a table cell, where a pipe must be escaped even inside a code span."""
    return md_code(str(value), in_table=True)


def format_change(change: ValueChange, *, in_table: bool = True) -> str:
    """`spec.replicas`: `2` → `3`."""
    span = _cell if in_table else _code
    path = span(change.path)
    if change.added:
        return f"{path}: (none) → {span(format_value(change.new))}"
    if change.removed:
        return f"{path}: {span(format_value(change.old))} → (none)"
    return f"{path}: {span(format_value(change.old))} → {span(format_value(change.new))}"


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


def _field(value: Any, *keys: str) -> Any:
    """`value[key1][key2]...`, or None where a level is missing or not an object: the words below
    read inputs of any shape a render may hold without failing on one they did not expect."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return _objects(_field(resource, "inputs", "spec", "template", "spec", "containers"))


def _env(container: dict[str, Any]) -> dict[Any, Any]:
    return {item.get("name"): item.get("value") for item in _objects(container.get("env"))}


def _image_reference(resource: dict[str, Any]) -> str:
    return str(_field(resource, "inputs", "imageName") or "")


def _rebuilt_images(changes: Sequence[Change]) -> list[tuple[str, str]]:
    """(image, why) for every built image whose build or tag changed: its context (a new content
    tag), or else the build settings or repository that did."""
    rebuilt = []
    for change in changes:
        if change.type in DOCKER_IMAGES and change.action in ("update", "replace"):
            old, new = _tag(_image_reference(change.before)), _tag(_image_reference(change.after))
            if old != new:
                why = f"its build context changed (tag {_code(old)} → {_code(new)})"
            else:
                changed = ", ".join(format_change(value, in_table=False) for value in change.values[:3])
                why = f"its build changed ({changed})"
            rebuilt.append((_image_name(change.after), why))
    return rebuilt


def _images_in(changes: Sequence[Change], rebuilt: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Repository (as workloads reference it) -> image name, for the rebuilt images (a created or
    deleted image has no workload that moves from its old build to its new one)."""
    names = {name for name, _ in rebuilt}
    repositories = {}
    for change in changes:
        if change.type in DOCKER_IMAGES and change.action in ("update", "replace"):
            name = _image_name(change.after)
            if name in names:
                repositories[_repository(_image_reference(change.after))] = name
    return repositories


def _added_and_removed_images(changes: Sequence[Change]) -> list[str]:
    lines = []
    for change in changes:
        if change.type in DOCKER_IMAGES and change.action == "create":
            lines.append(f"Image {_code(_image_name(change.after))} is new: it is built and pushed.")
        if change.type in DOCKER_IMAGES and change.action == "delete":
            lines.append(f"Image {_code(_image_name(change.before))} is deleted: it is no longer built.")
    return lines


def _workload_reasons(change: Change, repositories: dict[str, str]) -> list[str]:
    """Why a Job's or Deployment's pods change: which image, which environment variable."""
    reasons = []
    before, after = _containers(change.before), _containers(change.after)
    for old, new in zip(before, after, strict=False):
        if old.get("image") != new.get("image"):
            image = repositories.get(_repository(str(new.get("image", ""))))
            reasons.append(
                f"image {_code(image)} rebuilt" if image else f"container {_code(new.get('name'))} image changed"
            )
        if old.get("args") != new.get("args"):
            reasons.append(f"container {_code(new.get('name'))} arguments changed")
        if old.get("resources") != new.get("resources"):
            reasons.append(f"container {_code(new.get('name'))} resources changed")
        old_env, new_env = _env(old), _env(new)
        for key in sorted(set(old_env) | set(new_env), key=str):
            if key not in old_env:
                reasons.append(f"{_code(key)} set to {_code(format_value(new_env[key]))}")
            elif key not in new_env:
                reasons.append(f"{_code(key)} removed")
            elif old_env[key] != new_env[key]:
                old_value, new_value = format_value(old_env[key]), format_value(new_env[key])
                reasons.append(f"{_code(key)} {_code(old_value)} → {_code(new_value)}")
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
        return [f"Job {_code(change.name)} is created: a training run starts."]
    if change.action != "replace":
        return []
    old_name = _field(change.before, "inputs", "metadata", "name")
    new_name = _field(change.after, "inputs", "metadata", "name")
    why = _workload_reasons(change, repositories)
    if old_name != new_name:
        return [
            f"Job {_code(change.name)} is replaced by a **new training run** ({_code(old_name)} → {_code(new_name)})"
            + (f": {', '.join(why)}" if why else "")
            + ". It trains from scratch; the old run's artifacts stay where they are."
        ]
    return [
        f"Job {_code(change.name)} is replaced with the same run ({_code(new_name)}): it resumes from the run's "
        "checkpoints or finished model" + (f" ({', '.join(why)})." if why else ".")
    ]


def _deployment_lines(change: Change, repositories: dict[str, str]) -> list[str]:
    if change.action not in ("update", "replace"):
        return []
    lines = []
    if any(path.startswith("spec.template") for path in change.paths):
        why = _workload_reasons(change, repositories)
        verb = "is replaced" if change.action == "replace" else "rolls (new pods, old ones drained)"
        lines.append(f"Deployment {_code(change.name)} {verb}" + (f": {', '.join(why)}." if why else "."))
    scale = next((value for value in change.values if value.path == "spec.replicas"), None)
    if scale is not None:
        lines.append(
            f"Deployment {_code(change.name)} scales from {_replicas(scale.old)} to {_replicas(scale.new)} replicas."
        )
    return lines


def _replicas(value: Any) -> str:
    """A replica count as a number; anything else the render holds there as code."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else _code(format_value(value))


def _replaced_lines(change: Change) -> list[str]:
    """Replacements that are not training runs: what a reviewer must not miss."""
    if change.action != "replace" or change.type == JOB:
        return []
    what = ", ".join(format_change(value, in_table=False) for value in change.values[:3])
    if change.type in NODE_POOLS:
        line = (
            f"Node group {_code(change.name)} is **replaced** ({what}): new nodes are created and the old group "
            "deleted, so pods on it are rescheduled."
        )
    else:
        line = f"{_code(change.name)} ({_code(change.type)}) is **replaced** ({what})."
    if _protected(change):
        line += " It is protected: the update fails until `protect` is lifted."
    return [line]


def _protected(change: Change) -> bool:
    """Whether Pulumi refuses to delete the resource as it stands (its protect option now)."""
    return bool(_field(change.before or change.after, "options", "protect"))


def _deleted_protected_lines(change: Change) -> list[str]:
    """A protected resource the change deletes: `pulumi up` refuses, so the reviewer must know."""
    if change.action != "delete" or not _protected(change):
        return []
    return [
        f"{_code(change.name)} ({_code(change.type)}) is **deleted**, but it is protected: the update fails "
        "until `protect` is lifted in a change of its own (or the resource is kept)."
    ]


def summary(changes: Sequence[Change]) -> list[str]:
    """What the change means, in words: images rebuilt, training runs, Deployments that roll or
    scale, and other replacements (empty when none of these happen)."""
    rebuilt = _rebuilt_images(changes)
    repositories = _images_in(changes, rebuilt)
    lines = [f"Image {_code(name)} is rebuilt and pushed: {why}." for name, why in rebuilt]
    lines += _added_and_removed_images(changes)
    lines += [line for change in changes if change.type == JOB for line in _job_lines(change, repositories)]
    lines += [
        line for change in changes if change.type == DEPLOYMENT for line in _deployment_lines(change, repositories)
    ]
    lines += [line for change in changes for line in _replaced_lines(change)]
    lines += [line for change in changes for line in _deleted_protected_lines(change)]
    return lines


# --- Markdown --------------------------------------------------------------------------------------


class DiffError(Exception):
    """A problem with what the preview was given (its arguments, a render it reads); exit code 2."""


def manifest_diff(base_dir: Path, head_dir: Path) -> str:
    names = sorted({p.name for p in base_dir.glob("*.yaml")} | {p.name for p in head_dir.glob("*.yaml")})
    chunks: list[str] = []
    for name in names:
        before = _manifest_lines(base_dir / name)
        after = _manifest_lines(head_dir / name)
        chunks.extend(difflib.unified_diff(before, after, f"base/{name}", f"head/{name}"))
    return "".join(_inside_fence(chunk) for chunk in chunks)


_FENCE_LIKE = re.compile(r"^(\s*)(`{3,})")


def _inside_fence(line: str) -> str:
    """A diff line that would close the ```diff fence (a context line of a manifest line that
    starts with ```) gets quotes for those backticks: the rest of the comment stays out of it."""
    return _FENCE_LIKE.sub(lambda match: match[1] + "'" * len(match[2]), line)


def _manifest_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    try:
        text = path.read_text()
        body = yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as error:  # ValueError: not UTF-8
        raise DiffError(f"{path}: not a manifest the render tool writes: {' '.join(str(error).split())}") from None
    if isinstance(body, dict) and body.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if isinstance(body.get(key), dict):
                body[key] = dict.fromkeys(body[key], MASK)
        text = yaml.safe_dump(body, sort_keys=True)
    return text.splitlines(keepends=True)


def _resources(directory: Path) -> list[dict[str, Any]]:
    """A stack's resources at one side; none where the stack is not rendered there (created or
    deleted). load_render refuses a render whose entries lack what the preview reads (RenderError
    naming the file and the entry)."""
    if not render.is_render(directory):
        return []
    return list(render.load_render(directory)["resources"])


def warnings_section(base_dir: Path, head_dir: Path) -> Section | None:
    """What the program warns about at HEAD, those BASE did not warn about marked new, and those
    only BASE warned about as resolved; None when neither side warns, or HEAD's render does not
    record warnings. A stack new at HEAD has every warning new; a BASE render made by a render
    tool that did not record warnings marks none new (it cannot tell), and says so."""
    head = render.load_warnings(head_dir) if render.is_render(head_dir) else None
    if head is None:
        return None
    base = render.load_warnings(base_dir) if render.is_render(base_dir) else []
    resolved = sorted(set(base) - set(head)) if base is not None else []
    if not head and not resolved:
        return None
    new = [warning for warning in head if base is not None and warning not in base]
    kept = [warning for warning in head if warning not in new]
    lines = [f"- **New:** {md_text(warning)}" for warning in new]
    lines += [f"- {md_text(warning)}" for warning in kept]
    lines += [f"- **Resolved** (warned at the base only): {md_text(warning)}" for warning in resolved]
    if base is None:
        lines.insert(0, "The base's render does not record warnings (an older render tool): none is marked new.\n")
    counts = [f"{len(head)}"] + [f"{len(new)} new"] * bool(new) + [f"{len(resolved)} resolved"] * bool(resolved)
    return Section(f"Warnings: {', '.join(counts)}", "\n".join(lines))


def stack_report(stack: str, base_dir: Path, head_dir: Path, sections: Sequence[SectionProvider] = ()) -> str:
    changes = stack_changes(_resources(base_dir), _resources(head_dir))
    counts = {action: sum(1 for c in changes if c.action == action) for action in SYMBOLS}
    headline = ", ".join(f"{counts[action]} to {action}" for action in SYMBOLS)
    lines = [f"### {_code(stack)}: {headline}" if changes else f"### {_code(stack)}: no changes"]
    if changes:
        meaning = summary(changes)
        if meaning:
            lines += ["", *(f"- {line}" for line in meaning)]
        lines += ["", "| | resource | type | changes |", "|---|---|---|---|"]
        for change in changes:
            action = change.action + (" (delete first)" if change.delete_first else "")
            name, type_token = _cell(change.name), _cell(change.type)
            lines.append(f"| `{SYMBOLS[change.action]}` {action} | {name} | {type_token} | {_changes_cell(change)} |")
    # The program's warnings first: what `pulumi up` would print, which the reviewer must not miss.
    found = [warnings_section(base_dir, head_dir), *(provider(stack, base_dir, head_dir) for provider in sections)]
    for section in found:
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


def rendered_stacks(directory: Path, role: str) -> set[str]:
    """The stacks rendered in BASE or HEAD (`DIR/<stack>/`). Refuses a directory that is missing,
    is itself one render (a common slip: `render_diff RENDERS/dev-kind ...`, which would otherwise
    compare its `manifests` folder as a stack and report no changes), or holds a folder that is
    not a render. Hidden folders (the render tool's `.render-*` staging) are skipped."""
    usage = (
        f"{role} must hold one render per stack ({role}/<stack>/, from python -m tools.render STACK --out {role}/STACK)"
    )
    if not directory.is_dir():
        raise DiffError(f"{role} {directory}: no such directory; {usage}")
    if render.is_render(directory):
        raise DiffError(f"{role} {directory} is itself a render, not a directory of renders; {usage}")
    stacks = set()
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_dir():
            continue
        if not render.is_render(path):
            raise DiffError(f"{role} {directory}: {path.name}/ is not a render (no {render.RESOURCES_FILE}); {usage}")
        stacks.add(path.name)
    return stacks


def report(base: Path, head: Path, sections: Sequence[SectionProvider] = ()) -> str:
    stacks = sorted(rendered_stacks(base, "BASE") | rendered_stacks(head, "HEAD"))
    body = "\n".join(stack_report(stack, base / stack, head / stack, sections) for stack in stacks)
    return f"## Offline preview\n\n{DISCLAIMER}\n\n{body}"


def load_section(spec: str) -> SectionProvider:
    """`package.module:function` -> the function (imported only when asked for). A spec that names
    no such module or function is a DiffError; a module that fails to import for another reason
    is a bug in it and keeps its traceback."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise DiffError(f"--section {spec!r}: expected MODULE:FUNCTION, e.g. tools.cost:preview_section")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing != module_name and not module_name.startswith(f"{missing}."):
            raise
        raise DiffError(f"--section {spec!r}: no module {module_name!r}") from None
    provider = getattr(module, function_name, None)
    if not callable(provider):
        raise DiffError(f"--section {spec!r}: {module_name} has no function {function_name!r}")
    return cast(SectionProvider, provider)


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give a number of characters, or 0 for no cut")
    return value


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
    parser.add_argument(
        "--max-chars", type=_non_negative, default=0, help="cut the Markdown to this many characters (0: no cut)"
    )
    parser.add_argument("--full-url", default="", help="where the full Markdown is, named in the cut note")
    args = parser.parse_args(argv)
    try:
        markdown = report(args.base, args.head, [load_section(spec) for spec in args.section])
    except (DiffError, render.RenderError) as error:
        print(f"render_diff: {error}", file=sys.stderr)
        return 2
    if args.max_chars:
        try:
            markdown = truncate(markdown, args.max_chars, args.full_url)
        except LimitError as error:
            print(f"render_diff: --max-chars: {error}", file=sys.stderr)
            return 2
    sys.stdout.write(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
