"""The training run: resume, train with DDP, checkpoint every epoch, export the final model."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
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
from mltrain.artifacts import METADATA_FILE, MODEL_FILE, ArtifactStore, checkpoint_name
from mltrain.data import (
    CLASS_LABELS,
    IMAGE_SHAPE,
    PIXEL_RANGE,
    load_split,
    shard_indices,
)
from mltrain.distributed import DistContext
from mltrain.model import INPUT_NAME, ONNX_OPSET, OUTPUT_NAME, DigitsNet, export_onnx

log = logging.getLogger("trainer")

CHECKPOINT_FORMAT = 1
METADATA_SCHEMA = 1
# The learning rate follows a cosine from its initial value down to this fraction of it.
FINAL_LR_FRACTION = 0.05


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Parameters of one training run; the CLI flags of `train.py` map one to one."""

    output_uri: str
    """Where checkpoints, model.onnx and metadata.json go: file://, s3://, gs:// or a path."""
    model_name: str = "digits"
    epochs: int = 10
    """Total epochs; a resumed run trains only those its checkpoints do not cover."""
    batch_size: int = 32
    """Images per step and per process (the global batch is this times the world size)."""
    learning_rate: float = 3e-3
    """Initial Adam learning rate; it decays by a cosine to 5 % of this by the last epoch."""
    seed: int = 0
    device: str = "auto"
    """auto (a GPU when torch sees one, else the CPU), cpu or cuda."""

    def problems(self) -> list[str]:
        """Every invalid value, each naming the flag and what it allows."""
        found = []
        if self.epochs < 1:
            found.append(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            found.append(f"--batch-size must be at least 1, got {self.batch_size}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            found.append(f"--learning-rate must be a positive number, got {self.learning_rate}")
        if self.device not in ("auto", "cpu", "cuda"):
            found.append(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if not self.model_name or "/" in self.model_name:
            found.append(f"--model-name must be non-empty without '/', got {self.model_name!r}")
        return found


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
            state = torch.load(io.BytesIO(store.read_bytes(name)), map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - a torn or foreign file must not stop the resume
            log.warning("skipping unreadable checkpoint %s: %s: %s", name, type(error).__name__, error)
            continue
        if state.get("format") != CHECKPOINT_FORMAT or state.get("epoch") != epoch:
            log.warning("skipping checkpoint %s: not written by this trainer version", name)
            continue
        return state
    return None


def _evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        correct = (model(images).argmax(dim=1) == labels).sum().item()
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
    sha256 = hashlib.sha256(model_bytes).hexdigest()
    return {
        "schema_version": METADATA_SCHEMA,
        "model_name": config.model_name,
        # Content-addressed: the same weights always get the same version.
        "version": sha256[:12],
        "model_file": MODEL_FILE,
        "model_sha256": sha256,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "framework": f"torch {torch.__version__.split('+')[0]}",
        "onnx_opset": ONNX_OPSET,
        "input_name": INPUT_NAME,
        "input_shape": list(IMAGE_SHAPE),
        "input_dtype": "float32",
        "input_range": list(PIXEL_RANGE),
        "output_name": OUTPUT_NAME,
        "class_labels": list(CLASS_LABELS),
        "test_accuracy": test_accuracy,
        "train_samples": sizes[0],
        "test_samples": sizes[1],
        "training": {
            **{k: v for k, v in asdict(config).items() if k not in ("output_uri", "model_name")},
            "device": ctx.device.type,
            "world_size": ctx.world_size,
            "resumed_from_epoch": resumed_from_epoch,
            "train_seconds": round(train_seconds, 3),
        },
    }


def run(config: TrainConfig) -> None:
    """Train (or resume) and write the artifacts; every rank calls this."""
    ctx = distributed.init(config.device)
    try:
        _run(config, ctx)
    finally:
        distributed.shutdown(ctx)


def _run(config: TrainConfig, ctx: DistContext) -> None:
    torch.manual_seed(config.seed)
    if ctx.device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    store = ArtifactStore(config.output_uri)
    log.info(
        "starting model=%s output=%s device=%s world_size=%d epochs=%d batch_size=%d",
        config.model_name,
        store.uri,
        ctx.device,
        ctx.world_size,
        config.epochs,
        config.batch_size,
    )

    # Rank 0 alone reads the output location and hands the state to the others, so workers on
    # other nodes need no access to it.
    resume: dict[str, Any] | None = None
    complete = False
    if ctx.is_main:
        resume = _load_newest_checkpoint(store)
        complete = resume is not None and resume["epoch"] >= config.epochs and store.exists(METADATA_FILE)
    complete, resume = distributed.broadcast_from_main(ctx, (complete, resume))
    if complete:
        log.info("model already complete at %s (epoch %d); nothing to do", store.uri, resume["epoch"])
        return

    split = load_split()
    train_x = torch.from_numpy(split.train_images).to(ctx.device)
    train_y = torch.from_numpy(split.train_labels).to(ctx.device)
    test_x = torch.from_numpy(split.test_images).to(ctx.device)
    test_y = torch.from_numpy(split.test_labels).to(ctx.device)

    model = DigitsNet().to(ctx.device)
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
        seen = 0
        for first in range(0, len(order_t), config.batch_size):
            batch = order_t[first : first + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(ddp_model(train_x[batch]), train_y[batch])
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(batch)
            seen += len(batch)
        loss_sum, seen = distributed.all_reduce_sum(ctx, [loss_sum, float(seen)])
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
    model_bytes = export_onnx(model)
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
        config.model_name,
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
