"""``python -m sweep rerun``: re-train one trial and check that it comes out the same.

The trial's config.json holds everything that decides its numbers: the settings,
the seed, and the BLAS thread count it ran with (sums inside a matrix product are
split by thread). Re-training with all of that on the same machine reproduces every
epoch's losses and accuracies to the bit; where it does not, the likely cause is
among what the config records of the machine, and this command names it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from mlp.experiment import environment, read_config_file, read_history, run_experiment

from ..errors import StudyError, os_error_text
from ..execution.trial import dataset_for
from ..text import plural
from .common import add_study_args, check_trials_folder, open_results, trained_trial

DESCRIPTION = (
    "Re-train one trial from its config.json and check that every epoch's losses and "
    "accuracies come out the same. The config records everything that decides them: the "
    "settings, the seed and the BLAS thread count the trial ran with. On the same machine "
    "the result is an exact match (exit 0); otherwise the differences are listed with "
    "their likely cause among what the config records of the machine (exit 1).")
COMPARED = ("train_loss", "train_acc", "val_loss", "val_acc")


def differences(recorded: list[dict[str, float]], fresh: list[dict[str, float]]) -> list[str]:
    """Every value of every epoch that differs, in words."""
    out = []
    if len(recorded) != len(fresh):
        out.append(f"{plural(len(recorded), 'epoch')} recorded, {len(fresh)} re-trained")
    for old, new in zip(recorded, fresh, strict=False):
        for key in COMPARED:
            if old.get(key) != new.get(key):
                out.append(f"epoch {int(old['epoch'])} {key}: recorded {old.get(key)!r}, "
                           f"now {new.get(key)!r}")
    return out


def likely_causes(recorded_env: dict[str, Any], now_env: dict[str, Any]) -> list[str]:
    """What the config records of the machine that differs now."""
    causes = []
    for key in ("versions", "blas", "host", "platform"):
        old, new = recorded_env.get(key), now_env.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            for k in sorted(set(old) | set(new)):
                if old.get(k) != new.get(k):
                    causes.append(f"{key}.{k}: {old.get(k)!r} then, {new.get(k)!r} now")
        elif old != new:
            causes.append(f"{key}: {old!r} then, {new!r} now")
    return causes


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    p.add_argument("--trial", type=int, required=True, metavar="N",
                   help="the trial's number (a completed or pruned trial)")


def run(args: argparse.Namespace) -> int:
    from threadpoolctl import threadpool_limits

    results = open_results(args)
    outcome = trained_trial(results, args.trial)
    folder = results.trial_dir(args.trial)
    try:
        config, recorded_env = read_config_file(folder / "config.json", recorded=True)
        recorded = read_history(folder / "history.csv", outcome.epochs_trained)
    except (OSError, ValueError, KeyError) as exc:
        why = os_error_text(exc) if isinstance(exc, OSError) else str(exc)
        raise StudyError(f"trial {args.trial}: its directory {folder} is missing or damaged "
                         f"({why})") from None
    check_trials_folder(results, outcome, folder)
    if not recorded:
        raise StudyError(f"trial {args.trial}: {folder / 'history.csv'} records no epoch")
    threads = (recorded_env.get("blas") or {}).get("threads")
    stop_after = len(recorded)
    with tempfile.TemporaryDirectory(prefix="sweep-rerun-") as scratch, \
            threadpool_limits(limits=threads if isinstance(threads, int) else None,
                              user_api="blas"):
        result = run_experiment(config, Path(scratch), data=dataset_for(config), plots=False,
                                on_epoch=lambda m: m.epoch >= stop_after)
        fresh = [m.to_dict() for m in result.history]
        now_env = environment()
    diffs = differences(recorded, fresh)
    if not diffs:
        print(f"trial {args.trial}: exact match ({plural(len(recorded), 'epoch')}, "
              f"{', '.join(COMPARED)})")
        return 0
    print(f"trial {args.trial}: {plural(len(diffs), 'difference')}")
    for line in diffs[:20]:
        print(f"  {line}")
    causes = likely_causes(recorded_env, now_env)
    print("likely cause: " + ("; ".join(causes) if causes else
                              "none recorded differs (same versions, BLAS, threads and host): "
                              "the recorded history was changed, or the hardware differs"))
    return 1


