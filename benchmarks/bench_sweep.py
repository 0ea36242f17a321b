"""Sweep-level benchmarks: throughput by --jobs, harness overhead, memory, pruners, end to end.

Each measurement runs the real CLI (`python -m sweep run`) in a subprocess on real
MNIST, in a throw-away studies folder, and reads the results back through the
package's API. Run from the repository root:

    python benchmarks/bench_sweep.py throughput     # --jobs 1, 2 and auto; figures or not
    python benchmarks/bench_sweep.py rates          # the default study: --jobs 1, 2, auto
    python benchmarks/bench_sweep.py pruning        # median vs hyperband vs none
    python benchmarks/bench_sweep.py end-to-end     # sweep run --trials 50, defaults
    python benchmarks/bench_sweep.py summarize --study S --studies-dir D --wall SECONDS
    python benchmarks/bench_sweep.py all --json benchmarks/results/sweep.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sweep

# A fixed small study: the default space narrowed to what trains in seconds.
SMALL_SPACE = """\
[params.hidden_size]
high = 512
[params.batch_size]
type = "categorical"
choices = [64, 128, 256]
"""


def run_study(studies: Path, name: str, trials: int, jobs: int | None, extra: list[str],
              space: str | None = SMALL_SPACE) -> dict:
    """One `sweep run` (``jobs`` None: --jobs auto, the default) and its figures."""
    cmd = [sys.executable, "-m", "sweep", "run", "--trials", str(trials),
           *([] if jobs is None else ["--jobs", str(jobs)]),
           "--studies-dir", str(studies), "--study", name, "--quiet", "--no-report", *extra]
    if space is not None:
        space_file = studies / f"{name}.toml"
        space_file.write_text(space)
        cmd += ["--space", str(space_file)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return summarize(studies, name, wall, jobs)


def workers_of(results: sweep.StudyResults) -> dict:
    """The workers and threads the run chose, as its trials' config.json record them."""
    for o in results.outcomes:
        path = results.trial_dir(o.number) / "config.json"
        if path.exists():
            return json.loads(path.read_text())["environment"].get("workers") or {}
    return {}


def summarize(studies: Path, name: str, wall: float, jobs: int | None) -> dict:
    """The figures of a finished study, read back through the package's API."""
    results = sweep.load(name, studies)
    chosen = workers_of(results)
    jobs = chosen.get("jobs", jobs)
    df = results.trials
    train_seconds = float(df["train_seconds"].fillna(0).sum())
    best = results.best(1)
    peak = df["worker_peak_rss_mb"] if "worker_peak_rss_mb" in df else None
    return {
        "trials": int(len(df)), "jobs": jobs, "threads": chosen.get("threads"),
        "rule": chosen.get("rule"), "wall_seconds": round(wall, 2),
        "trials_per_hour": round(len(df) / wall * 3600, 1),
        "train_seconds_sum": round(train_seconds, 2),
        "overhead": round(1 - train_seconds / (wall * jobs), 4),
        "epochs_trained": int(df["epochs_trained"].fillna(0).sum()),
        "completed": int((df["state"] == "COMPLETE").sum()),
        "pruned": int((df["state"] == "PRUNED").sum()),
        "failed": int((df["state"] == "FAIL").sum()),
        "best_val": float(best.iloc[0]["value"]) if len(best) else None,
        "best_test": float(best.iloc[0]["test_accuracy"]) if len(best) else None,
        "peak_rss_mb": float(peak.max()) if peak is not None and peak.notna().any() else None,
        "figures_drawn": sum((results.trial_dir(o.number) / "plots").is_dir()
                             for o in results.outcomes),
        **at_chance(results),
    }


CHANCE_MARGIN = 0.05  # mlp.train's: within 5 points of 1/classes is chance level


def at_chance(results: sweep.StudyResults, classes: int = 10) -> dict:
    """Trials whose last validation accuracy is at chance level, and their epochs."""
    trials, epochs = 0, 0
    for history in results.histories().values():
        if len(history) and history["val_acc"].iloc[-1] <= 1 / classes + CHANCE_MARGIN:
            trials += 1
            epochs += len(history)
    return {"chance_trials": trials, "chance_epochs": epochs}


def throughput(studies: Path, trials: int, epochs: int) -> dict:
    """--jobs 1, 2 and auto, with the figures at their default (--plots best) and
    without (--plots none), interleaved so that the host's drift hits all alike.

    Without figures the overhead is the harness's own (processes, Optuna, storage,
    evaluation, checkpoints); with --plots best only new bests draw theirs.
    """
    out = {}
    for plots in ("best", "none"):
        suffix = "" if plots == "best" else "_no_plots"
        for jobs in (1, 2, None):
            key = f"jobs{jobs or 'auto'}{suffix}"
            out[key] = run_study(studies, f"throughput-{jobs or 'auto'}-{plots}", trials, jobs,
                                 ["--epochs", str(epochs), "--pruner", "none", "--seed", "1",
                                  "--plots", plots])
            print(f"{key}: {out[key]}", flush=True)
        out[f"speedup{suffix}"] = round(out[f"jobs2{suffix}"]["trials_per_hour"]
                                        / out[f"jobs1{suffix}"]["trials_per_hour"], 3)
    return out


def rates(studies: Path, trials: int) -> dict:
    """Trials per hour of the default study (its first ``trials`` trials) with --jobs 1,
    2 and auto, interleaved.

    Every row is a study of the same name, each in its own folder: Hyperband puts a
    trial in a bracket by a hash of the study's name and the trial's number, so studies
    of other names prune other trials. With the lag, the rows are then the same trials
    up to the last digits that BLAS threads change.
    """
    out = {}
    for jobs in (1, 2, None):
        key = f"jobs{jobs or 'auto'}"
        (studies / key).mkdir(parents=True, exist_ok=True)
        out[key] = run_study(studies / key, "rates", trials, jobs, [], space=None)
        print(f"{key}: {out[key]}", flush=True)
    out["same_study_name"] = True
    return out


def pruning(studies: Path, trials: int, epochs: int) -> dict:
    out = {}
    for pruner in ("none", "median", "hyperband"):
        out[pruner] = run_study(studies, f"pruner-{pruner}", trials, 2,
                                ["--epochs", str(epochs), "--pruner", pruner, "--seed", "1"])
        print(f"--pruner {pruner}: {out[pruner]}", flush=True)
    for pruner in ("median", "hyperband"):
        out[pruner]["epochs_saved"] = round(
            1 - out[pruner]["epochs_trained"] / out["none"]["epochs_trained"], 3)
        out[pruner]["best_val_delta_points"] = round(
            100 * (out[pruner]["best_val"] - out["none"]["best_val"]), 3)
    return out


def end_to_end(studies: Path, trials: int) -> dict:
    res = run_study(studies, "mnist-mlp", trials, None, [], space=None)
    print(f"end to end: {res}", flush=True)
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["throughput", "rates", "pruning", "end-to-end", "all",
                                    "summarize"])
    p.add_argument("--study", default="mnist-mlp", help="summarize: the study to read")
    p.add_argument("--studies-dir", default="studies", help="summarize: its folder")
    p.add_argument("--wall", type=float, help="summarize: the run's wall seconds")
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--keep", help="keep the studies in this folder instead of a temporary one")
    p.add_argument("--json", help="write the results to this JSON file")
    args = p.parse_args()
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count()}
    if args.what == "summarize":  # an end-to-end run made by hand: python -m sweep run ...
        results["end_to_end"] = summarize(Path(args.studies_dir), args.study, args.wall,
                                          os.cpu_count() or 1)
        print(json.dumps(results, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        return
    with tempfile.TemporaryDirectory() as tmp:
        studies = Path(args.keep or tmp)
        studies.mkdir(parents=True, exist_ok=True)
        if args.what in ("throughput", "all"):
            results["throughput"] = throughput(studies, args.trials or 12, args.epochs or 3)
        if args.what in ("rates", "all"):
            results["rates"] = rates(studies, args.trials or 20)
        if args.what in ("pruning", "all"):
            results["pruning"] = pruning(studies, args.trials or 30, args.epochs or 10)
        if args.what in ("end-to-end", "all"):
            results["end_to_end"] = end_to_end(studies, args.trials or 50)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
