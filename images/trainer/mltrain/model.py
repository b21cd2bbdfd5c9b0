"""The classifier networks and their ONNX export.

Every network takes the data set's raw inputs (pixel intensities, measurements in their own
units) and scales them itself, so the exported model needs no preprocessing from the server or
its clients.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from mltrain.data import CLASS_LABELS, IMAGE_SHAPE, PIXEL_RANGE, Dataset

ONNX_OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


class DigitsNet(nn.Module):
    """A small CNN for digits: two 3x3 convolutions, one pooling step, two dense layers (~38k
    parameters). It divides the raw pixels (0-16) by 16 itself."""

    def __init__(self) -> None:
        super().__init__()
        channels, height, width = IMAGE_SHAPE
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(32 * (height // 2) * (width // 2), 64),
            nn.ReLU(),
            nn.Linear(64, len(CLASS_LABELS)),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.classifier(self.features(images / PIXEL_RANGE[1]))
        return logits


class TabularNet(nn.Module):
    """An MLP for rows of numeric features: standardisation, one hidden layer of 32, logits.

    The per-feature mean and standard deviation of the training split are buffers, saved in
    checkpoints and baked into the ONNX graph, so clients send the measurements as they are.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, num_features: int, num_classes: int, hidden: int = 32) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("std", torch.ones(num_features))
        self.layers = nn.Sequential(nn.Linear(num_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def fit_scaling(self, train_inputs: np.ndarray) -> None:
        """Set the standardisation from the training inputs (a constant feature keeps scale 1)."""
        inputs = torch.from_numpy(train_inputs.astype(np.float32))
        std = inputs.std(dim=0)
        with torch.no_grad():
            self.mean.copy_(inputs.mean(dim=0))
            self.std.copy_(torch.where(std > 0, std, torch.ones_like(std)))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.layers((rows - self.mean) / self.std)
        return logits


def build_network(dataset: Dataset, train_inputs: np.ndarray | None = None) -> nn.Module:
    """The untrained network for `dataset`, its weights drawn from torch's global generator.

    `train_inputs` sets a tabular network's standardisation; without them it is the identity,
    for a network whose state is about to be loaded from a checkpoint.
    """
    if dataset.network == "cnn":
        return DigitsNet()
    (num_features,) = dataset.input_shape
    network = TabularNet(num_features, len(dataset.class_labels))
    if train_inputs is not None:
        network.fit_scaling(train_inputs)
    return network


def export_onnx(model: nn.Module, dataset: Dataset) -> bytes:
    """Export `model` (a network of `dataset`'s, on any device) to ONNX bytes with a dynamic
    batch dimension.

    A fresh CPU copy is exported so that exporting never disturbs the training device (nor the
    hooks DDP keeps on the trained parameters). The result is checked with `onnx.checker` before
    it is returned.
    """
    cpu_model = build_network(dataset)
    cpu_model.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    cpu_model.eval()
    with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="onnx-export-") as directory:
        # The TorchScript exporter is deprecated in favour of the dynamo one, which needs
        # onnxscript and takes ~10x longer; for these static networks both give the same graph.
        warnings.simplefilter("ignore", DeprecationWarning)
        path = Path(directory) / "model.onnx"
        torch.onnx.export(
            cpu_model,
            (torch.zeros(1, *dataset.input_shape),),
            path,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
        data = path.read_bytes()
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    return data
