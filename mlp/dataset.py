"""The in-memory form of a dataset: three uint8 splits that training reads batch by batch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test splits as uint8 images (N, 28, 28) and uint8 labels (N,).

    The arrays are usually read-only memory maps of the cache, so that parallel
    workers share one copy of the pages; nothing here ever writes to them.
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]
    source: str = ""
    split_seed: int | None = None  # None: the fixed split; else the seed of a random one

    @property
    def n_features(self) -> int:
        return int(np.prod(self.train_x.shape[1:]))

    @property
    def n_classes(self) -> int:
        return len(self.classes)
