"""The stacks and what CI needs to know about each, read from the stack files.

    python -m tools.stacks            # every stack, one name a line
    python -m tools.stacks --cloud    # the cloud stacks (clusterBackend other than kind)
    python -m tools.stacks --matrix   # the cloud stacks as the GitHub workflows' matrix entries (JSON)

The stack list has one source, `tools.render.known_stacks()` (the files `stacks/Pulumi.*.yaml`);
this module adds each stack's cluster backend (its `clusterBackend`, or the project default from
`Pulumi.yaml`), the cloud whose credentials CI needs for it (the provider namespace its row in the
backend table declares, e.g. `aws`), and its region (`<cloud>:region`). No Pulumi SDK is imported,
so scripts and the workflows' tests can call it cheaply.

A stacks directory that is missing or holds no stack file, a stack file the render would refuse
(tools/stack_file.py), an unknown cluster backend, or two cloud stacks whose names give the same CI
variable suffix (`prod-eks`, `prod.eks` and `prod_eks` are all `PROD_EKS`: they would share one set
of CI identities; local stacks read no CI variables and may share one) is a StacksError: on the command line, one line
`stacks: ...` per problem and exit status 2, never an empty list that a workflow would take for
"no stacks". (A directory whose stacks are all local gives an empty `--cloud` list and matrix:
that is an answer, not an error.)
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # `python tools/X.py`: run as `python -m tools.X`
    import _as_module  # type: ignore[import-not-found]  # noqa: F401 - never returns (tools/_as_module.py)

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components import backends
from components.config import PROJECT_ROOT
from tools import stack_file
from tools.render import STACKS_DIR, declared_string_keys, known_stacks, project_name


class StacksError(ValueError):
    """A stacks directory or stack file that does not say which stacks there are; exit status 2."""


@dataclass(frozen=True, kw_only=True)
class Stack:
    name: str
    cluster_backend: str
    cloud: str | None
    """`aws`, `gcp`, or None for the local (kind) backend."""
    region: str
    """The provider's region from the stack file; empty when the stack sets none."""

    @property
    def var_suffix(self) -> str:
        """Suffix of the stack's repository variables: `prod-eks` -> `PROD_EKS` (docs/ci.md)."""
        return var_suffix(self.name)

    def matrix_entry(self) -> dict[str, str]:
        return {"stack": self.name, "cloud": self.cloud or "", "region": self.region, "var_suffix": self.var_suffix}


STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")
"""What Pulumi allows in a stack name; each maps to a character GitHub allows in a variable name."""


def var_suffix(stack: str) -> str:
    """The suffix of a stack's repository variables (`CI_DEPLOY_IDENTITY_<SUFFIX>`): the name in
    capitals with `-` and `.` as `_`. Distinct names can share one (`prod-eks`, `prod.eks`);
    `stack_names` refuses that for cloud stacks."""
    return stack.upper().replace("-", "_").replace(".", "_")


def _suffix_problems(names: list[str], stacks_dir: Path) -> list[str]:
    """One line per stack name Pulumi would refuse, and per pair of cloud stacks whose variable
    suffixes collide (the second would read the first one's CI identities), naming both files.
    Only cloud stacks read CI variables (the workflows' matrix is theirs): local stacks (`dev-kind`
    and `dev.kind`, or `prod-eks` and a kind `prod.eks`) may share a suffix. Only the stack files
    of names that share one are read."""
    problems = [
        f"{stacks_dir / f'Pulumi.{name}.yaml'}: {name!r} is not a stack name: "
        "Pulumi allows letters, digits, '-', '_' and '.'"
        for name in names
        if not STACK_NAME.fullmatch(name)
    ]
    by_suffix: dict[str, list[str]] = {}
    for name in names:
        if STACK_NAME.fullmatch(name):
            by_suffix.setdefault(var_suffix(name), []).append(name)
    for suffix, sharing in by_suffix.items():
        if len(sharing) < 2:
            continue
        cloud = [name for name in sharing if stack_info(name, stacks_dir).cloud is not None]
        problems.extend(
            f"{stacks_dir / f'Pulumi.{cloud[0]}.yaml'} and {stacks_dir / f'Pulumi.{name}.yaml'}: both "
            f"stacks' CI variables would end in _{suffix} (CI_DEPLOY_IDENTITY_{suffix}, ...); rename one"
            for name in cloud[1:]
        )
    return problems


def default_cluster_backend(project_file: Path = PROJECT_ROOT / "Pulumi.yaml") -> str:
    """`clusterBackend`'s default as Pulumi.yaml declares it (what a stack that omits it gets)."""
    document = yaml.safe_load(project_file.read_text())
    return str(document["config"]["clusterBackend"]["default"])


def _config(stack: str, stacks_dir: Path) -> dict[str, Any]:
    """The stack file read as the render reads it (tools/stack_file.py: one reader, one set of checks)."""
    try:
        return stack_file.read_config(stacks_dir / f"Pulumi.{stack}.yaml", project_name(), declared_string_keys())
    except stack_file.StackFileError as error:
        raise StacksError(str(error)) from None


def stack_info(stack: str, stacks_dir: Path = STACKS_DIR) -> Stack:
    config = _config(stack, stacks_dir)
    backend = str(config.get(f"{project_name()}:clusterBackend", default_cluster_backend()))
    if backend not in backends.CLUSTERS:
        raise StacksError(f"stack {stack}: unknown cluster backend {backend!r} (known: {', '.join(backends.CLUSTERS)})")
    provider = backends.CLUSTERS[backend].provider
    if provider is None:
        # No cloud provider: the cluster is local (kind) or reached by a kubeconfig, not by CI's OIDC.
        return Stack(name=stack, cluster_backend=backend, cloud=None, region="")
    region = config.get(f"{provider.namespace}:region", "")
    return Stack(name=stack, cluster_backend=backend, cloud=provider.namespace, region=str(region))


def stack_names(stacks_dir: Path = STACKS_DIR) -> list[str]:
    """`known_stacks`, refusing a directory that is missing or holds no stack file (a mistyped
    `--stacks-dir` would otherwise be an empty list: no stack previewed, deployed or checked), and
    names that are not stack names or cloud stacks whose CI variable suffixes collide."""
    if not stacks_dir.is_dir():
        raise StacksError(f"{stacks_dir}: no such directory of stack files (Pulumi.<stack>.yaml)")
    names = known_stacks(stacks_dir)
    if not names:
        raise StacksError(f"{stacks_dir}: holds no stack file (Pulumi.<stack>.yaml)")
    if problems := _suffix_problems(names, stacks_dir):
        raise StacksError("\n".join(problems))
    return names


def all_stacks(stacks_dir: Path = STACKS_DIR) -> list[Stack]:
    return [stack_info(name, stacks_dir) for name in stack_names(stacks_dir)]


def cloud_stacks(stacks_dir: Path = STACKS_DIR) -> list[Stack]:
    """The stacks CI previews with credentials, deploys from main and checks for drift."""
    return [stack for stack in all_stacks(stacks_dir) if stack.cloud is not None]


def ci_matrix(stacks_dir: Path = STACKS_DIR) -> list[dict[str, str]]:
    """The `strategy.matrix.include` list of the preview, deploy and drift workflows."""
    return [stack.matrix_entry() for stack in cloud_stacks(stacks_dir)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stacks", description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--cloud", action="store_true", help="only the stacks on a cloud backend")
    group.add_argument("--matrix", action="store_true", help="the cloud stacks as workflow matrix entries (JSON)")
    parser.add_argument("--stacks-dir", type=Path, default=STACKS_DIR, help="where stack files live (default: stacks/)")
    args = parser.parse_args(argv)
    try:
        if args.matrix:
            print(json.dumps(ci_matrix(args.stacks_dir), indent=2))
            return 0
        names = [stack.name for stack in cloud_stacks(args.stacks_dir)] if args.cloud else stack_names(args.stacks_dir)
    except StacksError as error:
        for line in str(error).splitlines():
            print(f"stacks: {line}", file=sys.stderr)
        return 2
    for name in names:
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
