"""Hostile tester 10: the seed of a retry of a retry.

README: the next run retries the trials lost to the infrastructure, "each retried once
with its settings and seed (`retry_of`, `retried_as`; a retry cut short by another
interrupt or a killed run is retried again ...)".
"""

from __future__ import annotations

import json

import pytest

from tests.sweep.faults.harness import interrupt_when


@pytest.mark.slow
def test_a_retry_of_a_retry_trains_with_the_original_trials_seed(sweep_cli, run_args,
                                                                 tmp_path):
    """Found (Ctrl-C during a run, Ctrl-C again during the resume, then the same command):
    trial 0 (classic, seed 2968811710) is retried as 3 with seed 2968811710, but 3's
    retry, 4, trains with seed 2613022947, the seed of trial number 3
    (``seed_of`` derives the seed from ``retry_of``'s number, which for a retry of a
    retry is the first retry, not the original). The same for 1 -> 2 -> 5. The settings
    are kept, the seed is not: the classic trial's value comes from another seed than
    the one every other run of the study gives it."""
    studies = tmp_path / "studies"
    root = studies / "seeds"
    args = run_args(studies, "seeds", trials=3, jobs=2, epochs=3)
    interrupt_when(root, [0, 1], args, tmp_path, tmp_path / "first")
    interrupt_when(root, [2, 3], args, tmp_path, tmp_path / "second")
    done = sweep_cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    docs = {d["number"]: d for d in (json.loads(p.read_text())
                                     for p in root.glob("trials/*/trial.json"))}

    def original(number):
        while docs[number].get("retry_of") is not None:
            number = docs[number]["retry_of"]
        return number

    wrong = {n: (d["seed"], docs[original(n)]["seed"]) for n, d in docs.items()
             if d["seed"] != docs[original(n)]["seed"]}
    chains = {n: (d.get("retry_of"), d["seed"]) for n, d in sorted(docs.items())}
    assert not wrong, (wrong, chains)
