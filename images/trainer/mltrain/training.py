"""The training run: resume, train with DDP, checkpoint every epoch, export the final model."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import re
import time
import warnings
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - PyTorch's own convention
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mltrain import distributed
from mltrain.artifacts import (
    METADATA_FILE,
    MODEL_FILE,
    RUN_FILE,
    ArtifactError,
    ArtifactStore,
    checkpoint_name,
    output_uri_problem,
)
from mltrain.data import DATASETS, DEFAULT_DATASET, Dataset, load_split, shard_indices
from mltrain.distributed import DistContext
from mltrain.model import INPUT_NAME, ONNX_OPSET, OUTPUT_NAME, build_network, export_onnx

log = logging.getLogger("trainer")

CHECKPOINT_FORMAT = 1
METADATA_SCHEMA = 1
RUN_SCHEMA = 1
# The learning rate follows a cosine from its initial value down to this fraction of it.
FINAL_LR_FRACTION = 0.05

MAX_SEED = 2**64 - 1
"""torch.manual_seed takes 0 to 2**64 - 1 (numpy's default_rng, which shuffles each epoch, takes
any non-negative integer): a larger or negative seed would fail after run.json is written."""
MAX_LEARNING_RATE = 10.0
"""The platform's TrainingConfig bound (components/config.py). Far above it (1e300) Adam's step
overflows float32 in the first epoch, after run.json has recorded the rate."""

MAX_MODEL_NAME_LENGTH = 28
"""The platform's bound on a model's name (components/schema.py MAX_MODEL_NAME_LENGTH): the
Kubernetes names derived from it must fit in 63 characters."""
MODEL_NAME_RE = re.compile(rf"(?=.{{1,{MAX_MODEL_NAME_LENGTH}}}\Z)[a-z]([-a-z0-9]*[a-z0-9])?\Z")
"""--model-name: the platform's rule for a model's name (components/schema.py ModelName, a DNS-1035
label), stricter than the server's MODEL_NAME pattern, so that every name the trainer writes is
one the platform and the server take; no newline or space reaches metadata.json or a log line."""
MODEL_NAME_RULE = (
    f"a DNS-1035 label of at most {MAX_MODEL_NAME_LENGTH} characters (lower-case letters, digits and '-', "
    "starting with a letter, ending with a letter or digit), as the platform names models"
)

# Exit codes (the training contract in ../README.md): 0 the model is complete, 1 an unexpected
# failure (a traceback), 2 bad flags (argparse's own code), and these:
EXIT_OUTPUT_UNAVAILABLE = 3
"""The output location cannot be read or written (permissions, a missing bucket, credentials)."""
EXIT_RUN_MISMATCH = 4
"""The output holds a run with other settings; retrying cannot help."""


class TrainerError(Exception):
    """A failure the trainer reports as one line and `exit_code`, without a traceback."""

    exit_code = 1


class OutputUnavailableError(TrainerError):
    exit_code = EXIT_OUTPUT_UNAVAILABLE


class RunMismatchError(TrainerError):
    exit_code = EXIT_RUN_MISMATCH


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Parameters of one training run; the CLI flags of `train.py` map one to one.

    The defaults are the platform's (components/config.py TrainingConfig): measured to clear
    every data set's accuracy bar with margin (images/trainer/README.md, "Defaults").
    """

    output_uri: str
    """Where run.json, checkpoints, model.onnx and metadata.json go: file://, s3://, gs:// or a path."""
    dataset: str = DEFAULT_DATASET
    """One of mltrain.data.DATASETS: digits or breast-cancer."""
    model_name: str | None = None
    """Name recorded in metadata.json. Default (None): the dataset's name."""
    epochs: int = 15
    """Total epochs. Fixed when the run starts: the learning-rate schedule spans them."""
    batch_size: int = 32
    """Examples per step and per process (the global batch is this times the world size)."""
    learning_rate: float = 3e-3
    """Initial Adam learning rate; it decays by a cosine to 5 % of this by the last epoch."""
    seed: int = 0
    device: str = "auto"
    """auto (a GPU when torch sees one, else the CPU), cpu or cuda."""

    @property
    def name(self) -> str:
        """The model's name: `model_name`, or the dataset's name when that is None."""
        return self.dataset if self.model_name is None else self.model_name

    def problems(self) -> list[str]:
        """Every invalid value, each naming the flag and what it allows."""
        found = []
        uri_problem = output_uri_problem(self.output_uri)
        if uri_problem is not None:
            found.append(uri_problem)
        if self.dataset not in DATASETS:
            found.append(f"--dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        if self.epochs < 1:
            found.append(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            found.append(f"--batch-size must be at least 1, got {self.batch_size}")
        if not 0 < self.learning_rate <= MAX_LEARNING_RATE:  # also false for nan
            found.append(
                f"--learning-rate must be a positive number up to {MAX_LEARNING_RATE:g}, got {self.learning_rate}"
            )
        if not 0 <= self.seed <= MAX_SEED:
            found.append(f"--seed must be from 0 to {MAX_SEED} (2**64 - 1, what torch takes), got {self.seed}")
        if self.device not in ("auto", "cpu", "cuda"):
            found.append(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if self.model_name is not None and not MODEL_NAME_RE.match(self.model_name):
            found.append(f"--model-name must be {MODEL_NAME_RULE}, got {self.model_name!r}")
        return found


# What run.json records: everything that decides the model (and the name its metadata carries),
# each with the flag a person would change, for the mismatch message.
_SETTING_FLAGS = {
    "dataset": "--dataset",
    "model_name": "--model-name",
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "learning_rate": "--learning-rate",
    "seed": "--seed",
    "world_size": "processes (WORLD_SIZE)",
}


def run_settings(config: TrainConfig, world_size: int) -> dict[str, Any]:
    """The settings a run is started with and keeps: the content of run.json's `settings`."""
    return {
        "dataset": config.dataset,
        "model_name": config.name,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "seed": config.seed,
        "world_size": world_size,
    }


def settings_mismatch(recorded: dict[str, Any], requested: dict[str, Any]) -> list[str]:
    """`FLAG R there, Q here` for every setting that differs (a setting missing on one side too)."""
    differences = []
    for key, flag in _SETTING_FLAGS.items():
        if recorded.get(key) != requested.get(key):
            differences.append(f"{flag} {recorded.get(key)} there, {requested.get(key)} here")
    return differences


def learning_rate_at(config: TrainConfig, epoch: int) -> float:
    """Learning rate for 1-based `epoch`: a cosine from the initial rate to 5 % of it."""
    progress = (epoch - 1) / max(config.epochs - 1, 1)
    scale = FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress))
    return config.learning_rate * scale


def parameters_digest(model: nn.Module) -> str:
    """SHA-256 over all parameters and buffers; equal on every rank when DDP kept them in sync."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _load_newest_checkpoint(store: ArtifactStore) -> dict[str, Any] | None:
    """Return the newest readable checkpoint, skipping (and logging) unreadable ones."""
    for epoch, name in store.checkpoints():
        try:
            state: dict[str, Any] = torch.load(
                io.BytesIO(store.read_bytes(name)), map_location="cpu", weights_only=True
            )
        except Exception as error:  # noqa: BLE001 - a torn or foreign file must not stop the resume
            log.warning("skipping unreadable checkpoint %s: %s: %s", name, type(error).__name__, error)
            continue
        if state.get("format") != CHECKPOINT_FORMAT or state.get("epoch") != epoch:
            log.warning("skipping checkpoint %s: not written by this trainer version", name)
            continue
        return state
    return None


def _prepare_output(store: ArtifactStore, config: TrainConfig, world_size: int) -> tuple[bool, dict[str, Any] | None]:
    """On rank 0: hold the output to the run's settings and find where to start.

    Returns `(complete, checkpoint to resume from)`. A new output gets run.json, which is also
    the check that the location is writable before any training. An output whose run.json
    records other settings, or that has artifacts but no run.json, is refused: a run's settings
    are fixed when it starts (its learning-rate schedule spans its epochs), so a run is never
    extended, shortened or continued with another seed, rate or batch.
    """
    requested = run_settings(config, world_size)
    raw = store.read_if_exists(RUN_FILE)
    if raw is None:
        found = store.artifacts()
        if found:
            raise RunMismatchError(
                f"{store.uri} holds {', '.join(found)} but no {RUN_FILE}: not a run of this trainer version "
                "(it writes run.json first); train into a new --output-uri"
            )
        record = {"schema_version": RUN_SCHEMA, "settings": requested, "started_at": _now()}
        store.write_bytes(RUN_FILE, json.dumps(record, indent=2).encode())
        return False, None
    try:
        recorded = json.loads(raw)["settings"]
        if not isinstance(recorded, dict):
            raise TypeError("settings is not an object")
    except (ValueError, KeyError, TypeError) as error:
        raise RunMismatchError(
            f"{RUN_FILE} under {store.uri} is unreadable ({error}); train into a new --output-uri"
        ) from None
    differences = settings_mismatch(recorded, requested)
    if differences:
        raise RunMismatchError(
            f"{store.uri} holds a run with other settings ({'; '.join(differences)}); a run's settings are fixed "
            "when it starts (the learning rate follows a schedule over all its --epochs), so it is never extended "
            "or changed: train into a new --output-uri"
        )
    if store.exists(METADATA_FILE):
        return True, None
    return False, _load_newest_checkpoint(store)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _evaluate(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        correct = int((model(inputs).argmax(dim=1) == labels).sum().item())
    model.train()
    return correct / len(labels)


def _metadata(
    config: TrainConfig,
    ctx: DistContext,
    model_bytes: bytes,
    test_accuracy: float,
    sizes: tuple[int, int],
    resumed_from_epoch: int | None,
    train_seconds: float,
) -> dict[str, Any]:
    dataset = DATASETS[config.dataset]
    sha256 = hashlib.sha256(model_bytes).hexdigest()
    settings = run_settings(config, ctx.world_size)
    del settings["model_name"]  # top-level below
    return {
        "schema_version": METADATA_SCHEMA,
        "model_name": config.name,
        # Content-addressed: the same weights always get the same version.
        "version": sha256[:12],
        "model_file": MODEL_FILE,
        "model_sha256": sha256,
        "created_at": _now(),
        "framework": f"torch {torch.__version__.split('+')[0]}",
        "onnx_opset": ONNX_OPSET,
        "input_name": INPUT_NAME,
        "input_shape": list(dataset.input_shape),
        "input_dtype": "float32",
        "input_range": list(dataset.input_range),
        "output_name": OUTPUT_NAME,
        "class_labels": list(dataset.class_labels),
        "test_accuracy": test_accuracy,
        "train_samples": sizes[0],
        "test_samples": sizes[1],
        "training": {
            **settings,
            "device": ctx.device.type,
            "resumed_from_epoch": resumed_from_epoch,
            "train_seconds": round(train_seconds, 3),
        },
    }


def run(config: TrainConfig) -> None:
    """Train (or resume) and write the artifacts; every rank calls this.

    Raises TrainerError (one-line message, `exit_code`) for what the trainer reports without a
    traceback: an unreachable output location, an output holding a run with other settings.
    """
    ctx = distributed.init(config.device)
    try:
        _run(config, ctx)
    except ArtifactError as error:
        raise OutputUnavailableError(str(error)) from None
    finally:
        distributed.shutdown(ctx)


def _run(config: TrainConfig, ctx: DistContext) -> None:
    dataset = DATASETS[config.dataset]
    torch.manual_seed(config.seed)
    if ctx.device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    store = ArtifactStore(config.output_uri)
    log.info(
        "starting model=%s dataset=%s output=%s device=%s world_size=%d epochs=%d batch_size=%d "
        "learning_rate=%g seed=%d",
        config.name,
        dataset.name,
        store.uri,
        ctx.device,
        ctx.world_size,
        config.epochs,
        config.batch_size,
        config.learning_rate,
        config.seed,
    )

    # Rank 0 alone reads the output location and hands the state (or its refusal) to the
    # others, so workers on other nodes need no access to it and all ranks stop together.
    prepared: tuple[bool, dict[str, Any] | None] | TrainerError = (False, None)
    if ctx.is_main:
        try:
            prepared = _prepare_output(store, config, ctx.world_size)
        except ArtifactError as error:
            prepared = OutputUnavailableError(str(error))
        except TrainerError as error:
            prepared = error
    prepared = distributed.broadcast_from_main(ctx, prepared)
    if isinstance(prepared, TrainerError):
        raise prepared
    complete, resume = prepared
    if complete:
        log.info("model already complete at %s; nothing to do", store.uri)
        return
    _train(config, dataset, ctx, store, resume)


def _train(
    config: TrainConfig, dataset: Dataset, ctx: DistContext, store: ArtifactStore, resume: dict[str, Any] | None
) -> None:
    split = load_split(dataset.name)
    train_x = torch.from_numpy(split.train_inputs).to(ctx.device)
    train_y = torch.from_numpy(split.train_labels).to(ctx.device)
    test_x = torch.from_numpy(split.test_inputs).to(ctx.device)
    test_y = torch.from_numpy(split.test_labels).to(ctx.device)

    model = build_network(dataset, split.train_inputs).to(ctx.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    start_epoch = 0
    train_seconds = 0.0
    test_accuracy = 0.0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        start_epoch = resume["epoch"]
        train_seconds = resume["train_seconds"]
        test_accuracy = resume["test_accuracy"]
        log.info("resuming from %s", checkpoint_name(start_epoch))
    ddp_model: nn.Module = model
    if ctx.world_size > 1:
        device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        ddp_model = DistributedDataParallel(model, device_ids=device_ids)

    for epoch in range(start_epoch + 1, config.epochs + 1):
        started = time.perf_counter()
        lr = learning_rate_at(config, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        order = shard_indices(len(train_y), config.seed * 100_003 + epoch, ctx.rank, ctx.world_size)
        order_t = torch.from_numpy(order).to(ctx.device)
        loss_sum = 0.0
        seen = 0.0
        for first in range(0, len(order_t), config.batch_size):
            batch = order_t[first : first + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(ddp_model(train_x[batch]), train_y[batch])
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            optimizer.step()
            loss_sum += loss.item() * len(batch)
            seen += len(batch)
        loss_sum, seen = distributed.all_reduce_sum(ctx, [loss_sum, seen])
        epoch_seconds = time.perf_counter() - started
        train_seconds += epoch_seconds
        if not ctx.is_main:
            continue
        test_accuracy = _evaluate(model, test_x, test_y)
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "test_accuracy": test_accuracy,
            "train_seconds": train_seconds,
            "config": asdict(config),
        }
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        store.write_bytes(checkpoint_name(epoch), buffer.getvalue())
        log.info(
            "epoch=%d/%d loss=%.4f test_accuracy=%.4f lr=%.5f epoch_seconds=%.3f checkpoint=%s",
            epoch,
            config.epochs,
            loss_sum / seen,
            test_accuracy,
            lr,
            epoch_seconds,
            checkpoint_name(epoch),
        )

    log.info("finished training parameters_sha256=%s", parameters_digest(model))
    distributed.barrier(ctx)
    if not ctx.is_main:
        return
    model_bytes = export_onnx(model, dataset)
    metadata = _metadata(
        config,
        ctx,
        model_bytes,
        test_accuracy,
        (len(split.train_labels), len(split.test_labels)),
        None if resume is None else resume["epoch"],
        train_seconds,
    )
    # metadata.json goes last: its presence means the model next to it is complete.
    store.write_bytes(MODEL_FILE, model_bytes)
    store.write_bytes(METADATA_FILE, json.dumps(metadata, indent=2).encode())
    log.info(
        "wrote model=%s version=%s test_accuracy=%.4f to %s",
        config.name,
        metadata["version"],
        test_accuracy,
        store.uri,
    )


def configure_logging(rank: int) -> None:
    """One line per event, `key=value` fields, UTC timestamps: easy to read in kubectl logs."""
    handler = logging.StreamHandler()
    formatter = logging.Formatter(
        f"%(asctime)s.%(msecs)03dZ %(levelname)s rank={rank} %(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # Python warnings print two lines each (message and source line); log them as one event.
    warnings.showwarning = lambda message, category, *_: logging.getLogger("py.warnings").warning(
        "%s: %s", category.__name__, message
    )
