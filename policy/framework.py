"""How a rule is declared, how its enforcement level is chosen for a stack, and how it becomes the
`pulumi_policy` object the engine runs. Creates no gRPC server: only `policy/__main__.py` does.

A rule is a plain function over the arguments the Pulumi engine passes (`ResourceValidationArgs`
for one resource, `StackValidationArgs` for the whole stack) plus a report callback, so tests and
`tools/check.py` call it directly. Everything a rule reads is what the engine gives it: Pulumi's
camelCase property names, mappings and sequences that may be the engine's read-only proxies
(never `dict`/`list`), numbers that may be floats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

ADVISORY = EnforcementLevel.ADVISORY
MANDATORY = EnforcementLevel.MANDATORY
DISABLED = EnforcementLevel.DISABLED

PRODUCTION_PREFIX = "prod-"
"""Stacks whose name starts with this get each rule's `production_level`."""

ResourceCheck = Callable[[ResourceValidationArgs, ReportViolation], None]
StackCheck = Callable[[StackValidationArgs, ReportViolation], None]
Args = ResourceValidationArgs | StackValidationArgs


def is_production(stack: str) -> bool:
    """`prod-eks`, and `org/project/prod-eks` (a fully qualified name), are production."""
    return stack.rsplit("/", 1)[-1].startswith(PRODUCTION_PREFIX)


def violation(problem: str, fix: str) -> str:
    """Every message says what is wrong, then how to fix it: `problem: fix`."""
    return f"{problem}: {fix}"


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One configurable property of a rule, set in the pack's config file beside `enforcementLevel`."""

    name: str
    schema: Mapping[str, Any]
    """JSON schema of the value (`{"type": "array", "items": {"type": "string"}}`), as the CLI validates it."""
    default: Any
    description: str

    def value(self, args: Args) -> Any:
        """The configured value, or the default when the pack's config does not set it."""
        return args.get_config().get(self.name, self.default)

    def json_schema(self) -> dict[str, Any]:
        return {**self.schema, "default": self.default, "description": self.description}


@dataclass(frozen=True, kw_only=True)
class Rule:
    """A named check with a level for ordinary stacks and one for production (`prod-*`) stacks.

    Exactly one of `validate_resource` (called once per resource) and `validate_stack` (called once
    with every resource: for rules that relate resources, such as a pod and the node pools it may
    land on) is set.
    """

    name: str
    description: str
    level: EnforcementLevel
    """Level on stacks whose name does not start with `prod-`."""
    production_level: EnforcementLevel
    """Level on `prod-*` stacks; never weaker than `level`."""
    validate_resource: ResourceCheck | None = None
    validate_stack: StackCheck | None = None
    settings: tuple[Setting, ...] = ()

    def __post_init__(self) -> None:
        if (self.validate_resource is None) == (self.validate_stack is None):
            raise ValueError(f"rule {self.name}: set exactly one of validate_resource and validate_stack")
        if _STRENGTH[self.production_level] < _STRENGTH[self.level]:
            raise ValueError(f"rule {self.name}: the production level may not be weaker than the default")

    def level_for(self, stack: str) -> EnforcementLevel:
        """The default level on `stack`; the pack's config (`enforcementLevel`) overrides it."""
        return self.production_level if is_production(stack) else self.level

    def config_schema(self) -> PolicyConfigSchema | None:
        if not self.settings:
            return None
        return PolicyConfigSchema(properties={setting.name: setting.json_schema() for setting in self.settings})

    def policy(self, stack: str) -> Policy:
        """The object the engine runs, at this rule's level for `stack`."""
        if self.validate_resource is not None:
            return ResourceValidationPolicy(
                name=self.name,
                description=self.description,
                validate=self.validate_resource,
                enforcement_level=self.level_for(stack),
                config_schema=self.config_schema(),
            )
        return StackValidationPolicy(
            name=self.name,
            description=self.description,
            validate=self.validate_stack,
            enforcement_level=self.level_for(stack),
            config_schema=self.config_schema(),
        )


_STRENGTH = {DISABLED: 0, ADVISORY: 1, MANDATORY: 2, EnforcementLevel.REMEDIATE: 2}
