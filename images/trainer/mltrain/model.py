"""The classifier network and its ONNX export."""

from __future__ import annotations

import io
import warnings

import onnx
import torch
from torch import nn

from mltrain.data import CLASS_LABELS, IMAGE_SHAPE, PIXEL_RANGE

ONNX_OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


class DigitsNet(nn.Module):
    """A small CNN: two 3x3 convolutions, one pooling step, two dense layers (~42k parameters).

    It takes raw pixel intensities (0-16) and scales them itself, so the exported model needs
    no preprocessing from the server or its clients.
    """

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
        return self.classifier(self.features(images / PIXEL_RANGE[1]))


def export_onnx(model: nn.Module) -> bytes:
    """Export `model` (on any device) to ONNX bytes with a dynamic batch dimension.

    The model is copied to the CPU first so that exporting never disturbs the training device.
    The result is checked with `onnx.checker` before it is returned.
    """
    cpu_model = DigitsNet()
    cpu_model.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    cpu_model.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the dynamo one, which needs
        # onnxscript and takes ~10x longer; for this static network both give the same graph.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            cpu_model,
            (torch.zeros(1, *IMAGE_SHAPE),),
            buffer,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    data = buffer.getvalue()
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    return data
