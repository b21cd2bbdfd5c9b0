"""The digits dataset (bundled with scikit-learn, so no download) and its fixed split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

# The held-out split is fixed and independent of the training seed, so accuracies of runs with
# different seeds are measured on the same images.
SPLIT_SEED = 0
TEST_FRACTION = 0.2

IMAGE_SHAPE = (1, 8, 8)
"""Shape of one model input: one channel of 8x8 pixels."""
PIXEL_RANGE = (0.0, 16.0)
"""Raw pixel intensities as the dataset stores them; the model scales them itself."""
CLASS_LABELS = tuple(range(10))


@dataclass(frozen=True)
class DigitsSplit:
    """Images as float32 arrays shaped (n, 1, 8, 8) with raw intensities 0-16, labels as int64."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def load_split() -> DigitsSplit:
    """Return the stratified train/test split of scikit-learn's digits (1,797 images)."""
    digits = load_digits()
    images = digits.images.astype(np.float32).reshape(-1, *IMAGE_SHAPE)
    labels = digits.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        images,
        labels,
        test_size=TEST_FRACTION,
        random_state=SPLIT_SEED,
        stratify=labels,
    )
    return DigitsSplit(train_x, train_y, test_x, test_y)


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
