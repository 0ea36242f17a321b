"""The default study's budget, chosen by measurement: pruning policies on the real default
study, each over several study seeds, and the confirmed best of each.

    nice python benchmarks/bench_budget.py studies   # phase 1: every policy x study seed
    nice python benchmarks/bench_budget.py confirm   # phase 2: each study's pick over seeds
    nice python benchmarks/bench_budget.py pipeline  # phase 3: today's defaults against the
                                                     # new ones, study + confirm, interleaved
    python benchmarks/bench_budget.py table          # the tables of benchmarks/README.md

Every phase checkpoints into ``--json`` (default benchmarks/results/budget.json) after
each step and skips what is recorded, so the same command resumes after a kill; the
studies and re-runs live in ``--work`` (default /work/budget-bench, outside the clone).
The runs are the real CLI on real MNIST with each policy's own epoch count (no
``--train-limit``, no shortened epochs as a proxy), ``--jobs auto``.

Phase 1 (studies). ``sweep run --trials 50`` under each policy (`POLICIES`), for each study
seed (`STUDY_SEEDS`), interleaved seed by seed so that the host's drift falls on every
policy alike; ``--plots none --no-report`` (the policy is what is compared, not the
figures). Recorded: wall seconds, epochs trained, completed and pruned trials, the pick
(best single-seed value), and the classic network's epoch time on one BLAS thread just
before (what a worker runs), to read the wall times against.

Phase 2 (confirmed best). The question is whether a cheaper policy finds as good a
configuration. Each study's pick is re-trained with ``CONFIRM_SEEDS`` seeds at its
policy's epoch count, the same seeds for every study of a study seed (paired), in the
``sweep confirm`` layout and through ``sweep confirm``'s own re-run code; per study seed
the best set (`selection.best_set`, seeds as blocks, every policy's pick in the family)
says whether each policy's pick is equivalent within the margin to today's
(hyperband-20's), and the mean difference over study seeds is given with its interval.

Phase 3 (the pipeline). Today's defaults (``sweep run --trials 50`` then ``sweep confirm``,
top 5 and the classic over 5 seeds, the code of `TODAY` exported from git) against the new
ones (this checkout's defaults: ``sweep run --trials 50`` then ``sweep confirm``),
alternating, on the same study seed: wall seconds of each, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TODAY = "67132a1"  # the commit before this work: today's defaults (hyperband, 20 epochs)
POLICIES: dict[str, dict[str, Any]] = {  # in order of priority
    "hyperband-20": {"pruner": "hyperband", "epochs": 20},  # today's default
    "hyperband-10": {"pruner": "hyperband", "epochs": 10},
    "asha-20": {"pruner": "asha", "epochs": 20},
    "asha-10": {"pruner": "asha", "epochs": 10},
    "median-20": {"pruner": "median", "epochs": 20},
}
REFERENCE = "hyperband-20"
STUDY_SEEDS = (0, 1, 2)
TRIALS = 50
CONFIRM_SEEDS = 10
SEED_BASE = 1_000  # phase 2's seed indices: apart from anything `sweep confirm` uses


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_state(path: Path) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text())
    return {"created": now(), "studies": {}, "confirm": {}, "pipeline": {}}


def save_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def git_head() -> str:
    """The commit of the code that runs: git's, or an exported snapshot's COMMIT file."""
    if (ROOT / "COMMIT").is_file():
        return (ROOT / "COMMIT").read_text().strip()
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()


def classic_epoch_seconds() -> float:
    """The classic network's epoch (50,000 images, batch 128, 1 BLAS thread, as a sweep
    worker runs it): the median of 3 epochs' training time."""
    code = (
        "from threadpoolctl import threadpool_limits\n"
        "from mlp.config import Config\nfrom mlp.data import load_dataset\n"
        "from mlp.train import train\nimport statistics, json\n"
        "data = load_dataset('mnist', progress=False)\n"
        "with threadpool_limits(limits=1, user_api='blas'):\n"
        "    r = train(Config().with_overrides({'training.epochs': 3}), data)\n"
        "print(json.dumps(statistics.median(m.seconds for m in r.history)))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env(), check=True)
    return round(float(proc.stdout.strip().splitlines()[-1]), 3)


def env(code: Path | None = None) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(code or ROOT)
    return e


def sweep_cmd(*args: Any, code: Path | None = None, log: Path | None = None) -> float:
    """Run ``python -m sweep ARGS`` (from ``code``, default this checkout); wall seconds."""
    cmd = [sys.executable, "-m", "sweep", *map(str, args)]
    started = time.perf_counter()
    out = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env(code),
                              cwd=code or ROOT)
    finally:
        if log:
            out.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {proc.returncode} (log: {log})")
    return time.perf_counter() - started


def load_avg() -> float:
    return round(os.getloadavg()[0], 2)


# ------------------------------------------------------------------ phase 1: studies

def study_name(policy: str, seed: int) -> str:
    return f"budget-{policy}-s{seed}"


def study_facts(studies: Path, name: str) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    import sweep

    results = sweep.load(name, studies)
    df = results.trials
    config = results.settings.config
    n_train = config.data.train_limit or 50_000  # MNIST's training images
    done = df[df["state"] == "COMPLETE"]
    pick = done.sort_values(["value", "number"], ascending=[False, True]).iloc[0]
    classic = df[df["classic"].eq(True)]
    return {
        "trials": int(len(df)), "completed": int(len(done)),
        "pruned": int((df["state"] == "PRUNED").sum()),
        "failed": int((df["state"] == "FAIL").sum()),
        "epochs_trained": int(df["epochs_trained"].fillna(0).sum()),
        # parameters x optimiser steps: the cost that does not drift with the host's load
        "param_steps": float(sum(
            (r.parameter_count or 0) * (r.epochs_trained or 0)
            * math.ceil(n_train / r.params_batch_size) for r in df.itertuples()
            if r.parameter_count == r.parameter_count and r.epochs_trained == r.epochs_trained)),
        "train_seconds_sum": round(float(df["train_seconds"].fillna(0).sum()), 1),
        "pick": int(pick["number"]), "pick_value": float(pick["value"]),
        "pick_params": {c[len("params_"):]: _plain(pick[c]) for c in df.columns
                        if c.startswith("params_")},
        "classic_value": (float(classic.iloc[0]["value"]) if len(classic)
                          and classic.iloc[0]["state"] == "COMPLETE" else None),
    }


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def phase_studies(state: dict[str, Any], args: argparse.Namespace) -> None:
    studies = args.work / "studies"
    studies.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for policy in args.policies:
            name = study_name(policy, seed)
            entry = state["studies"].get(name, {})
            if entry.get("done"):
                continue
            spec = POLICIES[policy]
            if "classic_epoch_seconds" not in entry:
                entry["classic_epoch_seconds"] = classic_epoch_seconds()
            entry.update(policy=policy, seed=seed, **spec, code=git_head(),
                         resumed=entry.get("segments", 0) > 0,
                         load_before=load_avg(), started=entry.get("started") or now())
            entry["segments"] = entry.get("segments", 0) + 1
            state["studies"][name] = entry
            save_state(args.json, state)
            print(f"{now()} study {name}: {spec} (classic epoch "
                  f"{entry['classic_epoch_seconds']} s)", flush=True)
            wall = sweep_cmd("run", "--trials", TRIALS, "--study", name, "--studies-dir", studies,
                             "--seed", seed, "--pruner", spec["pruner"], "--epochs",
                             spec["epochs"], "--plots", "none", "--no-report", "--quiet",
                             log=args.work / f"{name}.log")
            entry["wall_seconds"] = round(entry.get("wall_seconds", 0.0) + wall, 1)
            entry.update(study_facts(studies, name), done=True, finished=now(),
                         load_after=load_avg(),
                         classic_epoch_seconds_after=classic_epoch_seconds())
            save_state(args.json, state)
            print(f"{now()}   {entry['wall_seconds']:.0f} s, {entry['epochs_trained']} epochs, "
                  f"pick trial {entry['pick']} at {entry['pick_value']:.4f}", flush=True)


# ------------------------------------------------------------------ phase 2: confirmed best

def phase_confirm(state: dict[str, Any], args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from sweep.execution.confirm import Rerun, confirm_seed, run_missing
    from sweep.execution.jobs import cores
    from sweep.study.confirmations import is_done, unit_dir
    from sweep.study.results import load

    studies = args.work / "studies"
    for seed in args.seeds:
        names = [study_name(p, seed) for p in args.policies]
        if not all(state["studies"].get(n, {}).get("done") for n in names):
            print(f"study seed {seed}: phase 1 not finished for every policy; skipped")
            continue
        units, owners = [], {}
        for name in names:
            results = load(name, studies)
            pick = state["studies"][name]["pick"]
            outcome = next(o for o in results.outcomes if o.number == pick)
            settings = results.settings
            overrides = {p.key: outcome.params[p.name] for p in settings.space.params
                         if p.name in outcome.params}
            for s in range(CONFIRM_SEEDS):
                # the same seed for every study of this study seed: paired by seed
                config = settings.config.with_overrides(
                    overrides | {"training.seed": confirm_seed(1_000 + seed, SEED_BASE + s)})
                folder = unit_dir(results.paths.root, pick, SEED_BASE + s)
                units.append(Rerun(pick, SEED_BASE + s, config, str(folder)))
                owners[str(folder)] = (name, s)
        missing = [u for u in units if not is_done(Path(u.out_dir))]
        started = time.perf_counter()
        if missing:
            results = load(names[0], studies)
            _, interrupted = run_missing(results, units, cores())
            if interrupted:
                raise SystemExit("interrupted")
        record = state["confirm"].setdefault(str(seed), {})
        record["wall_seconds"] = round(record.get("wall_seconds", 0.0)
                                       + time.perf_counter() - started, 1)
        per: dict[str, list[float | None]] = {n: [None] * CONFIRM_SEEDS for n in names}
        secs: dict[str, list[float | None]] = {n: [None] * CONFIRM_SEEDS for n in names}
        for u in units:
            name, s = owners[u.out_dir]
            m = json.loads((Path(u.out_dir) / "metrics.json").read_text())
            if m.get("status") == "completed":
                per[name][s] = float(m["val_accuracy"])
                secs[name][s] = float(m["train_seconds"])
        record.update(accuracy=per, train_seconds=secs, finished=now())
        save_state(args.json, state)
        print(f"{now()} study seed {seed}: confirmed", flush=True)


def verdicts(state: dict[str, Any], policies: list[str], margin: float) -> dict[str, Any]:
    """Per study seed: the best set over the policies' picks (seeds as blocks), and each
    policy's pick minus today's (hyperband-20's) on the paired seeds, with an interval at
    1 - 0.05 / (study seeds), Bonferroni over the study seeds. A policy is equivalent
    within the margin to today's when that interval's lower end is above -margin at every
    study seed (an intersection-union test: the claim holds at 95%), and there are at
    least 3 study seeds."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    from scipy import stats

    from sweep.statistics.selection import Refusal, best_set

    seeds = sorted(s for s, rec in state["confirm"].items() if rec.get("accuracy"))
    level = 1 - 0.05 / max(len(seeds), 1)
    out: dict[str, Any] = {"per_seed": {}, "over_seeds": {}, "level": level}
    claims: dict[str, list[bool]] = {p: [] for p in policies if p != REFERENCE}
    diffs: dict[str, list[float]] = {p: [] for p in policies if p != REFERENCE}
    for seed in seeds:
        acc = state["confirm"][seed]["accuracy"]
        labels = [p for p in policies if study_name(p, int(seed)) in acc]
        x = np.array([[np.nan if v is None else v for v in acc[study_name(p, int(seed))]]
                      for p in labels], dtype=float)
        rows: dict[str, Any] = {}
        try:
            sel = best_set(x, labels, margin=margin)
            for c in sel.configurations:
                rows[c.label] = {"mean": c.mean, "sd": c.sd, "low": c.low, "high": c.high,
                                 "n": c.n_seeds, "in_best_set": c.in_best_set,
                                 "mcb_low": c.mcb_low, "mcb_high": c.mcb_high,
                                 "verdict": c.verdict}
        except Refusal as exc:
            rows["refused"] = exc.reason
        if REFERENCE in labels:
            ref = x[labels.index(REFERENCE)]
            for i, p in enumerate(labels):
                if p == REFERENCE:
                    continue
                d = x[i] - ref
                d = d[np.isfinite(d)]
                n = len(d)
                half = float(stats.t.ppf(0.5 + level / 2, n - 1) * d.std(ddof=1) / math.sqrt(n))
                low, high = float(d.mean()) - half, float(d.mean()) + half
                rows.setdefault(p, {}).update(minus_reference=float(d.mean()),
                                              minus_reference_low=low,
                                              minus_reference_high=high, paired_seeds=n)
                claims[p].append(low > -margin)
                diffs[p].append(float(d.mean()))
        out["per_seed"][seed] = rows
    for p, ok in claims.items():
        if not ok:
            continue
        mean = statistics.fmean(diffs[p])
        out["over_seeds"][p] = {"study_seeds": len(ok), "mean": mean,
                                "equivalent_at_every_seed": all(ok),
                                "equivalent": all(ok) and len(ok) >= 3}
    return out


# ------------------------------------------------------------------ phase 3: the pipeline

def export_today(work: Path) -> Path:
    """Today's code, from git, for the pipeline's "today" runs."""
    target = work / f"code-{TODAY}"
    if not (target / "sweep").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", TODAY], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def phase_pipeline(state: dict[str, Any], args: argparse.Namespace) -> None:
    today = export_today(args.work)
    studies = args.work / "pipeline"
    studies.mkdir(parents=True, exist_ok=True)
    for k, seed in enumerate(args.seeds):
        pair = (("today", today), ("new", ROOT))
        for which, code in (pair if k % 2 == 0 else pair[::-1]):  # interleaved
            key = f"{which}-s{seed}"
            entry = state["pipeline"].get(key, {})
            if entry.get("done"):
                continue
            name = f"pipe-{which}-s{seed}"
            if "classic_epoch_seconds" not in entry:
                entry["classic_epoch_seconds"] = classic_epoch_seconds()
            entry.update(which=which, seed=seed, started=entry.get("started") or now(),
                         segments=entry.get("segments", 0) + 1,
                         code=TODAY if which == "today" else git_head())
            state["pipeline"][key] = entry
            save_state(args.json, state)
            log = args.work / f"{name}.log"
            if not entry.get("run_seconds"):
                entry["run_seconds"] = round(sweep_cmd(
                    "run", "--trials", TRIALS, "--study", name, "--studies-dir", studies,
                    "--seed", seed, code=code, log=log), 1)
                save_state(args.json, state)
            entry["confirm_seconds"] = round(entry.get("confirm_seconds", 0.0) + sweep_cmd(
                "confirm", "--study", name, "--studies-dir", studies, code=code, log=log), 1)
            entry["total_seconds"] = round(entry["run_seconds"] + entry["confirm_seconds"], 1)
            entry.update(done=True, finished=now(), load_after=load_avg())
            save_state(args.json, state)
            print(f"{now()} pipeline {key}: run {entry['run_seconds']} s, confirm "
                  f"{entry['confirm_seconds']} s", flush=True)


# ------------------------------------------------------------------ tables

def backfill(state: dict[str, Any], work: Path) -> None:
    """Facts added to `study_facts` after a study was recorded, read from its folder."""
    for name, e in state["studies"].items():
        if e.get("done") and "param_steps" not in e and (work / "studies" / name).is_dir():
            e.update(study_facts(work / "studies", name))


def table(state: dict[str, Any], margin: float) -> str:
    lines = ["| policy | study seed | classic epoch s (before / after) | wall s | epochs "
             "trained | parameter-steps | completed / pruned | pick value |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for e in sorted(state["studies"].values(), key=lambda e: (e["seed"],
                                                                    list(POLICIES).index(
                                                                        e["policy"]))):
        if not e.get("done"):
            lines.append(f"| {e['policy']} | {e['seed']} | {e.get('classic_epoch_seconds')} | "
                         "not finished | | | |")
            continue
        lines.append(f"| {e['policy']} | {e['seed']} | {e['classic_epoch_seconds']} / "
                     f"{e.get('classic_epoch_seconds_after', '–')} | "
                     f"{e['wall_seconds']:.0f}{' (resumed)' if e.get('resumed') else ''} | "
                     f"{e['epochs_trained']} | {e.get('param_steps', math.nan):.3g} | "
                     f"{e['completed']} / {e['pruned']} | {e['pick_value']:.2%} |")
    v = verdicts(state, list(POLICIES), margin)
    if v["per_seed"]:
        lines += ["", f"| policy | study seed | pick's mean over seeds | minus today's pick "
                  f"(points), {v['level']:.1%} interval | equivalent within the margin |",
                  "| --- | ---: | ---: | --- | --- |"]
        for seed, rows in sorted(v["per_seed"].items()):
            for p in POLICIES:
                r = rows.get(p)
                if not r or "mean" not in r:
                    continue
                diff = ("reference" if p == REFERENCE else
                        f"{r['minus_reference'] * 100:+.3f} ({r['minus_reference_low'] * 100:+.3f} "
                        f"to {r['minus_reference_high'] * 100:+.3f})")
                eq = "" if p == REFERENCE else str(r["minus_reference_low"] > -margin)
                lines.append(f"| {p} | {seed} | {r['mean']:.2%} (n {r['n']}) | {diff} | {eq} |")
    if v["over_seeds"]:
        lines += ["", "| policy | study seeds | mean difference (points) | equivalent at every "
                  "study seed | equivalent (>= 3 study seeds) |",
                  "| --- | ---: | ---: | --- | --- |"]
        for p, o in v["over_seeds"].items():
            lines.append(f"| {p} | {o['study_seeds']} | {o['mean'] * 100:+.3f} | "
                         f"{o['equivalent_at_every_seed']} | {o['equivalent']} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("phase", choices=("studies", "confirm", "pipeline", "table"))
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "budget.json")
    p.add_argument("--work", type=Path, default=Path("/work/budget-bench"))
    p.add_argument("--policies", default=",".join(POLICIES))
    p.add_argument("--seeds", default=",".join(map(str, STUDY_SEEDS)))
    p.add_argument("--margin", type=float, default=0.001)
    args = p.parse_args()
    args.policies = [x for x in args.policies.split(",") if x]
    unknown = [x for x in args.policies if x not in POLICIES]
    if unknown:
        p.error(f"--policies: unknown {unknown[0]} (choose from {', '.join(POLICIES)})")
    args.seeds = [int(x) for x in args.seeds.split(",") if x]
    state = load_state(args.json)
    if args.phase == "studies":
        phase_studies(state, args)
    elif args.phase == "confirm":
        phase_confirm(state, args)
    elif args.phase == "pipeline":
        phase_pipeline(state, args)
    else:
        backfill(state, args.work)
        save_state(args.json, state)
        print(table(state, args.margin))


if __name__ == "__main__":
    main()
