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
    ACCURACY_BARS,
    FIXTURE_EPOCHS,
    FIXTURE_SEED,
    TrainedModel,
    child_env,
    run_trainer,
    trainer_command,
)
from mltrain.data import load_split
from mltrain.model import DigitsNet
from mltrain.training import TrainConfig

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


def tree_state(path: Path) -> dict[Path, int]:
    """Every file under `path` with its modification time: equal before and after means untouched."""
    return {p: p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()}


def test_onnx_model_reaches_accuracy_on_held_out_split(trained_model: TrainedModel) -> None:
    """The exported model, trained with the trainer's defaults and run by onnxruntime as the
    server runs it, classifies >= 95 % of the held-out images (the defaults clear the bar), and
    the accuracy in metadata.json is the one it really has."""
    split = load_split()
    predictions = onnx_logits(trained_model.path / "model.onnx", split.test_images).argmax(axis=1)
    accuracy = float((predictions == split.test_labels).mean())
    assert accuracy >= ACCURACY_BARS["digits"]
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
    assert metadata["input_range"] == [0.0, 16.0]
    assert metadata["model_sha256"] == digest
    assert metadata["version"] == digest[:12]
    assert metadata["input_shape"] == [1, 8, 8]
    assert metadata["input_name"] == "input" and metadata["output_name"] == "logits"
    assert metadata["class_labels"] == list(range(10))
    assert metadata["train_samples"] + metadata["test_samples"] == 1797
    training = metadata["training"]
    # The session's model is the trainer's defaults, so the accuracy tests measure them.
    defaults = TrainConfig(output_uri="")
    assert (FIXTURE_EPOCHS, FIXTURE_SEED) == (defaults.epochs, defaults.seed)
    assert training["dataset"] == "digits" == defaults.dataset
    assert training["epochs"] == defaults.epochs and training["seed"] == defaults.seed
    assert training["batch_size"] == defaults.batch_size and training["learning_rate"] == defaults.learning_rate
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
        "run.json",
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
    before = tree_state(trained_model.path)
    result = run_trainer(trained_model.uri, "--epochs", str(FIXTURE_EPOCHS))
    assert result.returncode == 0, result.stdout
    assert "already complete" in result.stdout
    assert epochs_logged(result.stdout) == []
    assert tree_state(trained_model.path) == before


def copy_partial_run(trained_model: TrainedModel, run: Path, epochs: int) -> Path:
    """`run` as a run of the session's settings stopped after `epochs` epochs: its run.json and
    first checkpoints, no model."""
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(trained_model.path / "run.json", run / "run.json")
    for epoch in range(1, epochs + 1):
        name = f"epoch-{epoch:04d}.pt"
        shutil.copy(trained_model.path / "checkpoints" / name, run / "checkpoints" / name)
    return run


def test_unreadable_newest_checkpoint_falls_back_to_the_one_before(trained_model: TrainedModel, tmp_path: Path) -> None:
    """A checkpoint torn by a crash mid-upload is skipped with a warning; the run resumes from
    the newest one that loads instead of failing or starting over."""
    newest = FIXTURE_EPOCHS - 1  # so that only two epochs are left to train
    run = copy_partial_run(trained_model, tmp_path / "run", newest)
    torn = run / "checkpoints" / f"epoch-{newest:04d}.pt"
    torn.write_bytes(torn.read_bytes()[:1000])
    result = run_trainer(run.as_uri(), "--epochs", str(FIXTURE_EPOCHS))
    assert result.returncode == 0, result.stdout
    assert f"skipping unreadable checkpoint checkpoints/epoch-{newest:04d}.pt" in result.stdout
    assert f"resuming from checkpoints/epoch-{newest - 1:04d}.pt" in result.stdout
    assert epochs_logged(result.stdout) == [newest, FIXTURE_EPOCHS]
    # Resumed from an intact checkpoint of the same run: the very model the session trained.
    metadata = json.loads((run / "metadata.json").read_text())
    assert metadata["model_sha256"] == trained_model.metadata["model_sha256"]


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
        parse_args(
            ["--output-uri", "", "--dataset", "mnist", "--epochs", "0", "--batch-size", "-1", "--learning-rate", "nan"]
        )
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "--output-uri is empty" in message
    assert "--dataset must be one of digits, breast-cancer, got 'mnist'" in message
    assert "--epochs must be at least 1" in message
    assert "--batch-size must be at least 1" in message
    assert "--learning-rate must be a positive number" in message


BAD_VALUES = [
    ("negative seed", ["--seed", "-5"], {}, "--seed must be from 0 to 18446744073709551615"),
    ("seed beyond torch", ["--seed", str(2**70)], {}, "--seed must be from 0 to 18446744073709551615 (2**64 - 1"),
    ("learning rate 1e300", ["--learning-rate", "1e300"], {}, "--learning-rate must be a positive number up to 10"),
    ("RANK not a number", [], {"RANK": "abc"}, "environment variable RANK='abc' is not an integer"),
    ("WORLD_SIZE 0", [], {"WORLD_SIZE": "0"}, "environment variable WORLD_SIZE=0 must be at least 1"),
    ("WORLD_SIZE negative", [], {"WORLD_SIZE": "-1"}, "environment variable WORLD_SIZE=-1 must be at least 1"),
    (
        "RANK outside WORLD_SIZE",
        [],
        {"RANK": "5", "WORLD_SIZE": "2"},
        "environment variable RANK=5 must be from 0 to WORLD_SIZE-1 (1)",
    ),
    ("LOCAL_RANK negative", [], {"LOCAL_RANK": "-1"}, "environment variable LOCAL_RANK=-1 must be at least 0"),
    (
        "WORLD_SIZE without MASTER_ADDR",
        [],
        {"WORLD_SIZE": "2", "RANK": "0"},
        "environment variable MASTER_ADDR is not set; WORLD_SIZE=2 needs it (torchrun sets it)",
    ),
    (
        "WORLD_SIZE without RANK",
        [],
        {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "9"},
        "environment variable RANK is not set; WORLD_SIZE=2 needs it (torchrun sets it)",
    ),
    ("model name with a newline", ["--model-name", "a\nb"], {}, "--model-name must be a DNS-1035 label"),
]


@pytest.mark.parametrize(("flags", "env", "message"), [b[1:] for b in BAD_VALUES], ids=[b[0] for b in BAD_VALUES])
def test_bad_values_and_topology_exit_2_before_anything_is_written(
    tmp_path: Path, flags: list[str], env: dict[str, str], message: str
) -> None:
    """A flag the run cannot use (a seed torch refuses, a learning rate that overflows float32 in
    the first step) or a topology torchrun would never set is one line naming the flag or
    variable and what it allows, exit 2, and nothing written: before, each was a traceback with
    exit 1 after run.json recorded the value, so that even a corrected rerun was refused."""
    output = tmp_path / "run"
    result = subprocess.run(
        trainer_command(str(output), "--epochs", "1", *flags),
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: ") and message in lines[0], result.stderr
    assert not output.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine where torch sees no GPU")
def test_cuda_without_a_gpu_exits_2_before_anything_is_written(tmp_path: Path) -> None:
    """--device cuda where torch sees no GPU is a bad flag (one line, exit 2), not a traceback."""
    output = tmp_path / "run"
    result = run_trainer(str(output), "--device", "cuda", "--epochs", "1")
    assert result.returncode == 2, result.stdout
    assert result.stdout.splitlines() == [
        "train.py: error: --device cuda needs a GPU, and torch sees none (--device auto or cpu train on the CPU)"
    ]
    assert not output.exists()


def test_checkpoint_is_torch_loadable_without_pickled_code(trained_model: TrainedModel) -> None:
    """Checkpoints hold only tensors and plain values, so resuming loads them with
    weights_only=True: a checkpoint in a shared bucket cannot run code in the trainer."""
    data = (trained_model.path / "checkpoints" / "epoch-0001.pt").read_bytes()
    state = torch.load(io.BytesIO(data), weights_only=True)
    assert state["format"] == 1 and state["config"]["output_uri"] == trained_model.uri


SUPPORTED_OUTPUTS = ("file:///", "a local path", "s3://", "gs://")


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if " ERROR " in line]


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("", "--output-uri is empty"),
        ("s3:/bucket/run", "--output-uri 's3:/bucket/run' is not a URI (s3: must be followed by //)"),
        ("http://127.0.0.1:9/run", "--output-uri 'http://127.0.0.1:9/run': scheme 'http' is not supported"),
        ("ftp://127.0.0.1:9/run", "--output-uri 'ftp://127.0.0.1:9/run': scheme 'ftp' is not supported"),
        ("S3://bucket/run", "--output-uri 'S3://bucket/run': write the scheme in lower case (s3://...)"),
        ("file://localhost{cwd}/run", "--output-uri 'file://localhost{cwd}/run' is not a local file URI"),
    ],
    ids=["empty", "s3-one-slash", "http", "ftp", "upper-case-scheme", "file-localhost"],
)
def test_unsupported_output_uri_exits_2_before_any_work(uri: str, why: str, tmp_path: Path) -> None:
    """An output the trainer cannot use is refused before anything starts: exit 2 naming the URI
    and the supported forms. Before, "" trained into the working directory, `s3:/x` into a local
    folder named `s3:`, http:// or ftp:// tried to connect, S3:// failed with exit 3 after the
    start, and file://localhost/abs trained into ./localhost/abs (fsspec's reading of it)."""
    uri, why = uri.format(cwd=tmp_path), why.format(cwd=tmp_path)
    result = run_trainer(uri, "--epochs", "1", cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert why in result.stdout
    assert all(form in result.stdout for form in SUPPORTED_OUTPUTS), result.stdout
    assert "starting" not in result.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["before-training", "mid-run"])
def test_unwritable_output_is_one_line_and_exit_3(trained_model: TrainedModel, tmp_path: Path, where: str) -> None:
    """An output that cannot be written ends the trainer with one ERROR line naming the file, the
    URI and the cause, and exit 3, not a traceback: whether that shows before training (the run
    record is the first write) or when a checkpoint write fails after an epoch."""
    if where == "before-training":
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        output = blocker / "run"
        expected = f"cannot read run.json under {output.as_uri()}: NotADirectoryError"
    else:
        output = tmp_path / "run"
        output.mkdir()
        shutil.copy(trained_model.path / "run.json", output / "run.json")
        (output / "checkpoints").write_text("")  # a file where the checkpoint directory goes
        expected = f"cannot write checkpoints/epoch-0001.pt under {output.as_uri()}: "
    result = run_trainer(output.as_uri(), "--epochs", str(FIXTURE_EPOCHS))
    assert result.returncode == 3, result.stdout
    assert "Traceback" not in result.stdout
    (error,) = error_lines(result.stdout)
    assert error == result.stdout.splitlines()[-1]
    assert expected in error
    assert not (output / "metadata.json").exists()


@pytest.mark.parametrize(
    ("flags", "difference"),
    [
        (["--seed", "1"], f"--seed {FIXTURE_SEED} there, 1 here"),
        (["--learning-rate", "0.01"], "--learning-rate 0.003 there, 0.01 here"),
    ],
    ids=["seed", "learning-rate"],
)
def test_rerun_with_other_settings_is_refused(trained_model: TrainedModel, flags: list[str], difference: str) -> None:
    """A finished output rerun with another seed or learning rate is refused (exit 4, one line
    naming each difference) instead of answering "model already complete" with a model those
    flags did not train; nothing is trained or touched."""
    before = tree_state(trained_model.path)
    result = run_trainer(trained_model.uri, *flags)
    assert result.returncode == 4, result.stdout
    assert "already complete" not in result.stdout
    (error,) = error_lines(result.stdout)
    assert difference in error and "train into a new --output-uri" in error
    assert epochs_logged(result.stdout) == []
    assert tree_state(trained_model.path) == before


@pytest.mark.parametrize("state", ["finished", "stopped-after-3-epochs"])
def test_extending_a_run_is_refused(trained_model: TrainedModel, tmp_path: Path, state: str) -> None:
    """A run is never extended: its learning rate follows a cosine over the --epochs it started
    with, so more epochs on a finished or stopped run would jump the rate back up. Asking for
    more is refused (exit 4) and says to train into a new output; nothing is trained."""
    run = trained_model.path if state == "finished" else copy_partial_run(trained_model, tmp_path / "run", 3)
    before = tree_state(run)
    result = run_trainer(run.as_uri(), "--epochs", str(FIXTURE_EPOCHS + 10))
    assert result.returncode == 4, result.stdout
    (error,) = error_lines(result.stdout)
    assert f"--epochs {FIXTURE_EPOCHS} there, {FIXTURE_EPOCHS + 10} here" in error
    assert "never extended" in error and "train into a new --output-uri" in error
    assert epochs_logged(result.stdout) == []
    assert tree_state(run) == before


def test_resume_under_another_world_size_is_refused(trained_model: TrainedModel, tmp_path: Path) -> None:
    """The world size sets the global batch and each rank's shard, so a run started with two
    processes is not continued by one: refused with exit 4 before training."""
    run = copy_partial_run(trained_model, tmp_path / "run", 3)
    record = json.loads((run / "run.json").read_text())
    record["settings"]["world_size"] = 2
    (run / "run.json").write_text(json.dumps(record))
    result = run_trainer(run.as_uri(), "--epochs", str(FIXTURE_EPOCHS))
    assert result.returncode == 4, result.stdout
    (error,) = error_lines(result.stdout)
    assert "processes (WORLD_SIZE) 2 there, 1 here" in error
    assert epochs_logged(result.stdout) == []


def test_artifacts_without_a_run_record_are_refused(trained_model: TrainedModel, tmp_path: Path) -> None:
    """Checkpoints with no run.json beside them did not come from this trainer (it writes the
    record before the first epoch), so their settings are unknown: refused, not resumed."""
    run = copy_partial_run(trained_model, tmp_path / "run", 3)
    (run / "run.json").unlink()
    before = tree_state(run)
    result = run_trainer(run.as_uri(), "--epochs", str(FIXTURE_EPOCHS))
    assert result.returncode == 4, result.stdout
    (error,) = error_lines(result.stdout)
    assert "no run.json" in error
    assert tree_state(run) == before


@pytest.mark.parametrize(
    ("left_behind", "named"),
    [
        (["model.onnx", "checkpoints/"], "model.onnx"),
        (["metadata.json"], "metadata.json"),
        (["checkpoints/epoch-0002.pt"], "1 checkpoint"),
    ],
    ids=["a model and an empty checkpoint folder", "metadata only", "a checkpoint"],
)
def test_any_file_the_trainer_writes_without_run_json_is_refused(
    trained_model: TrainedModel, tmp_path: Path, left_behind: list[str], named: str
) -> None:
    """An output holding any file the trainer writes after run.json (model.onnx, metadata.json,
    a checkpoint) but no run.json is not a run of this trainer: exit 4 naming what is there, and
    nothing touched. A model.onnx beside an empty checkpoints/ folder was silently overwritten."""
    run = tmp_path / "run"
    for name in left_behind:
        if name.endswith("/"):
            (run / name).mkdir(parents=True)
        else:
            (run / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(trained_model.path / name, run / name)
    before = tree_state(run)
    result = run_trainer(run.as_uri(), "--epochs", "1")
    assert result.returncode == 4, result.stdout
    (error,) = error_lines(result.stdout)
    assert f"{run.as_uri()} holds {named} but no run.json" in error and "train into a new --output-uri" in error
    assert tree_state(run) == before and not (run / "run.json").exists()


def test_help_shows_the_torchrun_command_on_two_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """--help prints the module docstring as written: the torchrun example keeps its shell line
    continuation (a backslash before the newline in a plain docstring joined the lines)."""
    from train import parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--help"])
    assert exit_info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    (first,) = [i for i, line in enumerate(lines) if "--master-addr=HOST" in line]
    assert lines[first].endswith("--master-addr=HOST \\")
    assert lines[first + 1].strip().startswith("--master-port=29500 train.py")


def test_every_recorded_setting_is_compared() -> None:
    """Each setting in run.json that differs is named with its flag and both values; equal
    settings (as JSON gives them back) are no difference."""
    from mltrain.training import run_settings, settings_mismatch

    base = TrainConfig(output_uri="x")
    recorded = json.loads(json.dumps(run_settings(base, 1)))
    assert settings_mismatch(recorded, run_settings(base, 1)) == []
    changed = TrainConfig(
        output_uri="y", dataset="breast-cancer", model_name="m", epochs=99, batch_size=7, learning_rate=0.5, seed=3
    )
    assert settings_mismatch(recorded, run_settings(changed, 4)) == [
        "--dataset digits there, breast-cancer here",
        "--model-name digits there, m here",
        "--epochs 15 there, 99 here",
        "--batch-size 32 there, 7 here",
        "--learning-rate 0.003 there, 0.5 here",
        "--seed 0 there, 3 here",
        "processes (WORLD_SIZE) 1 there, 4 here",
    ]
