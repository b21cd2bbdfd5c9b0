"""The images' Dockerfiles, .dockerignore and requirements, checked without a Docker engine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from images_helpers import ROOT

IMAGES = ("trainer", "server")
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def instructions(image: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "images" / image / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage(image: str) -> list[tuple[str, str]]:
    steps = instructions(image)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def requirements(image: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / "images" / image / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, separator, version = line.partition("==")
            assert separator and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) and version, (
                f"not an exact pin: {line!r}"
            )
            pins[name.lower().replace("_", "-")] = version
    return pins


@pytest.mark.parametrize("image", IMAGES)
def test_hadolint_finds_nothing(image: str) -> None:
    """hadolint (the Dockerfile linter CI runs) reports no finding at any level."""
    result = subprocess.run(
        [HADOLINT, "--no-color", "-f", "json", str(ROOT / "images" / image / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and json.loads(result.stdout) == [], result.stdout + result.stderr


@pytest.mark.parametrize("image", IMAGES)
def test_every_hadolint_exception_is_justified(image: str) -> None:
    """A `# hadolint ignore=` pragma must sit under a comment that says why."""
    lines = (ROOT / "images" / image / "Dockerfile").read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            above = lines[number - 1].strip() if number else ""
            assert above.startswith("#") and "hadolint" not in above, f"line {number + 1}: no reason given"


@pytest.mark.parametrize("image", IMAGES)
def test_bases_are_pinned_by_digest_and_stages_are_separate(image: str) -> None:
    """Every FROM resolves to an image pinned by digest, and the image is multi-stage (the
    dependency install happens in a stage the runtime image does not inherit)."""
    steps = instructions(image)
    args = dict(re.match(r"(\w+)=(\S+)", rest).groups() for keyword, rest in steps if keyword == "ARG" and "=" in rest)
    froms = [rest.split()[0] for keyword, rest in steps if keyword == "FROM"]
    assert len(froms) >= 2
    for reference in froms:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], reference)
        assert DIGEST.search(resolved), f"{reference} is not pinned by digest"
    runtime = final_stage(image)
    assert not any(keyword == "RUN" for keyword, _ in runtime), "the runtime stage should only copy"


@pytest.mark.parametrize("image", IMAGES)
def test_runtime_stage_runs_as_non_root_with_a_read_only_friendly_environment(image: str) -> None:
    """The runtime runs as uid/gid 10001 and points HOME and caches at /tmp (the only writable
    place under readOnlyRootFilesystem), with bytecode writing off."""
    runtime = final_stage(image)
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users == ["10001:10001"]
    env = " ".join(rest for keyword, rest in runtime if keyword == "ENV")
    for setting in ("HOME=/tmp", "PYTHONDONTWRITEBYTECODE=1", "XDG_CACHE_HOME=/tmp/.cache"):
        assert setting in env


@pytest.mark.parametrize(("image", "script"), [("trainer", "/app/train.py"), ("server", "/app/serve.py")])
def test_entrypoint_and_layout_match_the_contract(image: str, script: str) -> None:
    """The stacks run `python /app/<script>` (the trainer also via torchrun) from WORKDIR /app."""
    runtime = final_stage(image)
    assert ("ENTRYPOINT", f'["python", "{script}"]') in runtime
    assert ("WORKDIR", "/app") in runtime
    if image == "server":
        from mlserve.settings import Settings

        ports = [Settings.model_fields[port].default for port in ("port", "admin_port")]
        assert ("EXPOSE", " ".join(map(str, ports))) in runtime
        env = " ".join(rest for keyword, rest in runtime if keyword == "ENV")
        assert f"PORT={ports[0]}" in env and f"ADMIN_PORT={ports[1]}" in env


@pytest.mark.parametrize("image", IMAGES)
def test_code_is_copied_after_dependencies(image: str) -> None:
    """Dependencies are installed from requirements.txt before any code is copied, so a code
    change reuses the cached dependency layers."""
    steps = instructions(image)
    install = next(i for i, (k, rest) in enumerate(steps) if k == "RUN" and "requirements.txt" in rest)
    requirements_copy = next(i for i, (k, rest) in enumerate(steps) if k == "COPY" and "requirements.txt" in rest)
    code_copies = [i for i, (k, rest) in enumerate(steps) if k == "COPY" and "/app/" in rest]
    assert requirements_copy < install < min(code_copies)
    assert max(code_copies) == max(i for i, (k, _) in enumerate(steps) if k == "COPY")


def _pattern_regex(pattern: str) -> str:
    """A .dockerignore pattern as a regex: `*` within a path segment, `**` across segments."""
    regex, index = "", 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            regex, index = regex + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            regex, index = regex + ".*", index + 2
        elif pattern[index] == "*":
            regex, index = regex + "[^/]*", index + 1
        elif pattern[index] == "?":
            regex, index = regex + "[^/]", index + 1
        else:
            regex, index = regex + re.escape(pattern[index]), index + 1
    return regex


def _dockerignore_allows(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    allowed = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!").rstrip("/"))
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            allowed = negated
    return allowed


@pytest.mark.parametrize("image", IMAGES)
def test_dockerignore_sends_exactly_what_is_copied(image: str) -> None:
    """Every COPY source exists and passes .dockerignore; caches and docs stay out of the
    build context (smaller uploads, no accidental cache busting)."""
    context = ROOT / "images" / image
    patterns = [
        line.strip()
        for line in (context / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for keyword, rest in instructions(image):
        if keyword == "COPY" and "--from" not in rest:
            source = rest.split()[0].rstrip("/")
            assert (context / source).exists(), source
            assert _dockerignore_allows(patterns, source), f"{source} is excluded by .dockerignore"
            for file in (context / source).rglob("*.py") if (context / source).is_dir() else []:
                assert _dockerignore_allows(patterns, file.relative_to(context).as_posix())
    for excluded in ("README.md", "Dockerfile", "mlx/__pycache__/x.pyc", ".venv"):
        assert not _dockerignore_allows(patterns, excluded)


def test_requirements_are_exact_pins_that_agree_and_keep_torch_out_of_the_server() -> None:
    """Both images pin every package exactly; packages they share have one version (the dev
    environment installs both files together); the server carries no torch or CUDA."""
    trainer, server = requirements("trainer"), requirements("server")
    for name in set(trainer) & set(server):
        assert trainer[name] == server[name], name
    assert {"torch", "onnx", "scikit-learn", "s3fs", "gcsfs"} <= set(trainer)
    assert {
        "onnxruntime",
        "uvicorn",
        "uvloop",
        "httptools",
        "orjson",
        "prometheus-client",
        "pydantic-settings",
        "s3fs",
        "gcsfs",
    } <= set(server)
    assert not [name for name in server if name in ("torch", "triton") or name.startswith("nvidia-")]


@pytest.mark.parametrize("image", IMAGES)
def test_tests_ran_against_the_pinned_versions(image: str) -> None:
    """The environment running these tests has exactly the images' pins (torch's local +cpu
    label aside), so what passed here is what the images contain."""
    mismatched = {}
    for name, version in requirements(image).items():
        installed = metadata.version(name).split("+", 1)[0]
        if installed != version:
            mismatched[name] = (version, installed)
    assert mismatched == {}


@pytest.mark.parametrize("image", IMAGES)
def test_no_secrets_in_build_arguments_or_environment(image: str) -> None:
    """Credentials come from the cluster at run time (IRSA, workload identity), never from a
    layer: no ARG or ENV names a secret."""
    for keyword, rest in instructions(image):
        if keyword in ("ARG", "ENV"):
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|ACCESS_KEY|CREDENTIAL)", rest, re.IGNORECASE), rest


# PyPI's torch==2.13.0 wheel for linux x86_64 (what the trainer image installs) is built for
# CUDA 13 and pulls nvidia-*-cu13 wheels; a driver older than R580 cannot run it.
TORCH_PYPI_CUDA_MAJOR = "13"


def test_trainer_docs_name_the_cuda_version_torch_is_built_for() -> None:
    """Every mention of a CUDA major version in the trainer's Dockerfile, requirements and README
    is the one PyPI's torch wheel is built for: someone choosing GPU nodes and drivers reads
    these (the Dockerfile said CUDA 12 while the README said 13)."""
    mentions = {}
    for name in ("Dockerfile", "requirements.txt", "README.md"):
        text = (ROOT / "images" / "trainer" / name).read_text()
        mentions[name] = set(re.findall(r"CUDA (\d+)", text))
    assert mentions["Dockerfile"] and mentions["README.md"], mentions
    assert all(found <= {TORCH_PYPI_CUDA_MAJOR} for found in mentions.values()), mentions
