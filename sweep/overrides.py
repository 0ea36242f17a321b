"""Command-line flags that override single config values, type-checked by the config."""

from __future__ import annotations

import argparse
from typing import Any

from mlp.config import DATASETS, SCHEDULES

# flag -> config key; the config checks types and ranges when the overrides are applied
FLAGS: dict[str, tuple[str, str]] = {
    "--hidden-size": ("model.hidden_size", "units per hidden layer (512)"),
    "--hidden-layers": ("model.hidden_layers", "number of hidden layers (1)"),
    "--dropout": ("model.dropout", "dropout rate after each hidden layer (0.3)"),
    "--lr": ("training.lr", "initial learning rate (0.1)"),
    "--batch-size": ("training.batch_size", "mini-batch size (128)"),
    "--epochs": ("training.epochs", "training epochs (20)"),
    "--l2": ("training.l2", "L2 lambda on the weights (1e-4)"),
    "--momentum": ("training.momentum", "SGD momentum (0.9)"),
    "--schedule": ("training.schedule", f"learning-rate schedule: {', '.join(SCHEDULES)}"),
    "--warmup-epochs": ("training.warmup_epochs", "linear warm-up epochs (0)"),
    "--seed": ("training.seed", "seed of init, shuffling and dropout (0)"),
    "--dataset": ("data.dataset", f"dataset: {', '.join(DATASETS)}"),
    "--data-dir": ("data.data_dir", "directory holding the four IDX files"),
    "--train-limit": ("data.train_limit", "use only the first N training images"),
}
SWITCHES: dict[str, str] = {
    "batch-norm": "model.batch_norm",
    "augment": "data.augment",
    "nesterov": "training.nesterov",
}


def add_override_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    group = parser.add_argument_group("configuration overrides")
    for flag, (key, help_text) in FLAGS.items():
        if flag not in skip:
            group.add_argument(flag, dest=_dest(key), default=None, metavar="V", help=help_text)
    for name, key in SWITCHES.items():
        if f"--{name}" not in skip:
            group.add_argument(f"--{name}", dest=_dest(key), default=None,
                               action=argparse.BooleanOptionalAction)
    group.add_argument("--set", dest="set_values", action="append", default=[],
                       metavar="KEY=VALUE", help="any config key, e.g. training.step_gamma=0.5")


def collect_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, _ in FLAGS.values():
        value = getattr(args, _dest(key), None)
        if value is not None:
            out[key] = value
    for key in SWITCHES.values():
        value = getattr(args, _dest(key), None)
        if value is not None:
            out[key] = value
    for item in getattr(args, "set_values", []):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def _dest(key: str) -> str:
    return "cfg__" + key.replace(".", "__")
