"""Command-line flags that override single config values, type-checked by the config."""

from __future__ import annotations

import argparse
from typing import Any

from mlp.config import DATASETS, SCHEDULES

# flag -> config key; the config checks types and ranges when the overrides are applied
FLAGS: dict[str, tuple[str, str]] = {
    "--hidden-size": ("model.hidden_size", "units per hidden layer (default 512)"),
    "--hidden-layers": ("model.hidden_layers", "number of hidden layers (default 1)"),
    "--dropout": ("model.dropout", "dropout rate after each hidden layer (default 0.3)"),
    "--lr": ("training.lr", "initial learning rate (default 0.1)"),
    "--batch-size": ("training.batch_size", "mini-batch size (default 128)"),
    "--epochs": ("training.epochs", "training epochs (default 20)"),
    "--l2": ("training.l2", "L2 lambda on the weights (default 1e-4)"),
    "--momentum": ("training.momentum", "SGD momentum (default 0.9)"),
    "--schedule": ("training.schedule", "learning-rate schedule (default cosine)"),
    "--warmup-epochs": ("training.warmup_epochs", "linear warm-up epochs (default 0)"),
    "--seed": ("training.seed", "seed of the initialisation, shuffling and dropout "
                                "(default 0)"),
    "--dataset": ("data.dataset", "dataset (default mnist)"),
    "--data-dir": ("data.data_dir", "a folder holding the dataset's four IDX files"),
    "--train-limit": ("data.train_limit", "train on the first N training images only"),
}
# what each flag's value is, in --help
METAVARS = {"--hidden-size": "N", "--hidden-layers": "N", "--dropout": "RATE", "--lr": "LR",
            "--batch-size": "N", "--epochs": "N", "--l2": "LAMBDA", "--momentum": "BETA",
            "--warmup-epochs": "N", "--seed": "S", "--data-dir": "DIR", "--train-limit": "N"}
CHOICES: dict[str, tuple[str, ...]] = {"--dataset": DATASETS, "--schedule": SCHEDULES}
SWITCHES: dict[str, tuple[str, str]] = {
    "batch-norm": ("model.batch_norm", "batch normalisation after each hidden layer "
                                       "(default on)"),
    "augment": ("data.augment", "random shifts of the training images (default off)"),
    "nesterov": ("training.nesterov", "Nesterov momentum (default off)"),
}


def add_override_flags(parser: argparse.ArgumentParser,
                       only: tuple[str, ...] | None = None) -> None:
    """The flags (all, or ``only`` these) whose values override config keys. Each
    flag's value lands under its dotted config key: getattr(args, "model.dropout")."""
    group = parser.add_argument_group("configuration overrides")
    for flag, (key, help_text) in FLAGS.items():
        if only is None or flag in only:
            if flag in CHOICES:  # --help lists them; a wrong one is named at once
                group.add_argument(flag, dest=key, default=None, choices=CHOICES[flag],
                                   help=help_text)
            else:
                group.add_argument(flag, dest=key, default=None, metavar=METAVARS[flag],
                                   help=help_text)
    if only is not None:
        return
    for name, (key, help_text) in SWITCHES.items():  # --name, --no-name
        group.add_argument(f"--{name}", dest=key, default=None, help=help_text,
                           action=argparse.BooleanOptionalAction)
    group.add_argument("--set", dest="set_values", action="append", default=[],
                       metavar="KEY=VALUE", help="any config key, e.g. training.step_gamma=0.5")


def collect_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config overrides the flags on this command line ask for, by dotted key."""
    keys = [key for key, _ in [*FLAGS.values(), *SWITCHES.values()]]
    out: dict[str, Any] = {k: getattr(args, k) for k in keys
                           if getattr(args, k, None) is not None}
    for item in getattr(args, "set_values", []):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out
