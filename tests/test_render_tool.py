"""Tier 1: the render tool's own transformations."""

from __future__ import annotations

import json

import pytest
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


def test_secrets_file_stands_in_for_the_clis_decryption(tmp_path):
    """`--secrets` replaces the placeholder of a secure key only; the key stays marked secret, and a
    value for a key the stack file does not hold encrypted is an error, not a silent addition."""
    (tmp_path / "Pulumi.s.yaml").write_text(
        yaml.safe_dump({"config": {"ml-platform:token": {"secure": "v1:x"}, "ml-platform:namespace": "models"}})
    )
    values, secret_keys = render.stack_config("s", tmp_path, {"ml-platform:token": "known"})
    assert values["ml-platform:token"] == "known" and secret_keys == ["ml-platform:token"]
    with pytest.raises(render.RenderError, match="ml-platform:namespace"):
        render.stack_config("s", tmp_path, {"ml-platform:namespace": "other"})


def test_manifests_keep_a_secret_mappings_keys_and_mask_its_values():
    secret = {render.SECRET_SIGNATURE: "1b47061264138c4ac30d75fd1eb44270", "value": {".dockerconfigjson": "e30="}}
    assert render.clean({"data": secret}, keep_keys=True) == {"data": {".dockerconfigjson": "[secret]"}}
    assert render.clean({"data": secret}) == {"data": "[secret]"}
