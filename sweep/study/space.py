"""The search space: which config values a study samples, over which ranges.

The default is the mission's five settings. A TOML space file changes a range,
fixes a setting, or adds another one::

    [params.lr]                 # change a range
    low = 0.01
    high = 0.5
    log = true

    [params.momentum]           # add a setting (any config key)
    type = "float"
    low = 0.8
    high = 0.99

    [params.hidden_size]        # the values a grid study (--sampler grid) tries; the
    grid = [128, 512, 1024]     # range is the grid's unless low and high are given

    [fixed]                     # fix a setting for the whole study
    dropout = 0.2
    epochs = 10

Names are config keys, bare (``lr``) or dotted (``training.lr``).
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from mlp.config import Config, ConfigError, resolve_key

from ..errors import UsageError
from ..text import short
from .param import TYPES, Param

DEFAULT_PARAMS: tuple[Param, ...] = (
    Param("hidden_size", "int", 32, 2048, log=True),
    Param("dropout", "float", 0.0, 0.7),
    Param("l2", "float", 1e-6, 1e-2, log=True),
    Param("lr", "float", 1e-3, 1.0, log=True),
    Param("batch_size", "categorical", choices=(32, 64, 128, 256, 512)),
)



@dataclass(frozen=True)
class Space:
    params: tuple[Param, ...]
    fixed: tuple[tuple[str, Any], ...] = ()
    source: str = field(default="space", compare=False, repr=False)  # how errors name it

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def param(self, name: str) -> Param:
        try:
            return next(p for p in self.params if p.name == name)
        except StopIteration:
            raise KeyError(name) from None

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Config overrides for one trial: its sampled values, keyed by dotted config key."""
        return {p.key: p.suggest(trial) for p in self.params}

    def grid(self, flag: str = "--sampler grid") -> dict[str, list[Any]]:
        """Each sampled setting's grid values (a categorical setting's choices), for
        Optuna's GridSampler; a number setting without a grid is a `UsageError` naming
        every such setting."""
        missing = [p.name for p in self.params if p.grid_values() is None]
        if missing:
            raise UsageError(
                f"{flag}: {', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no "
                "grid: give each `grid = [values]` in a --space file (or fix it in [fixed])")
        return {p.name: p.grid_values() for p in self.params}

    def grid_size(self) -> int:
        """How many points the grid has (every combination of the settings' values)."""
        return math.prod(len(values) for values in self.grid().values())

    def fixed_overrides(self) -> dict[str, Any]:
        return {_dotted(name): value for name, value in self.fixed}

    def sampled_keys(self) -> dict[str, str]:
        """The configuration key of each sampled setting (``training.epochs``), by name."""
        return {_dotted(p.name): p.name for p in self.params}

    def classic_params(self) -> dict[str, Any]:
        """The classic configuration's values for the sampled settings that can take them.

        The classic student project is `Config`'s defaults, so trial 0 of every study
        shows where it stands.
        """
        classic = Config()
        return {p.name: classic.value(p.name) for p in self.params
                if classic.value(p.name) is not None and p.contains(classic.value(p.name))}

    def classic_outside(self) -> str:
        """The classic values this space cannot hold, in words (``hidden_size=512``), or
        "": trial 0 then samples those settings and is the classic configuration only
        as far as the space allows."""
        classic = Config()
        return ", ".join(f"{p.name}={short(classic.value(p.name))}" for p in self.params
                         if p.name not in self.classic_params())

    def check_against(self, config: Config, source: str = "space") -> None:
        """Every value the sampler may pick must make a valid config with this study's
        other settings (e.g. warm-up epochs below a fixed epoch count)."""
        for p in self.params:
            values = list(p.choices) if p.categorical else [p.low, p.high]
            if p.type == "int":
                values = [int(v) for v in values]
            for value in values:
                try:
                    config.with_overrides({p.key: value})
                except ConfigError as exc:
                    raise UsageError(f"{source}: params.{p.name} can be {value!r}, which this "
                                     f"study's other settings do not allow ({exc})") from None

    def to_dict(self) -> dict[str, Any]:
        return {"params": {p.name: p.to_dict() for p in self.params},
                "fixed": dict(self.fixed)}

    def to_toml(self) -> str:
        """The space as a space file that gives it back whole (`load_space`): every
        setting's range spelled out with its type, so none falls back to a default."""
        lines = []
        for p in self.params:
            lines.append(f"[params.{p.name}]")
            lines += [f"{key} = {_toml_value(value)}"
                      for key, value in (p.to_dict() | {"type": p.type}).items()]
            lines.append("")
        lines.append("[fixed]")
        lines += [f"{name} = {_toml_value(value)}" for name, value in self.fixed]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "space") -> Space:
        params = tuple(_param(name, spec, source)
                       for name, spec in raw.get("params", {}).items())
        return cls(params, tuple(sorted(raw.get("fixed", {}).items())), source)


def default_space() -> Space:
    return Space(DEFAULT_PARAMS)


def load_space(path: str | Path | None) -> Space:
    """The default space with a TOML file's changes applied."""
    if path is None:
        return default_space()
    path = Path(path)
    return space_from_changes(_read_toml(path), f"--space {path}")


def space_from_changes(raw: dict[str, Any], source: str = "space") -> Space:
    """The default space with changes laid out as in a space file: ``{"params": {NAME:
    {low, high, log, type, choices}}, "fixed": {NAME: value}}``; ``source`` names them in
    errors."""
    if not isinstance(raw, dict):
        raise UsageError(f"{source}: expected a table with [params] and [fixed]")
    unknown = set(raw) - {"params", "fixed"}
    if unknown:
        raise UsageError(f"{source}: unknown table [{sorted(unknown)[0]}] "
                         "(expected [params.NAME] and [fixed])")
    merged = {p.name: p.to_dict() | {"type": p.type} for p in DEFAULT_PARAMS}
    changes = raw.get("params", {})
    if not isinstance(changes, dict):
        raise UsageError(f"{source}: [params] must be a table of settings")
    for name, spec in changes.items():
        name = _bare(name, source)
        if not isinstance(spec, dict):
            raise UsageError(f"{source}: params.{name} must be a table")
        if name in merged and "type" not in spec and "choices" not in spec:
            base = merged[name]
            if "grid" in spec and not {"low", "high"} & set(spec):
                # a grid alone: its range is the grid's, not the default one
                base = {k: v for k, v in base.items() if k not in ("low", "high")}
            merged[name] = base | spec  # change part of a default range
        else:
            merged[name] = spec
    fixed = raw.get("fixed", {})
    if not isinstance(fixed, dict):
        raise UsageError(f"{source}: [fixed] must be a table of settings")
    fixed = _fixed_names(fixed, source)
    both = sorted(set(fixed) & {_bare(n, source) for n in changes})
    if both:
        raise UsageError(f"{source}: {both[0]} is both sampled ([params]) and fixed "
                         "([fixed]); keep one")
    for name in fixed:
        merged.pop(name, None)
    space = Space.from_dict({"params": merged, "fixed": fixed}, source)
    try:
        Config().with_overrides(space.fixed_overrides())
    except ConfigError as exc:
        raise UsageError(f"{source}: [fixed] {exc}") from None
    return space


MAX_SPACE_BYTES = 1 << 20  # a space file is a few lines; more is a mistake


def _read_toml(path: Path) -> dict[str, Any]:
    """A space file's TOML, read only if it is a regular file of sensible size."""
    try:
        if not path.is_file():
            what = "no such file" if not path.exists() else "not a regular file"
            raise UsageError(f"--space {path}: {what}")
        with open(path, "rb") as f:
            data = f.read(MAX_SPACE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"--space {path}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_SPACE_BYTES:
        raise UsageError(f"--space {path}: larger than {MAX_SPACE_BYTES // 1024} KiB; "
                         "a space file is a few lines of TOML")
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is harmless
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(f"--space {path}: not valid TOML (line {line} is not UTF-8 text)"
                         ) from None
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise UsageError(f"--space {path}: not valid TOML ({exc})") from None


def _toml_value(value: Any) -> str:
    """A TOML value: JSON spells numbers, strings, booleans and arrays as TOML does,
    except that TOML has no null (no space holds one) and writes inf and nan bare."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if value is None or isinstance(value, dict):
        raise ValueError(f"no TOML value for {value!r}")
    return json.dumps(value)


def _fixed_names(fixed: dict[str, Any], source: str) -> dict[str, Any]:
    """[fixed] keyed by bare config keys; the same key twice, or a seed, is refused."""
    out: dict[str, Any] = {}
    for key, value in fixed.items():
        name = _bare(key, source)
        if name in out:
            raise UsageError(f"{source}: [fixed] names {name} twice ({key!r} and another "
                             "spelling); keep one")
        if name == "seed":
            raise UsageError(f"{source}: [fixed] seed: each trial's seed comes from the study "
                             "seed (use --seed)")
        out[name] = value
    return out


def _bare(name: str, source: str) -> str:
    try:
        return resolve_key(name)[1]
    except ConfigError:
        raise UsageError(f"{source}: unknown setting {name!r}") from None


def _dotted(name: str) -> str:
    section, key = resolve_key(name)
    return f"{section}.{key}"


def _param(name: str, spec: dict[str, Any], source: str) -> Param:
    where = f"{source}: params.{name}"
    name = _bare(name, source)
    if name == "seed":
        raise UsageError(f"{where}: each trial's seed comes from the study seed (use --seed; "
                         "`sweep confirm` re-trains the best trials over several seeds)")
    kind = spec.get("type", "categorical" if "choices" in spec else None)
    if kind not in TYPES:
        raise UsageError(f"{where}: type must be one of {', '.join(TYPES)}, got {kind!r}")
    allowed = {"type", "choices"} if kind == "categorical" else \
        {"type", "low", "high", "log", "grid"}
    extra = set(spec) - allowed
    if extra:
        raise UsageError(f"{where}: unexpected key {sorted(extra)[0]!r} for a {kind} setting")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise UsageError(f"{where}: choices must be a non-empty list")
        seen: list[Any] = []
        for c in choices:  # a repeated choice would be sampled twice as often, silently
            if any(type(c) is type(s) and c == s for s in seen):
                raise UsageError(f"{where}: choice {c!r} is given twice")
            seen.append(c)
        param = Param(name, kind, choices=tuple(choices))
        values = list(choices)
    else:
        grid = _grid(spec.get("grid"), kind, where) if "grid" in spec else None
        low, high, log = spec.get("low"), spec.get("high"), spec.get("log", False)
        if grid is not None:
            low = min(grid) if low is None else low
            high = max(grid) if high is None else high
        for label, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise UsageError(f"{where}: {label} must be a number, got {v!r}")
            if kind == "int" and not float(v).is_integer():
                raise UsageError(f"{where}: {label} must be an integer, got {v!r}")
        if not isinstance(log, bool):
            raise UsageError(f"{where}: log must be true or false, got {log!r}")
        if low > high:
            raise UsageError(f"{where}: low ({low}) is above high ({high})")
        if log and low <= 0:
            raise UsageError(f"{where}: a log scale needs a positive low bound, got {low}")
        outside = [v for v in grid or () if not low <= v <= high]
        if outside:
            raise UsageError(f"{where}: grid value {outside[0]!r} is outside the range "
                             f"[{low}, {high}]")
        if log and grid is not None and min(grid) <= 0:
            raise UsageError(f"{where}: a log scale needs positive grid values, got "
                             f"{min(grid)!r}")
        param = Param(name, kind, low, high, log, grid=grid)
        values = [int(low), int(high)] if kind == "int" else [float(low), float(high)]
    for value in values:  # every value the sampler may pick must make a valid config
        try:
            Config().with_overrides({param.key: value})
        except ConfigError as exc:
            raise UsageError(f"{where}: {exc}") from None
    return param


def _grid(raw: Any, kind: str, where: str) -> tuple[Any, ...]:
    """A space file's ``grid = [...]``: a non-empty list of distinct numbers (integers
    for an int setting), in the order given."""
    if not isinstance(raw, list) or not raw or any(
            isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
            for v in raw):
        raise UsageError(f"{where}: grid must be a non-empty list of numbers, got {raw!r}")
    if kind == "int":
        if any(not float(v).is_integer() for v in raw):
            raise UsageError(f"{where}: grid values of an int setting must be integers, "
                             f"got {raw!r}")
        values = tuple(int(v) for v in raw)
    else:
        values = tuple(float(v) for v in raw)
    if len(set(values)) < len(values):
        twice = next(v for v in values if values.count(v) > 1)
        raise UsageError(f"{where}: grid names {twice!r} twice")
    return values


def describe_difference(stored: dict[str, Any], new: dict[str, Any]) -> str:
    """One line saying how two stored forms of a space (or settings) differ."""
    diffs = []
    for key in sorted(set(stored) | set(new)):
        a, b = stored.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            inner = describe_difference(a, b)
            diffs.append(f"{key}.{inner}" if inner else key)
        else:
            diffs.append(f"{key}: study has {a!r}, now {b!r}")
    return "; ".join(diffs)
