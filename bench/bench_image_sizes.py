"""Installed size of each image's Python dependencies (server vs trainer), without Docker.

    python bench/bench_image_sizes.py [--resolve-cuda]

Sizes are summed from the installed files (RECORD) of every package an image's
requirements.txt pins, as installed in the running environment (so the same pins the
Dockerfiles install). Here torch is the local CPU wheel; the trainer image gets PyPI's CUDA
build, whose bundled nvidia-* libraries come on top. --resolve-cuda asks pip (dry run, index
metadata only, nothing installed) which extra packages that build pulls for linux x86_64.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ("server", "trainer")


def pinned(image: str) -> list[str]:
    names = []
    for line in (ROOT / "images" / image / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line.split("==")[0])
    return names


def installed_bytes(name: str) -> int:
    dist = metadata.distribution(name)
    total = 0
    for file in dist.files or []:
        path = Path(dist.locate_file(file))
        if path.is_file():
            total += path.stat().st_size
    return total


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def resolve_cuda_extras() -> list[str]:
    """Packages PyPI's linux x86_64 torch pulls beyond the trainer's pins (pip dry run against
    pypi.org only, index metadata, nothing installed)."""
    platforms = [f"manylinux_2_{minor}_x86_64" for minor in range(17, 36)] + ["manylinux2014_x86_64"]
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = [
            sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
            "--report", str(report), "--python-version", "3.11", "--only-binary=:all:",
            "--target", str(Path(scratch) / "t"), "--index-url", "https://pypi.org/simple", "--no-cache-dir",
            *(f"--platform={p}" for p in platforms),
            "-r", str(ROOT / "images" / "trainer" / "requirements.txt"),
        ]  # fmt: skip
        # This machine's pip configuration may add local indexes; ask PyPI alone.
        env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": ""}
        subprocess.run(command, check=True, env=env)
        items = json.loads(report.read_text())["install"]
    pins = {_canonical(n) for n in pinned("trainer")}
    return sorted(
        f"{i['metadata']['name']}=={i['metadata']['version']}"
        for i in items
        if _canonical(i["metadata"]["name"]) not in pins
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolve-cuda", action="store_true", help="list the CUDA build's extra packages (network)")
    args = parser.parse_args()
    sizes = {image: {name: installed_bytes(name) for name in pinned(image)} for image in IMAGES}
    mib = 1024 * 1024
    print("| image | packages | installed MiB | largest |")
    print("|---|---|---|---|")
    for image in IMAGES:
        largest = sorted(sizes[image].items(), key=lambda item: -item[1])[:4]
        print(
            f"| {image} | {len(sizes[image])} | {sum(sizes[image].values()) / mib:.0f} "
            f"| {', '.join(f'{n} {b / mib:.0f}' for n, b in largest)} |"
        )
    ratio = sum(sizes["server"].values()) / sum(sizes["trainer"].values())
    print(f"\nserver dependencies are {ratio:.0%} of the trainer's (trainer measured with the CPU torch wheel)")
    torch_version = metadata.version("torch")
    print(f"torch here: {torch_version}")
    if args.resolve_cuda:
        extras = resolve_cuda_extras()
        print(f"\nPyPI's linux x86_64 torch build adds {len(extras)} packages to the trainer image:")
        for extra in extras:
            print(f"  {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
