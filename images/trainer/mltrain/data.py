"""The data sets the trainer knows (all bundled with scikit-learn, so no download) and their fixed splits.

`--dataset` picks one of `DATASETS`:

- `digits`: 1,797 images of 8x8 pixels (raw intensities 0-16), ten classes 0-9; a small CNN.
- `breast-cancer`: 569 rows of 30 measurements (Wisconsin diagnostic), two classes
  `malignant` and `benign`; a small MLP that standardises its inputs itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits  # type: ignore[import-untyped]  # scikit-learn ships no type hints
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]  # scikit-learn ships no type hints

# The held-out split is fixed and independent of the training seed, so accuracies of runs with
# different seeds are measured on the same rows.
SPLIT_SEED = 0
TEST_FRACTION = 0.2

IMAGE_SHAPE = (1, 8, 8)
"""Shape of one digits input: one channel of 8x8 pixels."""
PIXEL_RANGE = (0.0, 16.0)
"""Raw pixel intensities as the digits data set stores them; the model scales them itself."""
CLASS_LABELS = tuple(range(10))
"""The digits classes."""


@dataclass(frozen=True)
class Split:
    """Inputs as float32 arrays shaped (n, *input_shape) in the data set's raw units, labels as
    int64 class indices (positions in the data set's `class_labels`)."""

    train_inputs: np.ndarray
    train_labels: np.ndarray
    test_inputs: np.ndarray
    test_labels: np.ndarray

    # The digits-era names, kept for callers that predate the tabular data sets.
    @property
    def train_images(self) -> np.ndarray:
        return self.train_inputs

    @property
    def test_images(self) -> np.ndarray:
        return self.test_inputs


def _digits() -> tuple[np.ndarray, np.ndarray]:
    digits = load_digits()
    return digits.images.astype(np.float32).reshape(-1, *IMAGE_SHAPE), digits.target.astype(np.int64)


def _breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    data = load_breast_cancer()
    return data.data.astype(np.float32), data.target.astype(np.int64)


@dataclass(frozen=True)
class Dataset:
    """What the trainer needs to know about a data set; `metadata.json` publishes most of it."""

    name: str
    """The `--dataset` value, and the default `--model-name`."""
    network: Literal["cnn", "mlp"]
    """The architecture trained on it (mltrain.model.build_network)."""
    input_shape: tuple[int, ...]
    """Shape of one instance, without the batch dimension."""
    input_range: tuple[float, float]
    """Lowest and highest value any element of a sensible input takes, in raw units."""
    class_labels: tuple[int | str, ...]
    """What the model's output index i means; the server answers with these."""
    load: Callable[[], tuple[np.ndarray, np.ndarray]]
    """All inputs (float32, (n, *input_shape)) and labels (int64 class indices)."""


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="digits",
            network="cnn",
            input_shape=IMAGE_SHAPE,
            input_range=PIXEL_RANGE,
            class_labels=CLASS_LABELS,
            load=_digits,
        ),
        Dataset(
            name="breast-cancer",
            network="mlp",
            input_shape=(30,),
            # Every feature is a non-negative measurement; the largest in the data set is 4,254
            # (worst area). The bound is there to catch garbage, not to describe the data.
            input_range=(0.0, 10_000.0),
            # scikit-learn's target 0 is malignant, 1 benign.
            class_labels=("malignant", "benign"),
            load=_breast_cancer,
        ),
    )
}
DEFAULT_DATASET = "digits"


def load_split(dataset: str = DEFAULT_DATASET) -> Split:
    """Return the stratified train/test split (80/20, fixed) of one of `DATASETS`."""
    inputs, labels = DATASETS[dataset].load()
    train_x, test_x, train_y, test_y = train_test_split(
        inputs,
        labels,
        test_size=TEST_FRACTION,
        random_state=SPLIT_SEED,
        stratify=labels,
    )
    return Split(train_x, train_y, test_x, test_y)


def shard_indices(num_items: int, epoch_seed: int, rank: int, world_size: int) -> np.ndarray:
    """Return this rank's share of a shuffled epoch.

    The permutation depends only on `epoch_seed`, so a resumed run sees the same order as an
    uninterrupted one. Every rank gets the same number of indices (the permutation is padded by
    wrapping around, as `DistributedSampler` does) because DDP needs each rank to run the same
    number of steps.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside world size {world_size}")
    order = np.random.default_rng(epoch_seed).permutation(num_items)
    per_rank = -(-num_items // world_size)
    padded = np.resize(order, per_rank * world_size)
    return padded[rank::world_size]
