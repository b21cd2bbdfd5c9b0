"""tools.stacks: which stacks are cloud stacks, from the stack files and the project default."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from components import backends
from tests.rendering import PROJECT_ROOT
from tools import stacks
from tools.render import known_stacks


def _write(directory, name, config):
    (directory / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))


def test_cloud_stacks_are_those_not_on_kind(tmp_path):
    _write(tmp_path, "laptop", {"ml-platform:clusterBackend": "kind"})
    _write(tmp_path, "default", {"ml-platform:namespace": "x"})  # Pulumi.yaml's default backend: kind
    _write(tmp_path, "prod-eks", {"ml-platform:clusterBackend": "eks", "aws:region": "eu-west-1"})
    _write(tmp_path, "prod-gke", {"clusterBackend": "gke", "gcp:region": "europe-west4"})
    assert [s.name for s in stacks.all_stacks(tmp_path)] == known_stacks(tmp_path)
    assert stacks.ci_matrix(tmp_path) == [
        {"stack": "prod-eks", "cloud": "aws", "region": "eu-west-1", "var_suffix": "PROD_EKS"},
        {"stack": "prod-gke", "cloud": "gcp", "region": "europe-west4", "var_suffix": "PROD_GKE"},
    ]


def test_an_unknown_backend_is_an_error_naming_what_to_add(tmp_path):
    _write(tmp_path, "odd", {"ml-platform:clusterBackend": "nomad"})
    with pytest.raises(stacks.StacksError, match=re.escape("unknown cluster backend 'nomad'")):
        stacks.cloud_stacks(tmp_path)


def test_every_cloud_of_the_backend_table_has_a_ci_login():
    """A backend with a cloud provider row is a cloud stack; the workflows' login action must know its cloud."""
    action = (PROJECT_ROOT / ".github" / "actions" / "cloud-credentials" / "action.yml").read_text()
    for backend in backends.CLUSTERS.values():
        if backend.provider is not None:
            assert f"if: inputs.cloud == '{backend.provider.namespace}'" in action, backend.name


def test_default_backend_is_read_from_the_project_file():
    assert stacks.default_cluster_backend() == "kind"


def test_the_repositorys_stacks():
    """Cloud stacks are those whose backend row has a cloud provider; local and existing clusters
    (reached by a kubeconfig, not by CI's OIDC) are not previewed or deployed with credentials."""
    clouds = {name for name, backend in backends.CLUSTERS.items() if backend.provider is not None}
    assert [s.name for s in stacks.cloud_stacks()] == [
        name for name in known_stacks() if stacks.stack_info(name).cluster_backend in clouds
    ]
    assert not {"dev-kind", "dev-minikube"} & {s.name for s in stacks.cloud_stacks()}


def test_cli_prints_names_and_the_matrix():
    run = [sys.executable, "-m", "tools.stacks"]
    names = subprocess.run(run, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert names == known_stacks()
    matrix = subprocess.run([*run, "--matrix"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    assert json.loads(matrix) == stacks.ci_matrix()


BAD_STACK_FILES = {
    "key-twice": ("config:\n  ml-platform:namespace: a\n  ml-platform:namespace: b\n", ":3:3: key"),
    "yaml-11-boolean": ("config:\n  ml-platform:buildOnPreview: yes\n", ":2:31: 'yes' is a boolean"),
    "number-for-text": (
        "config:\n  ml-platform:kubernetesVersion: 1.30\n",
        ":2:34: ml-platform:kubernetesVersion: 1.30 is read",
    ),
    "not-yaml": ("config: [\n", ":2:1: YAML syntax error"),
}


@pytest.mark.parametrize("mode", [["--cloud"], ["--matrix"]])
@pytest.mark.parametrize("case", sorted(BAD_STACK_FILES))
def test_a_stack_file_the_render_refuses_is_one_line_and_exit_2(tmp_path, capsys, mode, case):
    """Defect 9: a duplicate key or `yes` was a StackFileError traceback. The stack file is read
    with the render's checks (declared text keys too), so CI's list and the render agree."""
    text, words = BAD_STACK_FILES[case]
    _write(tmp_path, "good", {"ml-platform:clusterBackend": "eks", "aws:region": "eu-west-1"})
    (tmp_path / "Pulumi.bad.yaml").write_text(text)
    assert stacks.main([*mode, "--stacks-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert not captured.out, "no partial list or matrix"
    assert captured.err.startswith(f"stacks: {tmp_path / 'Pulumi.bad.yaml'}{words}"), captured.err
    assert captured.err.count("\n") == 1


@pytest.mark.parametrize("mode", [["--cloud"], ["--matrix"]])
def test_an_unknown_backend_is_one_line_and_exit_2(tmp_path, capsys, mode):
    """Defect 9: `clusterBackend: openshift` with --matrix was a ValueError traceback."""
    _write(tmp_path, "odd", {"ml-platform:clusterBackend": "openshift"})
    assert stacks.main([*mode, "--stacks-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"stacks: stack odd: unknown cluster backend 'openshift' (known: {', '.join(backends.CLUSTERS)})\n"


@pytest.mark.parametrize("mode", [[], ["--cloud"], ["--matrix"]])
@pytest.mark.parametrize("directory", ["missing", "empty", "a-file"])
def test_a_missing_or_empty_stacks_directory_is_an_error_not_an_empty_list(tmp_path, capsys, mode, directory):
    """Defect 9: `--stacks-dir nosuchdir --matrix` printed `[]` with exit 0: a workflow would
    preview, deploy and check no stack, successfully."""
    stacks_dir = tmp_path / "stacks"
    if directory == "empty":
        stacks_dir.mkdir()
        (stacks_dir / "README.md").write_text("not a stack file\n")
    elif directory == "a-file":
        stacks_dir.write_text("x\n")
    assert stacks.main([*mode, "--stacks-dir", str(stacks_dir)]) == 2
    captured = capsys.readouterr()
    assert not captured.out
    expected = "holds no stack file" if directory == "empty" else "no such directory of stack files"
    assert captured.err == f"stacks: {stacks_dir}: {expected} (Pulumi.<stack>.yaml)\n"


def test_stacks_that_are_all_local_give_an_empty_matrix(tmp_path, capsys):
    """An empty matrix is still an answer when there are stacks and none is on a cloud."""
    _write(tmp_path, "laptop", {"ml-platform:clusterBackend": "kind"})
    assert stacks.main(["--matrix", "--stacks-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_cli_errors_through_the_command_line(tmp_path):
    """The module run as CI runs it: exit 2 and one line, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "tools.stacks", "--matrix", "--stacks-dir", str(tmp_path / "nosuchdir")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert (
        result.stderr == f"stacks: {tmp_path / 'nosuchdir'}: no such directory of stack files (Pulumi.<stack>.yaml)\n"
    )


@pytest.mark.parametrize("mode", [[], ["--cloud"], ["--matrix"]])
def test_stacks_whose_ci_variable_suffixes_collide_are_refused_naming_both_files(tmp_path, capsys, mode):
    """`prod-eks`, `prod.eks` and `prod_eks` all map to PROD_EKS: the second stack would deploy with
    the first one's CI identities (CI_DEPLOY_IDENTITY_PROD_EKS). Refused, each pair named."""
    eks = {"ml-platform:clusterBackend": "eks", "aws:region": "eu-west-1"}
    for name in ("prod-eks", "prod.eks", "prod_eks", "dev-kind"):
        _write(tmp_path, name, eks)
    assert stacks.main([*mode, "--stacks-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert not captured.out
    first = tmp_path / "Pulumi.prod-eks.yaml"
    assert captured.err.splitlines() == [
        f"stacks: {first} and {tmp_path / f'Pulumi.{other}.yaml'}: both stacks' CI variables would end in "
        "_PROD_EKS (CI_DEPLOY_IDENTITY_PROD_EKS, ...); rename one"
        for other in ("prod.eks", "prod_eks")
    ]


def test_suffixes_differing_only_in_case_collide_too(tmp_path):
    eks = {"ml-platform:clusterBackend": "eks", "aws:region": "eu-west-1"}
    _write(tmp_path, "Prod-EKS", eks)
    _write(tmp_path, "prod-eks", eks)
    with pytest.raises(stacks.StacksError, match="both stacks' CI variables would end in _PROD_EKS"):
        stacks.ci_matrix(tmp_path)


@pytest.mark.parametrize("mode", [[], ["--cloud"], ["--matrix"]])
def test_local_stacks_may_share_a_suffix_they_never_read_ci_variables_by(tmp_path, capsys, mode):
    """Only cloud stacks read CI variables (the matrix is theirs): two kind stacks, or a kind stack
    and a cloud stack, sharing a suffix share no identity. Both kind stacks were refused, even by
    `--cloud`."""
    kind = {"ml-platform:clusterBackend": "kind"}
    _write(tmp_path, "dev-kind", kind)
    _write(tmp_path, "dev.kind", kind)
    _write(tmp_path, "prod-eks", {"ml-platform:clusterBackend": "eks", "aws:region": "eu-west-1"})
    _write(tmp_path, "prod.eks", kind)
    assert stacks.main([*mode, "--stacks-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert not captured.err
    if mode == ["--matrix"]:
        assert [entry["stack"] for entry in json.loads(captured.out)] == ["prod-eks"]
    else:
        expected = ["prod-eks"] if mode else ["dev-kind", "dev.kind", "prod-eks", "prod.eks"]
        assert sorted(captured.out.split()) == expected


def test_a_file_name_that_is_not_a_stack_name_is_refused(tmp_path):
    """A variable suffix holds only what GitHub allows in a variable name: Pulumi's stack-name characters."""
    _write(tmp_path, "prod eks", {"ml-platform:clusterBackend": "kind"})
    with pytest.raises(stacks.StacksError, match=re.escape("'prod eks' is not a stack name")):
        stacks.all_stacks(tmp_path)
