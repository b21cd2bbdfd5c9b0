"""serving.requireToken: the predict routes' bearer token comes from the stack's secret config, is
kept in a Kubernetes Secret mounted into the server pods, and never appears in a render; config
errors name the key when the token is missing, in clear, or set for no model."""

from __future__ import annotations

import base64
import copy

import pytest
import yaml

from components import config
from tests.rendering import load, render, stack_document
from tools.render import stack_config

STACK = "prod-eks"
TOKEN_KEY = "ml-platform:servingToken"
TOKEN = "a-known-token-d41d8cd98f00b204"


def _document(require: bool = True) -> dict:
    document = copy.deepcopy(stack_document(STACK))
    document["config"]["ml-platform:models"][0]["serving"]["requireToken"] = require
    return document


def _problems(document: dict, secret_keys: tuple[str, ...] = ()) -> list[config.Problem]:
    values = {
        key: value if isinstance(value, str) else __import__("json").dumps(value)
        for key, value in document["config"].items()
    }
    with pytest.raises(config.ConfigError) as error:
        config.parse(values, secret_keys)
    return error.value.problems


def test_a_required_token_that_is_not_set_names_the_key_and_how_to_set_it():
    (problem,) = _problems(_document())
    assert problem.key == TOKEN_KEY and "required by ml-platform:models[0].serving.requireToken" in problem.allowed
    assert f"pulumi config set --secret {TOKEN_KEY}" in problem.allowed


def test_a_token_in_clear_is_refused_without_printing_it():
    document = _document()
    document["config"][TOKEN_KEY] = TOKEN
    (problem,) = _problems(document)
    assert problem.key == TOKEN_KEY and "must be a secret" in problem.allowed
    assert TOKEN not in str(problem)


def test_a_token_no_model_requires_would_do_nothing():
    document = _document(require=False)
    document["config"][TOKEN_KEY] = TOKEN
    (problem,) = _problems(document, (TOKEN_KEY,))
    assert problem.key == TOKEN_KEY and "would do nothing" in problem.allowed


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    directory = tmp_path_factory.mktemp("token")
    document = _document()
    document["config"][TOKEN_KEY] = {"secure": "v1:ciphertext"}
    (directory / "stacks").mkdir()
    (directory / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(document))
    (directory / "secrets.yaml").write_text(yaml.safe_dump({TOKEN_KEY: TOKEN}))
    assert TOKEN_KEY in stack_config(STACK, directory / "stacks")[1], "the stack file holds it encrypted"
    render(STACK, directory / "out", stacks_dir=directory / "stacks", secrets=directory / "secrets.yaml")
    return load(directory / "out")


def test_the_token_is_a_mounted_secret_file_of_the_server_pods(rendered):
    (secret,) = [
        s for s in rendered.objects("Secret") if s["metadata"]["labels"]["app.kubernetes.io/component"] == "serving"
    ]
    assert secret["stringData"] == {"token": "[secret]"}
    (deployment,) = rendered.objects("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    container = spec["containers"][0]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert mount["readOnly"] is True and env["AUTH_TOKEN_FILE"] == f"{mount['mountPath']}/token"


def test_the_token_appears_nowhere_in_the_render(rendered):
    encoded = base64.b64encode(TOKEN.encode()).decode()
    for path in rendered.directory.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert TOKEN not in text and encoded not in text, path
