"""The backend table is the only way generic code reaches a backend: every row is complete and
loadable, imports point down (workloads and contracts never import a backend), and provider keys
are validated like the project's own."""

from __future__ import annotations

import ast
import copy
import importlib
from pathlib import Path

import pytest

from components import backends, config
from components.contracts.platform import ProvisionedCluster
from tests.rendering import raw_config, stack_document
from tools.mocks import BackendMocks

ROOT = Path(__file__).resolve().parents[1]
GENERIC = [
    ROOT / "__main__.py",
    ROOT / "components" / "config.py",
    ROOT / "components" / "platform.py",
    ROOT / "components" / "image.py",
    *sorted((ROOT / "components" / "contracts").glob("*.py")),
    *sorted((ROOT / "components" / "workloads").glob("*.py")),
]


def _imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


@pytest.mark.parametrize("path", GENERIC, ids=lambda path: str(path.relative_to(ROOT)))
def test_generic_code_reaches_backends_only_through_the_table(path: Path):
    reaching = {module for module in _imports(path) if module.startswith("components.backends.")}
    assert not reaching, f"{path.relative_to(ROOT)} imports a backend directly: {sorted(reaching)}"


@pytest.mark.parametrize("path", GENERIC, ids=lambda path: str(path.relative_to(ROOT)))
def test_generic_code_imports_no_cloud_sdk(path: Path):
    clouds = {module for module in _imports(path) if module.split(".")[0] in ("pulumi_aws", "pulumi_eks", "pulumi_gcp")}
    assert not clouds


@pytest.mark.parametrize("backend", backends.CLUSTERS.values(), ids=lambda backend: backend.name)
def test_every_cluster_row_is_loadable_and_complete(backend: backends.ClusterBackend):
    module = backend.load()
    assert callable(module.provision)
    assert module.provision.__annotations__["return"] in ("ProvisionedCluster", ProvisionedCluster)
    if backend.mocks is not None:
        assert isinstance(importlib.import_module(backend.mocks).MOCKS, BackendMocks)
    assert any(registry.pairs_with(backend.name) for registry in backends.REGISTRIES.values()), "no registry pairs"
    assert backend.settings_key in config.STRUCTURED_KEYS


@pytest.mark.parametrize("backend", backends.REGISTRIES.values(), ids=lambda backend: backend.name)
def test_every_registry_row_is_loadable(backend: backends.RegistryBackend):
    assert callable(backend.load().provision)
    if backend.mocks is not None:
        assert isinstance(importlib.import_module(backend.mocks).MOCKS, BackendMocks)
    assert set(backend.clusters or ()) <= set(backends.CLUSTERS), "a registry names a cluster the table lacks"


def test_a_missing_provider_key_is_named_with_how_to_set_it():
    document = copy.deepcopy(stack_document("prod-eks"))
    del document["config"]["aws:region"]
    with pytest.raises(config.ConfigError) as error:
        config.parse(raw_config(document))
    assert "aws:region = (missing): required by clusterBackend eks; set it with `pulumi config set aws:region" in str(
        error.value
    )


def test_a_malformed_provider_key_is_refused():
    document = copy.deepcopy(stack_document("prod-eks"))
    document["config"]["aws:region"] = "Oregon"
    with pytest.raises(config.ConfigError, match=r"aws:region = \"Oregon\": must be an AWS region such as us-west-2"):
        config.parse(raw_config(document))


def test_the_provider_key_reaches_the_backend():
    stack = config.parse(raw_config(stack_document("prod-eks")))
    assert stack.provider_settings is not None
    assert stack.provider_settings.model_dump() == {"region": stack_document("prod-eks")["config"]["aws:region"]}


def test_a_stack_without_a_provider_row_has_no_provider_settings():
    assert config.parse(raw_config(stack_document("dev-kind"))).provider_settings is None
