"""Which confirm seed folders belong to a trial (sweep/execution/confirm.py,
`set_aside_foreign`), in process: a study deleted and made again under its name numbers
other configurations with the old numbers, and its old re-runs must not be read as theirs."""

from __future__ import annotations

import json

from optuna.trial import TrialState

from sweep.execution.confirm import plan, set_aside_foreign
from sweep.study.confirmations import read_runs
from sweep.study.results import load
from tests.sweep.studies import add, api_study


def _run_folder(folder, config: dict) -> None:
    """A finished re-run as run_experiment leaves it, for the parts confirm reads."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.json").write_text(json.dumps(
        {"status": "completed", "val_accuracy": 0.91, "test_accuracy": 0.9,
         "train_seconds": 3.0}))
    (folder / "history.csv").write_text(
        "epoch,lr_end,train_loss,train_acc,val_loss,val_acc,seconds\n1,0.1,0.3,0.9,0.3,0.91,3\n")


def test_a_re_run_of_another_configuration_is_set_aside_and_one_of_its_own_kept(tmp_path):
    study, dists, rng = api_study(tmp_path, "again")
    for _ in range(2):
        add(study, dists, rng, TrialState.COMPLETE, value=0.9)
    results = load("again", tmp_path)
    root = results.paths.root
    own = plan(results, [(1, 0)])[0]  # trial 0: the classic, still waiting
    _run_folder(root / "confirm" / "0001" / "seed-0", own.config.to_dict())
    other = own.config.to_dict()
    other["model"]["hidden_size"] += 101  # the old study's trial 1 had another size
    other["training"]["seed"] = plan(results, [(2, 0)])[0].config.training.seed
    _run_folder(root / "confirm" / "0002" / "seed-0", other)
    (root / "confirm" / "0002" / "seed-1").mkdir()  # a killed re-run: redone, not moved

    lines = set_aside_foreign(results, [1, 2])

    assert len(lines) == 1 and lines[0].startswith("confirm/0002/seed-0 trained another "
                                                   "configuration than trial 2's"), lines
    assert (root / "confirm" / "0001" / "seed-0").is_dir()
    assert not (root / "confirm" / "0002" / "seed-0").exists()
    aside = [p.name for p in (root / "confirm" / "0002").iterdir()]
    assert sorted(aside)[0].startswith("seed-0.other-") and "seed-1" in aside
    runs = read_runs(root, [1, 2], 1)
    assert runs.done.tolist() == [[True], [False]]  # trial 2's seed 0 is trained again
    assert set_aside_foreign(results, [1, 2]) == []  # nothing more to move
