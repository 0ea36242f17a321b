"""The configuration of one training run.

A run is described by three frozen dataclasses (data, model, training) under one
`Config`. Frozen, because a config is a record of what was done: the sweep derives
new configs with `with_overrides`, it never edits one in place. Every value is
checked when the config is built, so a bad value fails before any data is read.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from dataclasses import dataclass, field, fields
from typing import Any

DATASETS = ("mnist", "fashion-mnist", "idx")
SCHEDULES = ("constant", "step", "cosine")
MAX_DROPOUT = 255.5 / 256  # 0.998046875: higher rates round to dropping all 256 of 256


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the key."""


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "mnist"
    data_dir: str | None = None
    augment: bool = False  # random translations of up to `shift` pixels
    shift: int = 2
    train_limit: int | None = None  # use only the first N training images (tests, quick looks)
    # None: the last images of the official training file validate (MNIST: the last
    # 10,000 of 60,000). A number: the validation images are drawn at random, with this
    # seed, from all the training file's images, the rest train (in their file order);
    # the test set is never touched. `sweep confirm --resplit` gives each seed its own.
    split_seed: int | None = None

    def validate(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(f"data.dataset: unknown dataset {shown(self.dataset)} "
                              f"(choose from {', '.join(DATASETS)})")
        if self.dataset == "idx" and not self.data_dir:
            raise ConfigError("data.data_dir: the 'idx' dataset needs a data directory")
        _check(0 <= self.shift <= 8, "data.shift", self.shift, "must be between 0 and 8")
        if self.train_limit is not None:
            _check(self.train_limit >= 1, "data.train_limit", self.train_limit, "must be >= 1")
        if self.split_seed is not None:
            _check(0 <= self.split_seed < 2**32, "data.split_seed", self.split_seed,
                   "must be in [0, 2**32) (or null: the fixed split)")


@dataclass(frozen=True)
class ModelConfig:
    hidden_size: int = 512
    hidden_layers: int = 1
    dropout: float = 0.3
    batch_norm: bool = True

    def validate(self) -> None:
        _check(1 <= self.hidden_size <= 65536, "model.hidden_size", self.hidden_size,
               "must be between 1 and 65536")
        _check(0 <= self.hidden_layers <= 16, "model.hidden_layers", self.hidden_layers,
               "must be between 0 and 16")
        # dropout is drawn in steps of 1/256 (`mlp.network`): a rate that rounds to 256/256
        # would drop every unit, and scale the rest by 1/0
        _check(0.0 <= self.dropout < MAX_DROPOUT, "model.dropout", self.dropout,
               f"must be in [0, {MAX_DROPOUT}) (dropout must leave some units)")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    l2: float = 1e-4  # penalty 0.5 * l2 * ||W||^2 on weights, not on biases or BN
    schedule: str = "cosine"
    warmup_epochs: int = 0
    step_every: int = 8  # step schedule: multiply by step_gamma every step_every epochs
    step_gamma: float = 0.1
    seed: int = 0
    eval_batch_size: int = 5000
    chance_epochs: int = 3  # stop a run at chance level this many epochs in a row (0: never)

    def validate(self) -> None:
        _check(self.epochs >= 1, "training.epochs", self.epochs, "must be >= 1")
        _check(self.batch_size >= 1, "training.batch_size", self.batch_size, "must be >= 1")
        _check(math.isfinite(self.lr) and self.lr > 0, "training.lr", self.lr, "must be > 0")
        _check(0.0 <= self.momentum < 1.0, "training.momentum", self.momentum,
               "must be in [0, 1)")
        _check(math.isfinite(self.l2) and self.l2 >= 0, "training.l2", self.l2, "must be >= 0")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"training.schedule: unknown schedule {shown(self.schedule)} "
                              f"(choose from {', '.join(SCHEDULES)})")
        _check(0 <= self.warmup_epochs < self.epochs or self.warmup_epochs == 0,
               "training.warmup_epochs", self.warmup_epochs, "must be below the epoch count")
        _check(self.step_every >= 1, "training.step_every", self.step_every, "must be >= 1")
        _check(0 < self.step_gamma <= 1, "training.step_gamma", self.step_gamma,
               "must be in (0, 1]")
        _check(0 <= self.seed < 2**32, "training.seed", self.seed, "must be in [0, 2**32)")
        _check(self.eval_batch_size >= 1, "training.eval_batch_size", self.eval_batch_size,
               "must be >= 1")
        _check(self.chance_epochs >= 0, "training.chance_epochs", self.chance_epochs,
               "must be >= 0 (0: never stop a run for being at chance level)")


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        self.data.validate()
        self.model.validate()
        self.training.validate()
        if self.model.batch_norm and self.training.batch_size < 2:
            raise ConfigError("training.batch_size: batch norm needs batches of at least 2 "
                              f"(normalising one example gives 0), got {self.training.batch_size}")

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Config:
        """Build a config from its JSON form; unknown keys and wrong types are errors."""
        if not isinstance(raw, dict):
            raise ConfigError("config: expected a JSON object")
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"config: unknown section {shown(sorted(unknown)[0])}")
        parts = {}
        for f in fields(cls):
            section_cls = _SECTIONS[f.name]
            section = raw.get(f.name, {})
            if not isinstance(section, dict):
                raise ConfigError(f"{f.name}: expected an object")
            parts[f.name] = section_cls(**{
                key: coerce(f"{f.name}.{key}", value, _field_type(section_cls, f.name, key))
                for key, value in section.items()
            })
        return cls(**parts)

    @classmethod
    def from_record(cls, raw: dict[str, Any]) -> Config:
        """A config as a run recorded it (config.json, a study's settings). A key the
        record lacks was written before the key existed, and takes the value that
        behaves as that older version did, not today's default."""
        config = cls.from_dict(raw)
        missing = {key: value for key, value in RECORDED_BEFORE.items()
                   if key.split(".")[1] not in (raw.get(key.split(".")[0]) or {})}
        return config.with_overrides(missing) if missing else config

    def value(self, name: str) -> Any:
        """The value of ``section.key`` or of an unambiguous bare ``key``."""
        section, key = resolve_key(name)
        return getattr(getattr(self, section), key)

    def with_overrides(self, overrides: dict[str, Any]) -> Config:
        """A copy with `section.key` (or unambiguous bare `key`) values replaced."""
        sections = {name: dataclasses.asdict(getattr(self, name)) for name in _SECTIONS}
        for dotted, value in overrides.items():
            section, key = resolve_key(dotted)
            sections[section][key] = value
        return Config.from_dict(sections)


# keys added after runs were first recorded, with the value that reproduces those runs
RECORDED_BEFORE: dict[str, Any] = {"training.chance_epochs": 0}

_SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "training": TrainConfig}


def resolve_key(name: str) -> tuple[str, str]:
    """Map `training.lr` or plain `lr` to (section, key)."""
    if "." in name:
        section, key = name.split(".", 1)
        if section not in _SECTIONS or key not in {f.name for f in fields(_SECTIONS[section])}:
            raise ConfigError(f"unknown config key {shown(name)}")
        return section, key
    owners = [s for s, cls in _SECTIONS.items() if name in {f.name for f in fields(cls)}]
    if len(owners) != 1:
        raise ConfigError(f"unknown config key {shown(name)}")
    return owners[0], name


def _field_type(section_cls: type, section: str, key: str) -> str:
    for f in fields(section_cls):
        if f.name == key:
            return str(f.type)
    raise ConfigError(f"{section}.{key}: unknown key")


def coerce(name: str, value: Any, type_name: str) -> Any:
    """Check (and for strings from a command line, convert) one value against its field type.

    JSON gives ints where a float is meant (``"lr": 1``), and a command line gives
    strings for everything, so both are accepted where the meaning is unambiguous;
    anything else (a bool for an int, a float for an int) is an error.
    """
    optional = "None" in type_name
    base = type_name.replace(" | None", "")
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name}: must not be null")
    if isinstance(value, str) and base != "str":
        text = value.strip()
        if optional and text.lower() in ("none", "null", ""):
            return None
        try:
            if base == "bool":
                lowered = text.lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                    raise ValueError
                return lowered in ("true", "1", "yes", "on")
            if base == "int":
                return int(text)
            if base == "float":
                return float(text)
        except ValueError:
            raise ConfigError(f"{name}: expected {base}, got {shown(value)}") from None
    if base == "bool" and isinstance(value, bool):
        return value
    if base == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if base == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if base == "str" and isinstance(value, str):
        return value
    raise ConfigError(f"{name}: expected {base}, got {shown(value)}")


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict = 2, 4, 4


def shown(value: Any) -> str:
    """``repr(value)`` cut short: an error message stays one readable line even for a
    megabyte string or a deeply nested list from a config file."""
    return _SHORT.repr(value)


def _check(ok: bool, name: str, value: Any, what: str) -> None:
    if not ok:
        raise ConfigError(f"{name}: {what}, got {shown(value)}")
