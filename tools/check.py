"""Check a stack against the policy pack, offline, as `pulumi preview --policy-pack policy` would.

    python -m tools.check STACK [--stacks-dir DIR] [--config FILE]
    python -m tools.check --render DIR [--config FILE]

The first renders STACK (`tools.render`) and checks the render; the second checks a render already
on disk (the render tool's `--out`). Every rule of `policy.rules.ALL_RULES` runs over the render's
resources with the arguments the Pulumi engine passes (`ResourceValidationArgs` per resource,
`StackValidationArgs` once), built the way the engine builds them: properties through a protobuf
Struct (numbers become floats) into the policy SDK's read-only proxies.

Each violation prints as `rule: resource: what is wrong: how to fix`, mandatory ones first. Exit
status: 1 when a mandatory rule is violated, 0 otherwise (advisories are printed), 2 on bad input
(unknown stack, invalid stack config, a directory that is not a render, a bad config file).

`--config FILE` takes the pack's config in the CLI's format (`--policy-pack-config`):
`{"all": "advisory", "rule-name": "mandatory" | {"enforcementLevel": "...", "<setting>": ...}}`.

For the pull-request preview: `preview_section(stack, base_dir, head_dir)` is the policy section
of each stack (tools/render_diff.py's `--section`); `check_render(DIR)` returns the violations.
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # `python tools/X.py`: run as `python -m tools.X`
    import _as_module  # type: ignore[import-not-found]  # noqa: F401 - never returns (tools/_as_module.py)

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from policy.framework import Rule
from policy.rules import ALL_RULES
from tools import markdown, render
from tools.render_diff import Section

LEVELS = {
    level.value: level for level in (EnforcementLevel.ADVISORY, EnforcementLevel.MANDATORY, EnforcementLevel.DISABLED)
}
REPORTED = (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_JSON_TYPES: Mapping[str, Callable[[Any], bool]] = {
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
}


class CheckError(Exception):
    """Bad input (not a render, a bad config file, a stack that does not render): exit status 2."""


@dataclass(frozen=True, kw_only=True)
class Violation:
    rule: str
    level: str
    """mandatory or advisory."""
    urn: str
    """The resource's URN; empty when the stack as a whole is in violation."""
    resource: str
    """`name (type)`, or `stack <name>`."""
    message: str
    """`what is wrong: how to fix`."""

    @property
    def line(self) -> str:
        return f"{self.rule}: {self.resource}: {self.message}"


@dataclass(frozen=True, kw_only=True)
class RuleConfig:
    level: EnforcementLevel | None
    settings: Mapping[str, Any]


# --- Reading a render --------------------------------------------------------------------------


def load_render(directory: Path) -> dict[str, Any]:
    try:
        return render.load_render(directory)
    except render.RenderError as error:
        raise CheckError(str(error)) from None


def engine_props(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """Properties as a policy receives them from the engine: through a protobuf Struct (every number
    a float) and the SDK's deserializer, wrapped in its unknown-checking proxy."""
    struct = struct_pb2.Struct()
    struct.update(dict(inputs))
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


def _seconds(duration: Any) -> float:
    """A Pulumi custom timeout ("2100s", "1h30m") in seconds; 0 when unset, as the engine passes it."""
    return sum(float(amount) * _SECONDS[unit] for amount, unit in _DURATION.findall(str(duration or "")))


def _options(resource: Mapping[str, Any]) -> PolicyResourceOptions:
    options = resource.get("options") or {}
    timeouts = options.get("customTimeouts") or {}
    return PolicyResourceOptions(
        protect=bool(options.get("protect")),
        ignore_changes=list(options.get("ignoreChanges") or []),
        delete_before_replace=options.get("deleteBeforeReplace"),
        aliases=list(options.get("aliases") or []),
        custom_timeouts=PolicyCustomTimeouts(
            _seconds(timeouts.get("create")), _seconds(timeouts.get("update")), _seconds(timeouts.get("delete"))
        ),
        additional_secret_outputs=list(options.get("additionalSecretOutputs") or []),
        parent=resource.get("parent") or None,
    )


@dataclass(frozen=True)
class Checked:
    """A render's resources as the engine hands them to policies."""

    stack: str
    resources: Sequence[Mapping[str, Any]]
    args: Sequence[ResourceValidationArgs]
    stack_resources: Sequence[PolicyResource]


def engine_view(document: Mapping[str, Any]) -> Checked:
    resources = document["resources"]
    props = [engine_props(resource["inputs"]) for resource in resources]
    by_urn = {resource["urn"]: (resource, prop) for resource, prop in zip(resources, props, strict=True)}

    def provider(resource: Mapping[str, Any]) -> PolicyProviderResource | None:
        urn = str(resource.get("provider") or "").split("::")
        found = by_urn.get("::".join(urn[:4])) if len(urn) >= 4 else None
        if found is None:
            return None
        return PolicyProviderResource(found[0]["type"], found[1], found[0]["urn"], found[0]["name"])

    args = [
        ResourceValidationArgs(r["type"], p, r["urn"], r["name"], _options(r), provider(r))
        for r, p in zip(resources, props, strict=True)
    ]
    stack_resources = [
        PolicyResource(r["type"], p, r["urn"], r["name"], _options(r), provider(r), None, [], {})
        for r, p in zip(resources, props, strict=True)
    ]
    linked = {resource.urn: resource for resource in stack_resources}
    for resource, policy_resource in zip(resources, stack_resources, strict=True):
        policy_resource.parent = linked.get(resource.get("parent") or "")
        policy_resource.dependencies = [linked[urn] for urn in resource.get("dependencies") or [] if urn in linked]
    return Checked(document["stack"], resources, args, stack_resources)


# --- The pack's config -------------------------------------------------------------------------


def load_config(path: Path, rules: Sequence[Rule] = ALL_RULES) -> dict[str, RuleConfig]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckError(f"policy config {path}: {error}") from None
    return parse_config(raw, rules, source=str(path))


def parse_config(raw: Any, rules: Sequence[Rule] = ALL_RULES, source: str = "policy config") -> dict[str, RuleConfig]:
    """The CLI's format: `all` sets every rule's level; a rule's own entry wins over `all`."""
    if not isinstance(raw, dict):
        raise CheckError(f"{source}: expected a JSON object of rule names")
    by_name = {rule.name: rule for rule in rules}
    problems: list[str] = []
    config: dict[str, RuleConfig] = {}
    for name, entry in raw.items():
        if name != "all" and name not in by_name:
            problems.append(f"{name}: no such rule (rules: {', '.join(by_name)})")
            continue
        if isinstance(entry, str):
            entry = {"enforcementLevel": entry}
        if not isinstance(entry, dict) or (name == "all" and set(entry) != {"enforcementLevel"}):
            problems.append(f"{name}: expected a level or an object")
            continue
        level_text = entry.get("enforcementLevel")
        if level_text is not None and (not isinstance(level_text, str) or level_text not in LEVELS):
            problems.append(f"{name}.enforcementLevel = {level_text!r}: must be one of {', '.join(LEVELS)}")
            continue
        settings = {key: value for key, value in entry.items() if key != "enforcementLevel"}
        if name != "all":
            problems += _setting_problems(by_name[name], settings)
        config[name] = RuleConfig(level=LEVELS.get(level_text or ""), settings=settings)
    if problems:
        raise CheckError(f"{source}: " + "; ".join(problems))
    return config


def _setting_problems(rule: Rule, settings: Mapping[str, Any]) -> list[str]:
    known = {setting.name: setting for setting in rule.settings}
    problems = []
    for key, value in settings.items():
        if key not in known:
            problems.append(f"{rule.name}.{key}: no such setting (settings: {', '.join(known) or 'none'})")
            continue
        expected = known[key].schema.get("type")
        if expected and not _JSON_TYPES[expected](value):
            problems.append(f"{rule.name}.{key} = {json.dumps(value)}: must be a JSON {expected}")
    return problems


def effective_level(rule: Rule, stack: str, config: Mapping[str, RuleConfig]) -> EnforcementLevel:
    for key in (rule.name, "all"):
        entry = config.get(key)
        if entry is not None and entry.level is not None:
            return entry.level
    return rule.level_for(stack)


# --- Checking ----------------------------------------------------------------------------------


def check_document(
    document: Mapping[str, Any], config: Mapping[str, RuleConfig] | None = None, rules: Sequence[Rule] = ALL_RULES
) -> list[Violation]:
    """Every violation of `rules` in a render's resources.json, at the level each rule has on the
    render's stack, mandatory first."""
    view = engine_view(document)
    config = config or {}
    names = {resource["urn"]: f"{resource['name']} ({resource['type']})" for resource in view.resources}
    violations: list[Violation] = []
    for rule in rules:
        level = effective_level(rule, view.stack, config)
        if level not in REPORTED:
            continue
        settings = dict(config[rule.name].settings) if rule.name in config else {}

        def report(message: str, urn: str | None, *, rule: Rule = rule, level: EnforcementLevel = level) -> None:
            violations.append(
                Violation(
                    rule=rule.name,
                    level=level.value,
                    urn=urn or "",
                    resource=names.get(urn or "", f"stack {view.stack}"),
                    message=message,
                )
            )

        if rule.validate_resource is not None:
            for args in view.args:
                scoped = ResourceValidationArgs(
                    args.resource_type, args.props, args.urn, args.name, args.opts, args.provider, settings
                )
                rule.validate_resource(scoped, _for_resource(report, args.urn))
        elif rule.validate_stack is not None:
            rule.validate_stack(StackValidationArgs(list(view.stack_resources), settings), report)
    return sorted(violations, key=lambda v: (v.level != "mandatory", v.rule, v.urn, v.message))


def _for_resource(report: ReportViolation, urn: str) -> ReportViolation:
    """The engine files a resource rule's violations under the resource validated, whatever URN it passes."""

    def report_resource(message: str, _urn: str | None = None) -> None:
        report(message, urn)

    return report_resource


def check_render(render_dir: Path, config: Mapping[str, RuleConfig] | None = None) -> list[Violation]:
    """Violations of every rule in a render directory (`python -m tools.render STACK --out DIR`)."""
    return check_document(load_render(Path(render_dir)), config)


# --- Reporting ---------------------------------------------------------------------------------


def format_text(violations: Sequence[Violation], stack: str) -> str:
    mandatory = [v for v in violations if v.level == "mandatory"]
    advisory = [v for v in violations if v.level == "advisory"]
    lines = []
    for title, group in (("mandatory", mandatory), ("advisory", advisory)):
        if group:
            lines.append(f"{title} ({len(group)}):")
            lines += [violation.line for violation in group]
    verdict = "FAILS" if mandatory else "passes"
    lines.append(f"{stack} {verdict}: {len(mandatory)} mandatory, {len(advisory)} advisory violation(s)")
    return "\n".join(lines)


def verdict(violations: Sequence[Violation]) -> str:
    mandatory = sum(1 for v in violations if v.level == "mandatory")
    return f"fails ({mandatory} mandatory violation(s))" if mandatory else "passes every mandatory rule"


def markdown_table(violations: Sequence[Violation], marks: Sequence[str] = ()) -> str:
    """One row per violation, its level followed by its mark (`marks`, one per violation when
    given, e.g. " (new)"). Names and messages (which quote the render) are escaped."""
    rows = [
        f"| {v.level}{mark} | {markdown.code(v.rule, in_table=True)} "
        f"| {markdown.code(v.resource, in_table=True)} | {markdown.text(v.message)} |"
        for v, mark in zip(violations, marks or [""] * len(violations), strict=True)
    ]
    return "\n".join(["| level | rule | resource | what is wrong: how to fix |", "| --- | --- | --- | --- |", *rows])


def change_marks(base: Sequence[Violation], head: Sequence[Violation]) -> list[str]:
    """For each of the head's violations: " (new)" where its rule did not flag its resource at the
    base, " (changed)" where it did but says something else (a second model on the same GPU pool),
    "" where the base had it as it is."""
    flagged_at_base = {(violation.rule, violation.urn) for violation in base}
    return [" (new)" if (v.rule, v.urn) not in flagged_at_base else " (changed)" if v not in base else "" for v in head]


def preview_section(stack: str, base_dir: Path, head_dir: Path) -> Section | None:
    """The policy section of the offline pull-request preview (tools/render_diff.py's `--section`):
    the head render's violations with the pack's default levels, marked new or changed against the
    base's."""
    if not render.is_render(head_dir):
        return None
    head = check_render(head_dir)
    base = check_render(base_dir) if render.is_render(base_dir) else []
    body = markdown_table(head, change_marks(base, head)) if head else "No violations."
    return Section(title=f"Policy: {verdict(head)}", markdown=body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.check", description=(__doc__ or "").split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("stack", nargs="?", help="stack to render and check: stacks/Pulumi.<stack>.yaml")
    target.add_argument("--render", type=Path, help="check this render directory instead (tools.render --out)")
    parser.add_argument("--stacks-dir", type=Path, help="where stack files live (default: stacks/)")
    parser.add_argument("--config", type=Path, help="the pack's config, as for pulumi --policy-pack-config")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config) if args.config else {}
        if args.render is not None:
            document = load_render(args.render)
        else:
            document = _render(args.stack, args.stacks_dir)
        violations = check_document(document, config)
    except CheckError as error:
        print(f"check: {error}", file=sys.stderr)
        return 2
    print(format_text(violations, document["stack"]))
    return 1 if any(v.level == "mandatory" for v in violations) else 0


def _render(stack: str, stacks_dir: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="check-") as temporary:
        out = Path(temporary) / "render"
        try:
            render.render_in_child(stack, out, stacks_dir)
        except render.RenderError as error:
            raise CheckError(str(error)) from None
        return load_render(out)


if __name__ == "__main__":
    sys.exit(main())
