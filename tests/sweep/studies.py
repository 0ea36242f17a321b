"""Studies written in this process, through Optuna, without training anything: created
the way ``sweep run`` creates them (settings, study.json, the classic trial enqueued),
filled with trials whose values and records the tests choose. They make the reading
commands, the report and the storage testable in process, in milliseconds.
"""

from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial

from mlp.config import Config
from sweep.study.paths import StudyPaths
from sweep.study.records import TrialOutcome
from sweep.study.settings import Settings, create_or_check
from sweep.study.space import Space, load_space, space_from_changes
from sweep.study.storage import open_storage


def distributions(space: Space) -> dict[str, BaseDistribution]:
    out: dict[str, BaseDistribution] = {}
    for p in space.params:
        if p.type == "int":
            out[p.name] = IntDistribution(int(p.low), int(p.high), log=p.log)
        elif p.type == "float":
            out[p.name] = FloatDistribution(float(p.low), float(p.high), log=p.log)
        else:
            out[p.name] = CategoricalDistribution(list(p.choices))
    return out


def api_study(studies: Path, name: str, space: Space | None = None, epochs: int = 4,
              storage: str | None = None, data_dir: Path | None = None
              ) -> tuple[optuna.Study, dict[str, BaseDistribution], np.random.Generator]:
    """A study created the way ``sweep run`` creates it, to be filled through Optuna;
    ``data_dir``: the IDX folder its trials would train on (a real one, for a study that a
    real ``sweep run`` then resumes)."""
    space = space or load_space(None)
    paths = StudyPaths.of(studies, name)
    data_dir = Path(data_dir).resolve() if data_dir else studies / "no-data"
    config = Config().with_overrides({"training.epochs": epochs, "data.dataset": "idx",
                                      "data.data_dir": str(data_dir)})
    settings = Settings(config, space)
    study = create_or_check(paths, open_storage(paths.journal, storage), settings, storage)
    return study, distributions(space), np.random.default_rng(0)


def sample(dists: dict, rng: np.random.Generator) -> dict:
    params = {}
    for name, d in dists.items():
        if isinstance(d, CategoricalDistribution):
            params[name] = d.choices[rng.integers(len(d.choices))]
        else:
            lo, hi = (math.log(d.low), math.log(d.high)) if d.log else (d.low, d.high)
            v = rng.uniform(lo, hi)
            v = math.exp(v) if d.log else v
            params[name] = int(round(v)) if isinstance(d, IntDistribution) else float(v)
    return params


def add(study: optuna.Study, dists: dict, rng: np.random.Generator, state: TrialState,
        value: float | None = None, epochs: int = 4, **attrs) -> None:
    """A finished trial with sampled settings and a rising curve, no directory."""
    params = sample(dists, rng)
    curve = {e: (value or 0.5) * (0.8 + 0.2 * e / epochs) for e in range(1, epochs + 1)}
    user = {"train_seconds": float(rng.uniform(1, 30)), "epochs": epochs,
            "parameter_count": int(params.get("hidden_size", 100)) * 795 + 10} | attrs
    if state == TrialState.COMPLETE:
        user |= {"test_accuracy": value - 0.003, "best_epoch": epochs}
    study.add_trial(create_trial(params=params, distributions=dists, value=value, state=state,
                                 user_attrs=user, intermediate_values=curve))


def known_accuracy(params: dict, rng: np.random.Generator) -> float:
    """Accuracy rises with log(lr) by 6 points over its range; nothing else matters (plus
    noise of 0.1 point)."""
    return float(0.90 + 0.06 * (math.log10(params["lr"]) + 3) / 3
                 + rng.normal(0, 0.001))


def add_known(study: optuna.Study, dists: dict, rng: np.random.Generator, k: int,
              state: TrialState = TrialState.COMPLETE, stop: int = 4, **fixed) -> None:
    """A trial whose accuracy after epoch e is the known function scaled by e/4; pruned
    ones stop after epoch ``stop``. Worker pid and host as ``sweep run`` records them."""
    params = sample(dists, rng) | fixed
    final = known_accuracy(params, rng)
    last = 4 if state == TrialState.COMPLETE else stop
    curve = {e: final * (0.9 + 0.1 * e / 4) for e in range(1, last + 1)}
    user = {"pid": 1000 + k % 2, "host": "testhost", "train_seconds": 2.0 + k % 5,
            "epochs_trained": last, "parameter_count": int(params["hidden_size"]) * 795 + 10}
    if state == TrialState.COMPLETE:
        user |= {"test_accuracy": final - 0.002, "best_epoch": 4}
    else:
        user["reason"] = f"pruned at epoch {stop}"
    study.add_trial(create_trial(params=params, distributions=dists, state=state,
                                 value=max(curve.values()) if state == TrialState.COMPLETE
                                 else None, user_attrs=user, intermediate_values=curve))


# values of the trials of `finished_study`, by number: trial 2 is the best, trial 0 (the
# classic configuration) is not
VALUES = (0.91, 0.88, 0.95, 0.93, 0.90, 0.94)
SMALL = space_from_changes({"params": {"hidden_size": {"low": 16, "high": 48}}})


def finished_study(studies: Path, name: str = "done", trials: int = 3,
                   space: Space | None = None, storage: str | None = None,
                   data_dir: Path | None = None) -> Path:
    """A finished study as ``sweep run`` leaves it, made in this process: its settings and
    study.json, ``trials`` completed trials (the first the classic one) with every
    attribute a worker records, two epochs each, and their folders with trial.json and
    history.csv (no checkpoints or figures). With ``data_dir`` (the tiny IDX data) a real
    ``sweep run`` given no study option resumes it. Returns the study's folder."""
    space = space or SMALL
    study, dists, _ = api_study(studies, name, space, epochs=2, storage=storage,
                                data_dir=data_dir)
    paths = StudyPaths.of(studies, name)
    for k in range(trials):
        trial = study.ask(fixed_distributions=dists)
        value = VALUES[k % len(VALUES)] - 0.0001 * (k // len(VALUES))
        attrs = {"pid": os.getpid(), "host": socket.gethostname(), "seed": 1000 + k,
                 "experiment_dir": str(paths.trial_dir(k).resolve()),
                 "test_accuracy": value - 0.004, "epochs_trained": 2, "best_epoch": 2,
                 "train_seconds": 1.5 + k, "worker_peak_rss_mb": 200.0 + k,
                 "parameter_count": 795 * int(trial.params.get("hidden_size", 32)) + 10}
        for key, v in attrs.items():
            trial.set_user_attr(key, v)
        trial.report(value - 0.02, 1)
        trial.report(value, 2)
        study.tell(trial, value)
        folder = paths.trial_dir(k)
        folder.mkdir(parents=True)
        outcome = TrialOutcome.from_frozen(study.get_trials(deepcopy=False)[k])
        (folder / "trial.json").write_text(json.dumps(outcome.to_json(), default=str))
        (folder / "history.csv").write_text(
            "epoch,lr_end,train_loss,train_acc,val_loss,val_acc,seconds\n"
            f"1,0.05,0.9,0.7,0.8,{value - 0.02},0.5\n2,0.0,0.5,0.8,0.6,{value},0.5\n")
    return paths.root


# ways to damage a journal file: each adds one line that is not a log record
DAMAGE = {
    "junk-last-line": lambda lines: lines + [b"junk\n"],
    "empty-line-inside": lambda lines: lines[:3] + [b"\n"] + lines[3:],
    "not-utf8-inside": lambda lines: lines[:2] + [b"\xff\xfe\x00\n"] + lines[2:],
    "json-not-an-object": lambda lines: lines[:4] + [b"[1, 2]\n"] + lines[4:],
    "object-not-a-record": lambda lines: lines[:4] + [b'{"a": 1}\n'] + lines[4:],
    "record-of-unknown-kind": lambda lines: lines[:4] + [b'{"op_code": 99, "worker_id": "w"}\n']
    + lines[4:],
    "record-without-its-fields": lambda lines: lines[:4] + [b'{"op_code": 6, "worker_id": "w"}\n']
    + lines[4:],
}


def damage(journal: Path, kind: str) -> tuple[bytes, int]:
    """Damage ``journal`` as ``kind`` says: its bytes before, and the damaged line."""
    before = journal.read_bytes()
    lines = before.splitlines(keepends=True)
    damaged = DAMAGE[kind](lines)
    line = next(i for i, (a, b) in enumerate(zip(damaged, lines + [b""], strict=False), 1)
                if a != b)
    journal.write_bytes(b"".join(damaged))
    return before, line



def resume(studies: Path, name: str, trials: int, jobs: int = 2) -> list[object]:
    """The arguments of a ``sweep run`` that extends a study to ``trials`` with its stored
    settings (no study option given), quietly, without figures or report."""
    return ["run", "--trials", trials, "--jobs", jobs, "--studies-dir", studies, "--study", name,
            "--no-report", "--no-plots", "--quiet"]


def confirm_summary(tied: list[int], others: list[int], seeds: int = 3) -> dict:
    """A confirm.json in the form `sweep confirm` writes: the first of ``tied`` has the
    best mean; ``others`` are shown worse."""
    def row(trial: int, mean: float) -> dict:
        per = [mean - 0.002, mean, mean + 0.002][:seeds]
        interval = {"mean": mean, "sd": 0.002, "low": mean - 0.005, "high": mean + 0.005,
                    "n": seeds}
        worse = trial in others
        return {"trial": trial, "classic": False, "params": {}, "original_value": mean + 0.003,
                "best_val": interval, "final_val": interval, "optimism": 0.003,
                "train_seconds": 10.0 + trial, "seconds": {"mean": 10.0 + trial, "sd": 0.5,
                                                           "min": 9.0, "max": 11.0 + trial},
                "param_steps": 1e9, "cost_ratio": 1.0, "diverged_seeds": 0,
                "in_best_set": not worse, "mcb_low": -0.004, "mcb_high": 0.001,
                "verdict": "worse" if worse else "not shown different at this power",
                "eliminated_at": None, "chosen": trial == tied[-1],
                "per_seed": {str(s): v for s, v in enumerate(per)}}

    family = tied + others
    return {"version": 2, "seeds": seeds, "looks": [seeds], "alpha": 0.05, "margin": 0.001,
            "metric": "best-epoch validation accuracy, paired by seed", "resplit": False,
            "candidates": {"window": 0.0023, "within": 2.0, "max_candidates": 6},
            "configurations": [row(t, 0.97 - 0.001 * k) for k, t in enumerate(family)],
            "best_set": tied, "equivalent": [], "best_mean": tied[0],
            "recommended": tied[-1],
            "rule": {"name": "cheapest", "text": "the cheapest among the equivalent",
                     "cost": "param-steps", "cost_text": "parameters x optimiser steps",
                     "applied": True, "reason": ""},
            "race": {"rounds": [], "reason": "", "trainings": 0, "fixed_design_trainings": 0,
                     "eliminated": []},
            "holdout": {"skipped": "a test"}, "test_accuracy": {},
            "pairing": {"statement": "", "correlations": []}, "diverged_runs": 0,
            "guarantee": "a test"}
