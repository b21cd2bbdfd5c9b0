"""Tier 2: components under Pulumi's mocks, in process. The mocks answer for Docker's API."""

from __future__ import annotations

import pulumi
import pytest

from components.config import TrainingConfig
from components.contracts.registry import ImageRepository
from components.image import Image, ImageArgs, MissingDigestError, require_digest
from components.workloads.training_job import run_id
from tools.mocks import PlatformMocks, RecordingMonitor

DIGEST = "sha256:" + "a" * 64


def _mocks(repo_digest: str | None) -> PlatformMocks:
    def docker_image(args):
        return "image-id", {**args.inputs, "repoDigest": repo_digest}

    return PlatformMocks(resources={"docker:index/image:Image": docker_image})


@pytest.fixture
def mocked():
    def install(repo_digest):
        mocks = _mocks(repo_digest)
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_mocks(mocks, project="ml-platform", stack="test", preview=False, monitor=monitor)
        return monitor

    return install


def _image() -> Image:
    return Image(
        "trainer",
        ImageArgs(
            context="images/trainer", repository=ImageRepository(url="localhost:5001/trainer"), platform="linux/amd64"
        ),
    )


@pulumi.runtime.test
def test_image_ref_is_the_digest_the_registry_returned(mocked):
    mocked(f"localhost:5001/trainer@{DIGEST}")
    image = _image()

    def check(values):
        ref, tag = values
        assert ref == f"localhost:5001/trainer@{DIGEST}"
        assert len(tag) == 16

    return pulumi.Output.all(image.ref, image.tag).apply(check)


def test_image_without_a_digest_is_an_error_not_a_tag():
    with pytest.raises(MissingDigestError, match="refusing to deploy by mutable tag"):
        require_digest("trainer", None)
    with pytest.raises(MissingDigestError):
        require_digest("trainer", "localhost:5001/trainer:latest")
    assert require_digest("trainer", f"r/t@{DIGEST}") == f"r/t@{DIGEST}"


@pulumi.runtime.test
def test_image_children_are_parented_and_wait_for_the_registry(mocked):
    monitor = mocked(f"localhost:5001/trainer@{DIGEST}")
    image = _image()

    def check(_):
        (build,) = [r for r in monitor.registrations if r.type == "docker:index/image:Image"]
        assert build.parent.endswith("ml-platform:image:Image::trainer")
        assert build.inputs["build"]["platform"] == "linux/amd64"
        assert build.inputs["build"]["cacheFrom"]["images"] == [build.inputs["imageName"]]

    return image.ref.apply(check)


def test_run_id_follows_image_and_settings():
    """Same image and settings resume the same run; any change is a new run (and a new Job)."""
    base = TrainingConfig(image="trainer")
    same = run_id(f"r@{DIGEST}", base)
    assert same == run_id(f"r@{DIGEST}", TrainingConfig(image="trainer"))
    assert same != run_id("r@sha256:" + "b" * 64, base)
    assert same != run_id(f"r@{DIGEST}", TrainingConfig(image="trainer", epochs=11))
    assert same != run_id(f"r@{DIGEST}", TrainingConfig(image="trainer", nodes=2))
    assert len(same) == 12


def test_resizing_a_run_keeps_its_id():
    """More memory or retries does not change the model: the replaced Job resumes the same run."""
    from components.config import Resources

    base = run_id(f"r@{DIGEST}", TrainingConfig(image="trainer"))
    resized = TrainingConfig(
        image="trainer", resources=Resources(cpu="4", memory="8Gi", gpus=1), backoff_limit=9, active_deadline_seconds=99
    )
    assert run_id(f"r@{DIGEST}", resized) == base
