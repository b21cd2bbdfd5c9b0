"""The trainer run for real: `python images/trainer/train.py` and `torchrun`, on CPU."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from images_helpers import (
    FIXTURE_EPOCHS,
    FIXTURE_SEED,
    TrainedModel,
    child_env,
    run_trainer,
    trainer_command,
)
from mltrain.data import load_split
from mltrain.model import DigitsNet

# Every test here starts real processes; the first one also pays for the session's training run.
pytestmark = pytest.mark.timeout(300)

EPOCH_LINE = re.compile(
    r"rank=(\d+) epoch=(\d+)/(\d+) loss=[\d.]+ test_accuracy=([\d.]+) lr=[\d.]+ epoch_seconds=[\d.]+ checkpoint=\S+"
)


def onnx_logits(model_path: Path, images: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input": images})
    return logits


def epochs_logged(log: str) -> list[int]:
    return [int(m.group(2)) for m in EPOCH_LINE.finditer(log)]


def test_onnx_model_reaches_accuracy_on_held_out_split(trained_model: TrainedModel) -> None:
    """The exported model, run by onnxruntime as the server runs it, classifies >= 95 % of the
    held-out images, and the accuracy in metadata.json is the one it really has."""
    split = load_split()
    predictions = onnx_logits(trained_model.path / "model.onnx", split.test_images).argmax(axis=1)
    accuracy = float((predictions == split.test_labels).mean())
    assert accuracy >= 0.95
    assert abs(accuracy - trained_model.metadata["test_accuracy"]) <= 1 / len(split.test_labels)


def test_onnx_and_torch_agree(trained_model: TrainedModel) -> None:
    """The ONNX export computes what the trained torch network computes (same logits, same
    classes), so serving does not change the model's answers."""
    checkpoint = torch.load(trained_model.path / "checkpoints" / f"epoch-{FIXTURE_EPOCHS:04d}.pt", weights_only=True)
    network = DigitsNet()
    network.load_state_dict(checkpoint["model"])
    network.eval()
    images = load_split().test_images
    with torch.no_grad():
        torch_logits = network(torch.from_numpy(images)).numpy()
    exported = onnx_logits(trained_model.path / "model.onnx", images)
    np.testing.assert_allclose(exported, torch_logits, rtol=1e-4, atol=1e-4)
    assert (exported.argmax(axis=1) == torch_logits.argmax(axis=1)).all()


def test_metadata_describes_the_model(trained_model: TrainedModel) -> None:
    """metadata.json carries what the server and people need: name, a content-derived version,
    the checksum of model.onnx, input shape, labels, accuracy and the training parameters."""
    metadata = trained_model.metadata
    model_bytes = (trained_model.path / "model.onnx").read_bytes()
    digest = hashlib.sha256(model_bytes).hexdigest()
    assert metadata["model_name"] == "digits"
    assert metadata["model_sha256"] == digest
    assert metadata["version"] == digest[:12]
    assert metadata["input_shape"] == [1, 8, 8]
    assert metadata["input_name"] == "input" and metadata["output_name"] == "logits"
    assert metadata["class_labels"] == list(range(10))
    assert metadata["train_samples"] + metadata["test_samples"] == 1797
    training = metadata["training"]
    assert training["epochs"] == FIXTURE_EPOCHS
    assert training["seed"] == FIXTURE_SEED
    assert training["batch_size"] == 32 and training["learning_rate"] == 3e-3
    assert training["world_size"] == 1 and training["device"] == "cpu"
    assert training["resumed_from_epoch"] is None
    # metadata.json is written last: its presence means model.onnx next to it is complete.
    assert (trained_model.path / "metadata.json").stat().st_mtime_ns >= (
        trained_model.path / "model.onnx"
    ).stat().st_mtime_ns


def test_a_checkpoint_per_epoch_and_a_log_line_per_epoch(trained_model: TrainedModel) -> None:
    """Every epoch leaves a loadable checkpoint (what a preempted run resumes from) and one
    key=value log line (what kubectl logs shows); no temporary files are left behind."""
    names = sorted(p.name for p in (trained_model.path / "checkpoints").iterdir())
    assert names == [f"epoch-{e:04d}.pt" for e in range(1, FIXTURE_EPOCHS + 1)]
    third = torch.load(trained_model.path / "checkpoints" / "epoch-0003.pt", weights_only=True)
    assert third["epoch"] == 3 and set(third) >= {"model", "optimizer", "test_accuracy"}
    assert sorted(p.name for p in trained_model.path.iterdir()) == [
        "checkpoints",
        "metadata.json",
        "model.onnx",
    ]
    assert epochs_logged(trained_model.log) == list(range(1, FIXTURE_EPOCHS + 1))


def test_killed_run_resumes_from_checkpoint_and_finishes_identically(
    trained_model: TrainedModel, tmp_path: Path
) -> None:
    """A run killed mid-training (as on a preempted spot node) and started again with the same
    output resumes from its newest checkpoint, trains only the remaining epochs and produces
    the very model an uninterrupted run produces."""
    uri = (tmp_path / "run").as_uri()
    process = subprocess.Popen(
        trainer_command(uri, "--epochs", str(FIXTURE_EPOCHS), "--seed", str(FIXTURE_SEED)),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first_log = ""
        assert process.stdout is not None
        for line in process.stdout:
            first_log += line
            if f"epoch=2/{FIXTURE_EPOCHS}" in line:
                process.kill()
                break
    finally:
        process.kill()
        process.wait(timeout=30)
    assert process.returncode != 0, "the first run finished before it could be killed"
    assert not (tmp_path / "run" / "metadata.json").exists()
    done = [int(p.stem.split("-")[1]) for p in (tmp_path / "run" / "checkpoints").glob("epoch-*.pt")]
    newest = max(done)
    assert 2 <= newest < FIXTURE_EPOCHS

    second = run_trainer(uri, "--epochs", str(FIXTURE_EPOCHS), "--seed", str(FIXTURE_SEED))
    assert second.returncode == 0, second.stdout
    assert f"resuming from checkpoints/epoch-{newest:04d}.pt" in second.stdout
    assert epochs_logged(second.stdout) == list(range(newest + 1, FIXTURE_EPOCHS + 1))
    metadata = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert metadata["training"]["resumed_from_epoch"] == newest
    # Deterministic on CPU: the resumed model is bit for bit the uninterrupted one.
    assert metadata["model_sha256"] == trained_model.metadata["model_sha256"]


def test_rerun_on_a_finished_output_changes_nothing(trained_model: TrainedModel) -> None:
    """A Job retried after it finished (or a second apply) must not retrain or rewrite the model
    a server may be reading."""
    before = {p: p.stat().st_mtime_ns for p in trained_model.path.rglob("*") if p.is_file()}
    result = run_trainer(trained_model.uri, "--epochs", str(FIXTURE_EPOCHS))
    assert result.returncode == 0, result.stdout
    assert "already complete" in result.stdout
    assert epochs_logged(result.stdout) == []
    assert {p: p.stat().st_mtime_ns for p in trained_model.path.rglob("*") if p.is_file()} == before


def test_unreadable_newest_checkpoint_falls_back_to_the_one_before(trained_model: TrainedModel, tmp_path: Path) -> None:
    """A checkpoint torn by a crash mid-upload is skipped with a warning; the run resumes from
    the newest one that loads instead of failing or starting over."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for epoch in (1, 2, 3):
        name = f"epoch-{epoch:04d}.pt"
        shutil.copy(trained_model.path / "checkpoints" / name, run / "checkpoints" / name)
    torn = run / "checkpoints" / "epoch-0003.pt"
    torn.write_bytes(torn.read_bytes()[:1000])
    result = run_trainer(run.as_uri(), "--epochs", "4")
    assert result.returncode == 0, result.stdout
    assert "skipping unreadable checkpoint checkpoints/epoch-0003.pt" in result.stdout
    assert "resuming from checkpoints/epoch-0002.pt" in result.stdout
    assert epochs_logged(result.stdout) == [3, 4]
    assert (run / "metadata.json").exists()


@pytest.mark.timeout(300)
def test_torchrun_two_processes_train_one_model(tmp_path: Path) -> None:
    """Under torchrun (the Kubernetes Job's command, gloo on CPU) two processes train one model:
    their parameters are identical at the end, only rank 0 logs epochs and writes, and the model
    is as good as a single process's."""
    run = tmp_path / "run"
    result = run_trainer(run.as_uri(), "--epochs", str(FIXTURE_EPOCHS), processes=2, timeout=280)
    assert result.returncode == 0, result.stdout
    digests = dict(re.findall(r"rank=(\d+) finished training parameters_sha256=([0-9a-f]{64})", result.stdout))
    assert set(digests) == {"0", "1"}
    assert digests["0"] == digests["1"], "DDP let the ranks' parameters diverge"
    ranks_logging_epochs = {m.group(1) for m in EPOCH_LINE.finditer(result.stdout)}
    assert ranks_logging_epochs == {"0"}
    assert epochs_logged(result.stdout) == list(range(1, FIXTURE_EPOCHS + 1))
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["training"]["world_size"] == 2
    split = load_split()
    accuracy = (onnx_logits(run / "model.onnx", split.test_images).argmax(axis=1) == split.test_labels).mean()
    assert accuracy >= 0.95


def test_bad_flags_are_rejected_together(capsys: pytest.CaptureFixture[str]) -> None:
    """Invalid flags stop the trainer before any work, naming every bad flag at once."""
    from train import parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--output-uri", "file:///tmp/x", "--epochs", "0", "--batch-size", "-1", "--learning-rate", "nan"])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "--epochs must be at least 1" in message
    assert "--batch-size must be at least 1" in message
    assert "--learning-rate must be a positive number" in message


def test_checkpoint_is_torch_loadable_without_pickled_code(trained_model: TrainedModel) -> None:
    """Checkpoints hold only tensors and plain values, so resuming loads them with
    weights_only=True: a checkpoint in a shared bucket cannot run code in the trainer."""
    data = (trained_model.path / "checkpoints" / "epoch-0001.pt").read_bytes()
    state = torch.load(io.BytesIO(data), weights_only=True)
    assert state["format"] == 1 and state["config"]["output_uri"] == trained_model.uri
