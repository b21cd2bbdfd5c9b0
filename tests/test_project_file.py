"""Tier 1: Pulumi.yaml declares every scalar key with the type and default the program uses."""

from __future__ import annotations

import typing

import yaml

from components import config
from tests.rendering import PROJECT_ROOT
from tools.render import known_stacks, stack_config

PROJECT = yaml.safe_load((PROJECT_ROOT / "Pulumi.yaml").read_text())
PULUMI_TYPES = {str: "string", bool: "boolean", int: "integer"}


def _pulumi_type(field) -> str:
    annotation = config._unwrap(field.annotation)
    if typing.get_origin(annotation) is typing.Literal:
        annotation = type(typing.get_args(annotation)[0])
    return PULUMI_TYPES[annotation]


def test_project_shape():
    assert PROJECT["name"] == config.NAMESPACE
    assert PROJECT["runtime"]["name"] == "python"
    assert PROJECT["runtime"]["options"]["virtualenv"] == ".venv"
    assert PROJECT["stackConfigDir"] == "stacks"


def test_every_scalar_key_is_declared_with_its_type_default_and_description():
    declared = PROJECT["config"]
    fields = config.scalar_keys()
    assert set(declared) == set(fields), "Pulumi.yaml and components/config.py declare different scalar keys"
    for key, field in fields.items():
        declaration = declared[key]
        assert declaration["type"] == _pulumi_type(field), key
        assert declaration["default"] == field.default, f"{key}: Pulumi.yaml default differs from the program's"
        assert declaration["description"].strip(), key


def test_structured_keys_are_not_declared_as_scalars():
    """Objects cannot be typed in Pulumi.yaml; declaring one with a scalar type would make the CLI reject stacks."""
    assert not set(PROJECT["config"]) & set(config.STRUCTURED_KEYS)


def test_every_stack_file_parses():
    """As the CLI passes them: secure values (undecryptable here) as placeholders, marked secret."""
    for stack in known_stacks():
        config.parse(*stack_config(stack))
