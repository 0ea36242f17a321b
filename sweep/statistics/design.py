"""The trials as the statistical methods read them: a float matrix on the analysis scale.

Every method in this package works on a matrix ``X`` (one row per completed trial, one
column per sampled setting) whose values are already on the scale the setting was
sampled on, the *analysis scale*:

- a log-scaled setting (hidden_size, l2, lr) as log10 of its value;
- any other numeric setting (dropout) as its value;
- a categorical setting as the index of its choice (batch_size 32..512 -> 0..4).

`design_matrix` builds it from a trials table and one `SettingSpec` per setting; the
result, a `Design`, also carries each setting's kind and its range on the analysis scale
(the search space's, when the spec gives it), which the surrogate uses to scale its basis
and the importances use as the fixed measure they average over.

Kinds: ``continuous`` (a float or int range), ``ordinal`` (categorical with numeric
choices, read in the order of the choices, whose index is the analysis value: for
batch_size's doubling choices that index is log2(batch/32)) and ``nominal`` (categorical
choices with no order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

KINDS = ("continuous", "ordinal", "nominal")


@dataclass(frozen=True)
class SettingSpec:
    """How one setting is read: its name, whether it was sampled on a log scale, its
    categorical choices (None for a numeric range) and, optionally, its range in raw units
    (``low``/``high``; without them the observed range is used)."""

    name: str
    log: bool = False
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    column: str | None = None  # the table's column; default: name, else params_<name>

    @property
    def kind(self) -> str:
        if self.choices is None:
            return "continuous"
        numeric = all(isinstance(c, int | float) and not isinstance(c, bool)
                      for c in self.choices)
        return "ordinal" if numeric else "nominal"


@dataclass(frozen=True)
class Setting:
    """One column of a `Design`: its kind and its range on the analysis scale. ``levels``
    is the number of choices of a categorical setting (their analysis values are
    0..levels-1); ``log`` says the analysis value is log10 of the raw one."""

    name: str
    kind: str = "continuous"
    low: float = 0.0
    high: float = 1.0
    levels: int | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"setting {self.name!r}: kind must be one of {KINDS}")
        if self.kind != "continuous" and (self.levels is None or self.levels < 1):
            raise ValueError(f"setting {self.name!r}: a categorical setting needs levels")

    def raw(self, x: Any) -> Any:
        """Analysis-scale values back in the setting's own units (a choice for a
        categorical setting, 10**x for a log one)."""
        if self.kind != "continuous":
            idx = np.clip(np.rint(np.asarray(x, dtype=float)), 0, self.levels - 1).astype(int)
            if self.choices is None:
                return idx
            return np.array([self.choices[i] for i in np.atleast_1d(idx)], dtype=object)
        x = np.asarray(x, dtype=float)
        return np.power(10.0, x) if self.log else x


@dataclass(frozen=True)
class Design:
    """Completed trials on the analysis scale: ``X`` (n x p), the objective ``y`` (n),
    the settings (p), and ``rows``: the index labels of the trials kept (those with a
    finite objective and every setting known)."""

    X: np.ndarray
    y: np.ndarray
    settings: tuple[Setting, ...]
    rows: tuple[Any, ...] = ()

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.settings]


def _values(spec: SettingSpec, raw: pd.Series) -> np.ndarray:
    if spec.choices is not None:
        index = {_key(c): i for i, c in enumerate(spec.choices)}
        return np.array([index.get(_key(v), np.nan) for v in raw], dtype=np.float64)
    x = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    if spec.log:
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(x > 0, np.log10(x), np.nan)
    return x


def _key(v: Any) -> str:
    """64, 64.0 and np.int64(64) are one choice (a column with a gap turns ints to floats)."""
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, int | float) and not isinstance(v, bool):
        f = float(v)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(v)


def design_matrix(df: pd.DataFrame, specs: Sequence[SettingSpec],
                  objective: str = "value") -> Design:
    """The analysis-scale matrix of the trials in ``df`` for the settings in ``specs``.

    A setting's column is ``spec.column``, else ``name``, else ``params_<name>``. Trials
    whose objective is missing or not finite, or with any setting missing or outside its
    choices, are left out (``Design.rows`` names those kept). The range of a numeric
    setting is ``spec.low``..``spec.high`` on the analysis scale when given, else the
    observed range."""
    y = pd.to_numeric(df[objective], errors="coerce").to_numpy(dtype=np.float64)
    cols, settings = [], []
    for spec in specs:
        name = spec.column or (spec.name if spec.name in df.columns else f"params_{spec.name}")
        x = _values(spec, df[name])
        cols.append(x)
    X = np.column_stack(cols) if cols else np.empty((len(df), 0))
    keep = np.isfinite(y) & np.all(np.isfinite(X), axis=1)
    X, y = X[keep], y[keep]
    for j, spec in enumerate(specs):
        if spec.choices is not None:
            settings.append(Setting(spec.name, spec.kind, 0.0, float(len(spec.choices) - 1),
                                    len(spec.choices), False, tuple(spec.choices)))
            continue
        lo = spec.low if spec.low is not None else (float(X[:, j].min()) if len(X) else 0.0)
        hi = spec.high if spec.high is not None else (float(X[:, j].max()) if len(X) else 1.0)
        if spec.log and spec.low is not None:
            lo = math.log10(spec.low)
        if spec.log and spec.high is not None:
            hi = math.log10(spec.high)
        settings.append(Setting(spec.name, "continuous", float(lo), float(hi), None, spec.log))
    return Design(X, y, tuple(settings), tuple(df.index[keep]))


def from_arrays(X: np.ndarray, y: np.ndarray, settings: Sequence[Setting]) -> Design:
    """A `Design` from arrays already on the analysis scale (rows with a missing value are
    dropped)."""
    X = np.asarray(X, dtype=np.float64).reshape(len(y), len(settings))
    y = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(y) & np.all(np.isfinite(X), axis=1)
    return Design(X[keep], y[keep], tuple(settings), tuple(np.flatnonzero(keep).tolist()))
