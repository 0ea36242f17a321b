"""``data.split_seed``: a validation split drawn at random per seed (``sweep confirm
--resplit``), the test set untouched, recorded in config.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlp.config import Config, ConfigError
from mlp.data import load_dataset, random_split
from mlp.experiment import run_experiment


def test_random_split_is_a_partition_fixed_by_its_seed():
    train, val = random_split(1200, 200, 5)
    assert len(val) == 200 and len(train) == 1000
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(1200))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)  # file order
    assert np.array_equal(random_split(1200, 200, 5)[1], val)
    assert not np.array_equal(random_split(1200, 200, 6)[1], val)


def test_a_resplit_dataset_draws_validation_from_the_whole_file(tiny_idx_dir):
    fixed = load_dataset("idx", data_dir=tiny_idx_dir)
    one = load_dataset("idx", data_dir=tiny_idx_dir, split_seed=1)
    two = load_dataset("idx", data_dir=tiny_idx_dir, split_seed=2)
    assert fixed.split_seed is None and one.split_seed == 1
    assert len(one.val_y) == len(fixed.val_y) and len(one.train_y) == len(fixed.train_y)
    assert not np.array_equal(one.val_x, fixed.val_x)
    assert not np.array_equal(one.val_x, two.val_x)
    assert np.array_equal(one.test_x, fixed.test_x) and np.array_equal(one.test_y, fixed.test_y)
    everything = np.concatenate([fixed.train_x, fixed.val_x]).reshape(len(fixed.train_x)
                                                                      + len(fixed.val_x), -1)
    mine = np.concatenate([one.train_x, one.val_x]).reshape(len(everything), -1)
    # the same images, split another way
    assert sorted(map(bytes, everything)) == sorted(map(bytes, mine))
    limited = load_dataset("idx", data_dir=tiny_idx_dir, split_seed=1, train_limit=100)
    assert np.array_equal(limited.val_x, one.val_x)
    assert np.array_equal(limited.train_x, one.train_x[:100])


def test_split_seed_is_checked_and_recorded(tiny_idx_dir, tmp_path):
    with pytest.raises(ConfigError, match="data.split_seed"):
        Config().with_overrides({"data.split_seed": -1})
    config = Config().with_overrides({"data.dataset": "idx", "data.data_dir": str(tiny_idx_dir),
                                      "data.split_seed": 3, "training.epochs": 1,
                                      "model.hidden_size": 16})
    result = run_experiment(config, tmp_path / "run", plots=False)
    assert result.status == "completed"
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert recorded["data"]["split_seed"] == 3
    fixed = load_dataset("idx", data_dir=tiny_idx_dir)
    with pytest.raises(ValueError, match="split with seed None"):
        run_experiment(config, tmp_path / "other", data=fixed, plots=False)
