"""Render and import costs of the Pulumi program.

    .venv/bin/python bench/bench_render.py [--repeat 3]

Prints wall and CPU time of rendering each shipped stack (tools.render.known_stacks) and of dev-kind
stacks with 1, 10 and 100 models (each a fresh process, as `pulumi preview` would start one), and
of importing what the dev-kind program imports versus that plus the AWS and GCP SDKs.
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.config import NAMESPACE as NS  # noqa: E402 - after the path that makes it importable
from tools.render import known_stacks  # noqa: E402

PROGRAM_IMPORTS = (
    "import pulumi, pulumi_kubernetes, pulumi_docker, pulumi_command, yaml, pydantic; "
    "import components.platform, components.backends.kind.platform, components.image, "
    "components.workloads.training_job, components.workloads.model_service"
)
# The SDKs load submodules lazily: touching the classes a backend uses is what a program pays.
CLOUD_IMPORTS = {
    "pulumi_aws": (
        "import pulumi_aws as a; a.ec2.Vpc, a.eks.NodeGroup, a.iam.Role, a.s3.Bucket, a.ecr.Repository, a.kms.Key"
    ),
    "pulumi_gcp": (
        "import pulumi_gcp as g; "
        "g.compute.Network, g.container.Cluster, g.artifactregistry.Repository, g.storage.Bucket"
    ),
}


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds (user + system) of the process: on a shared machine the CPU
    figure stays comparable when other load stretches the wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_of(repeat: int, command: list[str]) -> str:
    """`median wall s` and `median CPU s` columns."""
    runs = [timed(command) for _ in range(repeat)]
    wall = statistics.median(run[0] for run in runs)
    cpu = statistics.median(run[1] for run in runs)
    return f"{wall:>14.2f}{cpu:>14.2f}"


def stack_with_models(count: int, directory: Path) -> str:
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev-kind.yaml").read_text())
    template = document["config"][f"{NS}:models"][0]
    models = []
    for index in range(count):
        model = copy.deepcopy(template)
        model["name"] = f"model-{index}"
        models.append(model)
    document["config"][f"{NS}:models"] = models
    name = f"bench-{count}"
    (directory / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document))
    return name


def installed(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, check=False).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        render = [python, "-m", "tools.render"]
        print(f"{'what':<48}{'median wall s':>14}{'median CPU s':>14}")
        for stack in known_stacks():
            figures = median_of(args.repeat, [*render, stack, "--out", str(scratch_path / stack)])
            print(f"{f'render {stack}':<48}{figures}")
        for count in (1, 10, 100):
            stack = stack_with_models(count, scratch_path)
            command = [*render, stack, "--out", str(scratch_path / stack), "--stacks-dir", str(scratch_path)]
            print(f"{f'render a stack with {count} model(s)':<48}{median_of(args.repeat, command)}")

    print(f"{'import the dev-kind program':<48}{median_of(args.repeat, [python, '-c', PROGRAM_IMPORTS])}")
    extra = ""
    for module, statement in CLOUD_IMPORTS.items():
        if not installed(module):
            print(f"{f'  + {module}':<48}{'not installed':>14}")
            continue
        extra += "; " + statement
        figures = median_of(args.repeat, [python, "-c", PROGRAM_IMPORTS + extra])
        print(f"{f'  + {module} (cumulative)':<48}{figures}")


if __name__ == "__main__":
    main()
