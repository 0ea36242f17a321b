"""Re-training a study's top configurations over fresh seeds, for ``sweep confirm``.

Each (configuration, seed) pair is one task on the same worker processes as a run
(loky_backend.py), trained into ``studies/<study>/confirm/NNNN/seed-S/`` with full
epochs and no pruning. It never touches the study's storage, so the sampler never
sees these runs; what is done is skipped, so it resumes and extends like ``run``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlp.config import Config
from mlp.experiment import run_experiment

from ..study.confirmations import Candidate, is_done, unit_dir
from ..study.results import StudyResults
from ..study.samplers import trial_seed
from .backend import WORKERS_LOG, Event, Pool, TaskDone, WorkerLost
from .jobs import cores
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
    """In a worker: train one re-run into its own experiment directory."""
    out = Path(unit.out_dir)
    if out.exists():
        shutil.rmtree(out)  # the remains of a killed re-run: ours to redo
    result = run_experiment(unit.config, out, data=dataset_for(unit.config), plots=False,
                            extra={"confirm_of_trial": unit.trial, "seed_index": unit.seed_index})
    return {"trial": unit.trial, "seed_index": unit.seed_index, "status": result.status}


def plan(results: StudyResults, chosen: list[Candidate], seeds: int) -> list[Rerun]:
    """Every (configuration, seed) pair, with the trial's own settings and a confirm
    seed; full epochs, no pruning."""
    settings = results.settings
    units = []
    for c in chosen:
        overrides = {p.key: c.outcome.params[p.name] for p in settings.space.params
                     if p.name in c.outcome.params}
        for s in range(seeds):
            config = settings.config.with_overrides(
                overrides | {"training.seed": confirm_seed(settings.seed, s)})
            units.append(Rerun(c.number, s, config,
                               str(unit_dir(results.paths.root, c.number, s))))
    return units



def run_missing(results: StudyResults, units: list[Rerun], jobs: int) -> tuple[int, bool]:
    """Run the re-runs that have not finished; (how many ran, whether interrupted)."""
    missing = [u for u in units if not is_done(Path(u.out_dir))]
    if not missing:
        return 0, False
    print(f"confirm: {len(missing)} of {len(units)} re-runs to train with {jobs} workers")
    todo = list(reversed(missing))

    def next_task():
        return (run_rerun, todo.pop()) if todo else None

    pool = Pool(LokyBackend(results.paths.root / WORKERS_LOG), next_task, jobs,
                threads=max(1, cores() // jobs))
    done = [0]

    def on_event(event: Event | None) -> None:
        if isinstance(event, WorkerLost):
            unit = event.task
            pool.say(f"re-run of trial {unit.trial} seed {unit.seed_index} failed: "
                     f"{event.reason}")
        elif isinstance(event, TaskDone):
            done[0] += 1
            r = event.result
            pool.say(f"re-run of trial {r['trial']} seed {r['seed_index']}: {r['status']} "
                     f"({done[0]} of {len(missing)})")

    pool.run(on_event)
    return done[0], pool.interrupted


