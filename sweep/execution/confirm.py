"""Re-training a study's configurations over confirm seeds, for ``sweep confirm``.

Each (configuration, seed) pair is one task on the same worker processes as a run
(loky_backend.py), trained into ``studies/<study>/confirm/NNNN/seed-S/`` (``resplit-S``
with ``--resplit``) with full epochs and no pruning. It never touches the study's
storage, so the sampler never sees these runs; what is done is skipped, so the command
resumes and extends like ``run``.

Seed s is the same for every configuration (`confirm_seed`): the initial weights' stream
and the batch order, and with ``--resplit`` the validation split. Configurations of
different sizes draw different initial weights and dropout masks from the same stream,
so across hidden sizes only the batch order (and the split) is shared.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlp.config import Config
from mlp.experiment import read_json, run_experiment

from ..errors import StudyError
from ..study.confirmations import CONFIRM_DIR, is_done, unit_dir
from ..study.paths import WORKERS_LOG
from ..study.results import StudyResults
from ..study.samplers import trial_seed
from ..text import clock, terminal_width, wrap
from .backend import Event, Pool, SlotFailed, TaskDone, WorkerLost
from .jobs import cores
from .ledger import machine_fault, reason_of
from .loky_backend import LokyBackend
from .trial import dataset_for

SEED_STREAM = 0xC0F1  # confirm seeds come from a stream of their own, apart from trials'


@dataclass(frozen=True)
class Rerun:
    """One configuration of the study trained with one confirm seed."""

    trial: int
    seed_index: int
    config: Config
    out_dir: str


def confirm_seed(study_seed: int, seed_index: int) -> int:
    """Seed s is the same for every configuration: paired comparisons by seed."""
    return trial_seed(study_seed * 65_537 + SEED_STREAM, seed_index)


def run_rerun(unit: Rerun) -> dict[str, Any]:
    """In a worker: train one re-run into its own experiment directory. What is in its
    place (the remains of a killed re-run, a run that cannot be read back, a stray file
    or link) is ours to redo. A re-run that raises reports why instead of taking its
    worker down: the command says it and goes on with the others."""
    out = Path(unit.out_dir)
    done = {"trial": unit.trial, "seed_index": unit.seed_index}
    try:
        if out.is_symlink() or (out.exists() and not out.is_dir()):
            out.unlink()
        elif out.exists():
            shutil.rmtree(out)
        data = dataset_for(unit.config)
        result = run_experiment(unit.config, out, data=data, plots=False,
                                extra={"confirm_of_trial": unit.trial,
                                       "seed_index": unit.seed_index,
                                       "train_images": len(data.train_y)})
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 (its reason goes back to the command)
        return done | {"status": "failed", "seconds": None, "error": reason_of(exc)}
    return done | {"status": result.status, "seconds": result.train_seconds}


def plan(results: StudyResults, pairs: Sequence[tuple[int, int]], resplit: bool = False,
         overrides: dict[str, Any] | None = None) -> list[Rerun]:
    """The runs of (trial, seed index) ``pairs``: the trial's own settings with confirm
    seed s (and with ``resplit``, s's own validation split); full epochs, no pruning."""
    settings = results.settings
    by_number = {o.number: o for o in results.outcomes}
    units = []
    for trial, s in pairs:
        outcome = by_number[trial]
        sampled = {p.key: outcome.params[p.name] for p in settings.space.params
                   if p.name in outcome.params}
        seed = confirm_seed(settings.seed, s)
        extra = {"training.seed": seed} | ({"data.split_seed": seed} if resplit else {})
        config = settings.config.with_overrides(sampled | extra | (overrides or {}))
        units.append(Rerun(trial, s, config, str(unit_dir(results.paths.root, trial, s,
                                                          resplit))))
    return units


def _same_configuration(recorded: Any, wanted: Config) -> bool:
    """Whether a run's config.json trained ``wanted`` (its sections' common keys agree;
    where the data lives may differ)."""
    if not isinstance(recorded, dict):
        return False
    want = wanted.to_dict()
    for section in ("data", "model", "training"):
        have = recorded.get(section)
        if not isinstance(have, dict):
            return False
        for key in have.keys() & want[section].keys() - {"data_dir"}:
            if have[key] != want[section][key]:
                return False
    return True


def set_aside_foreign(results: StudyResults, trials: Sequence[int]) -> list[str]:
    """Seed folders under ``confirm/NNNN/`` that trained another configuration than trial
    NNNN's today (the study was deleted and made again under its name, and its numbers
    now name other configurations) are renamed aside, never read as this trial's, and
    trained again. A line for each."""
    lines = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for trial in trials:
        folder = results.paths.root / CONFIRM_DIR / f"{trial:04d}"
        for run in sorted(folder.glob("*-*")) if folder.is_dir() else []:
            kind, _, index = run.name.partition("-")
            if kind not in ("seed", "resplit") or not index.isdigit() or not run.is_dir():
                continue
            unit = plan(results, [(trial, int(index))], kind == "resplit")[0]
            try:
                recorded = read_json(run / "config.json")
            except (OSError, ValueError):
                continue  # a killed re-run: run_rerun redoes it
            if _same_configuration(recorded, unit.config):
                continue
            aside = run.with_name(f"{run.name}.other-{stamp}-{os.getpid()}")
            run.rename(aside)
            lines.append(f"{run.relative_to(results.paths.root)} trained another configuration "
                         f"than trial {trial}'s (a study made again under this name?): kept "
                         f"as {aside.name}, trained again")
    return lines


def run_missing(results: StudyResults, units: list[Rerun], jobs: int | None,
                say: Callable[[str], None] | None = None) -> tuple[int, bool]:
    """Run the re-runs that have not finished; (how many ran, whether interrupted).
    ``say`` gets a line per finished or lost re-run (default: the pool's own output)."""
    missing = [u for u in units if not is_done(Path(u.out_dir))]
    if not missing:
        return 0, False
    jobs = min(jobs or cores(), len(missing))
    todo = list(reversed(missing))

    def next_task():
        return (run_rerun, todo.pop()) if todo else None

    # a database study confirmed from a folder that never ran it: its re-runs, summary
    # and workers' log go in a study folder made here
    results.paths.root.mkdir(parents=True, exist_ok=True)
    pool = Pool(LokyBackend(results.paths.root / WORKERS_LOG), next_task, jobs,
                threads=max(1, cores() // jobs))
    done = [0]
    started = time.monotonic()
    width = terminal_width()

    def tell(line: str) -> None:
        for part in wrap(line, width):
            (say or pool.say)(part)

    def on_event(event: Event | None) -> None:
        if isinstance(event, WorkerLost):
            unit = event.task
            tell(f"re-run of trial {unit.trial} seed {unit.seed_index} failed: {event.reason}")
        elif isinstance(event, SlotFailed):
            tell(f"a worker failed: {type(event.error).__name__}: {event.error}")
        elif isinstance(event, TaskDone) and event.result.get("status") == "failed":
            r = event.result
            failed = f"re-run of trial {r['trial']} seed {r['seed_index']} failed: {r['error']}"
            if machine_fault(r["error"]):  # a full or read-only disk: the next fails alike
                raise StudyError(f"{failed}; every re-run would fail the same way: stopping")
            tell(failed)
        elif isinstance(event, TaskDone):
            done[0] += 1
            r = event.result
            spent = time.monotonic() - started
            left = spent / done[0] * (len(missing) - done[0])
            tell(f"re-run of trial {r['trial']} seed {r['seed_index']}: {r['status']} in "
                 f"{clock(r['seconds'])} ({done[0]} of {len(missing)}; {clock(spent)} so far"
                 + (f", about {clock(left)} to go)" if done[0] < len(missing) else ")"))

    pool.run(on_event)
    return done[0], pool.interrupted
