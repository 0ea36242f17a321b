"""One sampled setting of a study, and everything the harness needs to know about it.

A `Param` is built once, from the default space or a space file, and the same
object then samples values (`suggest`), says where a value sits in its range
(`position`, `scale`), cuts its range into bins for the report (`bins`) and
formats its values (`sweep.text.short`). Its name is the bare config key (``dropout``), the
same name in the space file, in Optuna's params, in trial.json and in the
report; tables prefix it as Optuna's do (``params_dropout``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import optuna

from mlp.config import resolve_key

from ..text import short

TYPES = ("int", "float", "categorical")

# what each setting is measured in, for axis labels
UNITS = {
    "hidden_size": "hidden units",
    "hidden_layers": "layers",
    "dropout": "fraction of units dropped",
    "l2": "weight-decay coefficient",
    "lr": "learning rate per step",
    "batch_size": "images per batch",
    "momentum": "momentum coefficient",
    "epochs": "epochs",
    "warmup_epochs": "epochs",
    "step_every": "epochs",
    "step_gamma": "factor",
    "shift": "pixels",
    "train_limit": "images",
}


@dataclass(frozen=True)
class Bins:
    """Bins of one setting: edges in the sampled scale (log10 for log settings)."""

    edges: np.ndarray | None  # None: one bin per categorical choice
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Param:
    """A setting the study samples: a config key with a type and a range or choices."""

    name: str  # bare config key, e.g. "lr"
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None
    grid: tuple[Any, ...] | None = None  # the values --sampler grid tries (int and float)

    @property
    def key(self) -> str:
        """The dotted config key, e.g. ``training.lr``."""
        section, key = resolve_key(self.name)
        return f"{section}.{key}"

    @property
    def column(self) -> str:
        """The setting's column in trial tables (Optuna's convention)."""
        return f"params_{self.name}"

    @property
    def categorical(self) -> bool:
        return self.type == "categorical"

    @property
    def numeric_choices(self) -> bool:
        return self.categorical and all(
            isinstance(c, int | float) and not isinstance(c, bool) for c in self.choices)

    @property
    def varies(self) -> bool:
        """Whether the space lets this setting take more than one value."""
        if self.categorical:
            return len(self.choices) > 1
        return self.high > self.low

    @property
    def unit(self) -> str:
        return UNITS.get(self.name, "value")

    @property
    def label(self) -> str:
        scale = ", log scale" if self.log else ""
        return f"{self.name} ({self.unit}{scale})"

    # -- sampling ------------------------------------------------------------------

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        if self.type == "float":
            return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)
        return trial.suggest_categorical(self.name, list(self.choices))

    def grid_values(self) -> list[Any] | None:
        """The values a grid study tries: the grid, or a categorical setting's choices;
        None for a number setting without a grid."""
        if self.categorical:
            return list(self.choices)
        return list(self.grid) if self.grid is not None else None

    def contains(self, value: Any) -> bool:
        if self.categorical:
            return value in self.choices
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v is not None and k != "name"}
        for key in ("choices", "grid"):
            if d.get(key) is not None:
                d[key] = list(d[key])
        if self.categorical or not self.log:
            d.pop("log", None)
        return d

    # -- the range, as the report reads it -----------------------------------------

    def text(self, value: Any) -> str:
        """A value of this setting in few characters; an integer setting's as a whole
        number (a point between two sampled values, a bin edge, is not one)."""
        if self.type == "int" and isinstance(value, int | float | np.number) and \
                np.isfinite(value):
            return str(int(round(float(value))))
        return short(value)

    def fixed_text(self) -> str:
        """The single value of a setting that never varies."""
        return self.text(self.choices[0] if self.categorical else self.low)

    def range_text(self) -> str:
        if self.categorical:
            return "{" + ", ".join(str(c) for c in self.choices) + "}"
        text = f"[{self.text(self.low)}, {self.text(self.high)}]"
        return text + (" (log)" if self.log else "")

    def scale(self, values: Any) -> np.ndarray:
        """Values on the axis the setting was sampled on: log10 for log settings,
        the choice's index for categorical ones (NaN where missing)."""
        if self.categorical:
            index = {_key(c): i for i, c in enumerate(self.choices)}
            return np.array([index.get(_key(v), np.nan) for v in values], dtype=np.float64)
        import pandas as pd  # here: worker processes import this module, not pandas

        x = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce")
        x = x.to_numpy(dtype=np.float64)
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where(x > 0, np.log10(x), np.nan)
        return x

    def unscale(self, x: Any) -> Any:
        return np.power(10.0, x) if self.log else x

    def position(self, value: Any) -> float:
        """Where ``value`` sits in the range, 0 (low) to 1 (high), on the sampled scale."""
        if not self.varies:
            return 0.5
        x = float(self.scale([value])[0])
        if self.categorical:
            return x / (len(self.choices) - 1)
        lo, hi = self.scale([self.low, self.high])
        return (x - lo) / (hi - lo)

    def bins(self, n: int) -> Bins:
        """``n`` equal bins on the sampled scale (one per integer for small int ranges)."""
        if self.categorical:
            return Bins(None, tuple(str(c) for c in self.choices))
        lo, hi = self.scale([self.low, self.high])
        if not self.varies:
            return Bins(np.array([lo - 0.5, hi + 0.5]), (self.text(self.low),))
        if self.type == "int" and self.high - self.low + 1 <= n:
            values = np.arange(int(self.low), int(self.high) + 1)
            mids = np.concatenate([[values[0] - 0.5], values[:-1] + 0.5, [values[-1] + 0.5]])
            edges = self.scale(np.maximum(mids, 1e-9 if self.log else -np.inf))
            return Bins(edges, tuple(str(v) for v in values))
        edges = np.linspace(lo, hi, n + 1)
        raw = self.unscale(edges)
        if self.type == "int":
            labels = tuple(f"{math.ceil(raw[i] - 1e-9) if i else int(raw[0])}"
                           f"–{math.floor(raw[i + 1] + 1e-9)}" for i in range(n))
        else:
            labels = tuple(f"{self.text(raw[i])}–{self.text(raw[i + 1])}" for i in range(n))
        return Bins(edges, labels)

    def bin_of(self, values: Any, bins: Bins) -> np.ndarray:
        """The bin index of each value (-1 where missing)."""
        x = self.scale(values)
        if bins.edges is None:
            out = np.where(np.isfinite(x), x, -1)
        else:
            out = np.searchsorted(bins.edges, x, side="right") - 1
            out = np.clip(out, 0, len(bins) - 1)
            out = np.where(np.isfinite(x), out, -1)
        return out.astype(np.int64)


def _key(v: Any) -> str:
    """Categorical values compare by a text form in which 64, 64.0 and np.int64(64) agree
    (a column with a missing value turns pandas' ints into floats)."""
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, int | float) and not isinstance(v, bool):
        f = float(v)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(v)
