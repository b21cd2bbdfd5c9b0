"""Tier 1: the render tool's own transformations."""

from __future__ import annotations

import json

import yaml

from tools import render


def test_stack_config_is_passed_as_the_cli_passes_it(tmp_path):
    """Strings stay strings, objects become JSON, unqualified keys get the project namespace, and
    secure values (undecryptable without the CLI) become a visible placeholder marked secret."""
    (tmp_path / "Pulumi.s.yaml").write_text(
        yaml.safe_dump(
            {
                "config": {
                    "ml-platform:namespace": "models",
                    "ml-platform:models": [{"name": "m"}],
                    "awaitTraining": False,
                    "aws:region": "eu-west-1",
                    "ml-platform:apiToken": {"secure": "AAABAMRk..."},
                }
            }
        )
    )
    values, secret_keys = render.stack_config("s", tmp_path)
    assert values["ml-platform:namespace"] == "models"
    assert json.loads(values["ml-platform:models"]) == [{"name": "m"}]
    assert values["ml-platform:awaitTraining"] == "false"
    assert values["aws:region"] == "eu-west-1"
    assert values["ml-platform:apiToken"] == render.SECURE_PLACEHOLDER
    assert secret_keys == ["ml-platform:apiToken"]


def test_clean_masks_secrets_and_restores_integers():
    secret = {render.SECRET_SIGNATURE: "1b47061264138c4ac30d75fd1eb44270", "value": "hunter2"}
    cleaned = render.clean({"b": 2.0, "a": [secret, 0.5, {"z": 1.0}]})
    assert cleaned == {"a": ["[secret]", 0.5, {"z": 1}], "b": 2}
    assert list(cleaned) == ["a", "b"]
    assert "hunter2" not in json.dumps(cleaned)
