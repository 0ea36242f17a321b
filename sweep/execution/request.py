"""What one run of a study asks for: every option of ``sweep run`` and ``sweep.run()``.

Each option is declared once, here (sweep/options.py says how a declaration is read):
its name (the flag is the name with dashes), its help, how a value is converted and
checked, and its default. None means "not given": a study setting then keeps its
stored value (a resumed study runs as it was created), or takes the default of a new
study. The rules between options are `RunRequest.check`.

Study settings (stored with the study, the same for every run of it): epochs,
dataset, data_dir, train_limit, space, sampler, pruner, explore, seed, lag, heartbeat.
Options of one run: the rest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlp.config import DATASETS, Config

from ..errors import UsageError
from ..options import declared, duration, one_of, option, spell, switch, text, whole, whole_or
from ..study.lag import DEFAULT_LAG, MAX_LAG
from ..study.paths import StudyLocation
from ..study.samplers import (
    ASHA_MIN_RUNG,
    ASHA_REDUCTION,
    DEFAULT_PRUNER,
    HYPERBAND_MIN_RUNG,
    HYPERBAND_REDUCTION,
    PRUNERS,
    SAMPLERS,
)
from ..study.settings import Settings
from ..study.space import Space, load_space, space_from_changes
from ..study.storage import DEFAULT_HEARTBEAT, GRACE_BEATS, MAX_HEARTBEAT
from .controller import FAIL_STREAK, STALL_LIMIT
from .dask_backend import BACKENDS
from .jobs import cores
from .trial import PLOTS

MAX_THREADS = 1024  # BLAS threads a Dask worker's trial may ask for (its machine's cores)
EXPLORE = (("sampler", "qmc"), ("pruner", "none"))


def space_value(value: Any) -> Space:
    """A `Space`, a dict laid out as a space file, or the path of a TOML space file."""
    if isinstance(value, Space):
        return value
    if isinstance(value, dict):
        return space_from_changes(value, "space")
    if isinstance(value, str | os.PathLike):
        return load_space(Path(value))
    raise ValueError(f"expected a Space, a dict or a file, not {type(value).__name__}")


def lag_value(value: Any) -> int | str:
    """A whole number of trials, or "off" (kept as the word: None means not given)."""
    if isinstance(value, str) and value.strip().lower() == "off":
        return "off"
    try:
        return whole(0, MAX_LAG)(value)
    except ValueError:
        raise ValueError(f"must be a whole number from 0 to {MAX_LAG}, or off") from None


def assignments(value: Any) -> dict[str, str]:
    """``name=value,name=value`` (or a dict): a configuration by setting."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    pairs = [item.partition("=") for item in str(value).split(",") if item.strip()]
    if not pairs or any(not sep or not name.strip() or not text.strip()
                        for name, sep, text in pairs):
        raise ValueError("expected NAME=VALUE,... (e.g. lr=0.05,batch_size=64)")
    names = [name.strip() for name, _, _ in pairs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{twice[0]} is given more than once")
    return {name.strip(): text.strip() for name, _, text in pairs}


def plots_value(value: Any) -> str:
    if value is True or value is False:
        return "best" if value else "none"
    return one_of(*PLOTS)(value)


def jobs_option() -> Any:
    """``--jobs``, the same for every command that starts workers."""
    return option(None, convert=whole_or("auto", 1), metavar="N|auto",
                  help="worker processes at once (default auto: one per core while "
                       "trials, the study's lag and memory allow)")


@dataclass(frozen=True, kw_only=True)
class RunRequest(StudyLocation):
    trials: int = option(required=True, convert=whole(1), metavar="N",
                         help="finished trials (completed, pruned or failed) the study "
                              "should have in the end")
    jobs: int | None = jobs_option()
    threads: int | None = option(None, convert=whole(1), metavar="T",
                                 help="BLAS threads per worker (default: the cores shared "
                                      "out among the workers)")
    backend: str = option("loky", convert=one_of(*BACKENDS), metavar="{loky,dask}",
                          help="where trials run: worker processes here (loky), or the "
                               "workers of a Dask cluster (dask, with --scheduler; --jobs "
                               "is then the trials in flight, default the cluster's threads)")
    scheduler: str | None = option(None, convert=text, metavar="ADDRESS",
                                   help="with --backend dask: the Dask scheduler, e.g. "
                                        "tcp://HOST:8786")
    epochs: int | None = option(None, config_key="training.epochs", convert=whole(1), metavar="E",
                                      help="epochs of every trial (20)")
    dataset: str | None = option(None, config_key="data.dataset", convert=one_of(*DATASETS),
                                 metavar="{mnist,fashion-mnist,idx}", help="dataset (mnist)")
    data_dir: str | None = option(None, config_key="data.data_dir", convert=text,
                                  metavar="DIR", help="a folder holding the four IDX files")
    train_limit: int | None = option(None, config_key="data.train_limit", convert=whole(1),
                                     metavar="N",
                                           help="train on the first N training images only")
    space: Space | None = option(None, convert=space_value, metavar="FILE",
                                 help="a TOML file changing the search space")
    sampler: str | None = option(None, convert=one_of(*SAMPLERS),
                                 metavar="{" + ",".join(SAMPLERS) + "}", help="sampler (tpe)")
    pruner: str | None = option(None, convert=one_of(*PRUNERS),
                                metavar="{" + ",".join(PRUNERS) + "}",
                                help=f"pruner ({DEFAULT_PRUNER}): hyperband (rungs from epoch "
                                     f"{HYPERBAND_MIN_RUNG}, 1 in {HYPERBAND_REDUCTION} goes "
                                     f"on, several brackets), asha (successive halving: rungs "
                                     f"at epoch {ASHA_MIN_RUNG} and every {ASHA_REDUCTION}x "
                                     f"after, 1 in {ASHA_REDUCTION} goes on), median (below "
                                     "the median of completed trials at the same epoch) or "
                                     "none")
    explore: bool = option(False, switch=True, convert=switch,
                           help="an exploration study: --sampler qmc --pruner none "
                                "(quasi-random points over the whole space, every trial "
                                "trained to the end)")
    seed: int | None = option(None, convert=whole(0, 2**32 - 1), metavar="S",
                              help="the study's seed (0)")
    lag: int | None | str = option(None, convert=lag_value, metavar="N|off",
                                   help="trial k learns only from trials 0..k-1-N, once they "
                                        "have finished, so the study does not depend on "
                                        f"timing or --jobs (default {DEFAULT_LAG}; off: from "
                                        "whatever has finished)")
    heartbeat: int | None = option(None, convert=whole(1, MAX_HEARTBEAT), metavar="SECONDS",
                                   help="with a database storage: seconds between a running "
                                        f"trial's heartbeats; a trial silent for {GRACE_BEATS} "
                                        "of them is failed and retried by any run (default "
                                        f"{DEFAULT_HEARTBEAT})")
    timeout: float | None = option(None, convert=duration, metavar="DURATION",
                                   help="start no trial after this long (e.g. 90s, 30m, 2h)")
    stall_timeout: float = option(STALL_LIMIT, convert=duration, metavar="DURATION",
                                  help="fail a trial whose worker shows no progress this long, "
                                       f"and replace the worker (default "
                                       f"{STALL_LIMIT / 60:.0f}m, or 10 epochs if longer)")
    enqueue: dict[str, str] | None = option(
        None, convert=assignments, metavar="NAME=VALUE,...",
        help="run this configuration next, e.g. lr=0.05,batch_size=64 (sampled settings by "
             "name; those left out are sampled); it counts toward --trials and is enqueued "
             "once however often the command runs")
    fail_streak: int = option(FAIL_STREAK, convert=whole(1), metavar="N",
                              help="stop the run when this many trials fail in a row "
                                   f"(default {FAIL_STREAK})")
    plots: str = option("best", convert=plots_value, shortcuts=(("--no-plots", "none"),),
                        metavar="{" + ",".join(PLOTS) + "}",
                        help="which trials draw their figures as they finish: "
                             + "; ".join(f"{k}: {v}" for k, v in PLOTS.items())
                             + " (default best; sweep plots --trial N draws any later)")
    report: bool = option(True, switch=True, negatable=True, convert=switch,
                          help="write the report at the end (default: yes)")
    quiet: bool = option(False, switch=True, convert=switch,
                         help="no progress (no bar, no line per trial): messages and the "
                              "summary only, as sweep train --quiet")

    def check(self, cli: bool) -> RunRequest:
        """The rules between options; the request with ``explore`` spelled out."""
        name = lambda option: spell(RunRequest, option, cli)  # noqa: E731
        request = self
        if self.explore:
            for key, value in EXPLORE:
                given = getattr(self, key)
                if given is not None and given != value:
                    raise UsageError(f"{name('explore')} means {name(key)} {value}; "
                                     f"{name(key)} {given} contradicts it")
            request = replace(self, **dict(EXPLORE))
        if self.backend == "dask" and not self.scheduler:
            raise UsageError(f"{name('backend')} dask needs {name('scheduler')} ADDRESS (a "
                             "running Dask scheduler, e.g. tcp://HOST:8786)")
        if self.backend != "dask" and self.scheduler:
            raise UsageError(f"{name('scheduler')}: only with {name('backend')} dask")
        if self.threads is not None:
            # More BLAS threads than cores only slows a worker down; OpenBLAS quietly runs
            # at most its build's maximum (64 here) whatever it is told, so config.json
            # would record a count the trial never ran with. Dask workers run on other
            # machines: only a sane bound is known.
            most, why = (MAX_THREADS, "a Dask worker's") if self.backend == "dask" else \
                (cores(), "this run's")
            if self.threads > most:
                raise UsageError(f"{name('threads')} {self.threads}: at most {most} ({why} "
                                 "cores)")
        return request

    @property
    def overrides(self) -> dict[str, Any]:
        """The config values given, by dotted key (``training.epochs``)."""
        return {opt.config_key: getattr(self, f.name) for f, opt in declared(RunRequest)
                if opt.config_key and getattr(self, f.name) is not None}

    def lag_setting(self, stored: int | None) -> int | None:
        """The study's lag: the one asked for (None for off), else ``stored``."""
        if self.lag is None:
            return stored
        return None if self.lag == "off" else int(self.lag)


def problem_flags(settings: Settings) -> list[str]:
    """The run options that make a study's problem what it is (its epochs, dataset, data
    folder, training limit), where they differ from the defaults: what another study of
    the same problem is run with. A value the space fixes or samples is the space's."""
    base, config = Config(), settings.config
    space = settings.space.fixed_overrides() | settings.space.sampled_keys()
    flags = []
    for f, opt in declared(RunRequest):
        key = opt.config_key
        if key and key not in space and config.value(key) != base.value(key):
            flags += [opt.flag(f.name), str(config.value(key))]
    return flags
