"""The study commands: ``run``, ``best``, ``trials`` and ``studies``."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys

from mlp.config import DATASETS, Config, ConfigError

from .errors import StudyError, UsageError
from .progress import Progress
from .results import DEFAULT_STUDIES_DIR, list_studies, load
from .runner import run_workers
from .space import load_space
from .study import (
    DEFAULT_PRUNER,
    DEFAULT_STUDY,
    PRUNERS,
    SAMPLERS,
    Settings,
    StudyPaths,
    count,
    create_or_check,
    make_sampler,
    mask_url,
    open_storage,
    read_meta,
    stored_settings,
    study_lock,
)

RUN_HELP = """\
Run (or resume, or extend) a study. --trials N is the number of finished trials
(completed, pruned or failed) the study should have: re-running an interrupted
study runs only what is missing, and a larger N extends it. Options left out on a
resumed study keep the values it was created with; a different value is refused.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run, resume or extend a study", description=RUN_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, required=True,
                   help="finished trials the study should have in the end")
    add_study_args(p)
    p.add_argument("--jobs", type=int, default=None,
                   help=f"parallel worker processes (default: cores, {os.cpu_count()})")
    p.add_argument("--epochs", type=int, default=None, help="epochs per trial (20)")
    p.add_argument("--dataset", default=None, help=f"{', '.join(DATASETS)} (mnist)")
    p.add_argument("--data-dir", default=None, help="directory holding the four IDX files")
    p.add_argument("--train-limit", type=int, default=None,
                   help="use only the first N training images (quick studies)")
    p.add_argument("--sampler", default=None, help=f"{', '.join(SAMPLERS)} (tpe)")
    p.add_argument("--pruner", default=None,
                   help=f"{', '.join(PRUNERS)} ({DEFAULT_PRUNER})")
    p.add_argument("--seed", type=int, default=None, help="study seed (0)")
    p.add_argument("--timeout", default=None,
                   help="stop starting trials after this long (e.g. 90s, 30m, 2h)")
    p.add_argument("--space", default=None, help="TOML file changing the search space")
    p.add_argument("--no-plots", action="store_true", help="skip per-trial figures")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.add_argument("--quiet", action="store_true", help="plain log lines, no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("best", help="the best trial(s) of a study")
    add_study_args(p)
    p.add_argument("--top", type=int, default=1, help="how many trials (1)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_best)

    p = sub.add_parser("trials", help="the table of all trials of a study")
    add_study_args(p)
    p.add_argument("--csv", default=None, help="write the table to this CSV file")
    p.set_defaults(func=cmd_trials)

    p = sub.add_parser("studies", help="the studies in a folder")
    p.add_argument("--studies-dir", default=DEFAULT_STUDIES_DIR,
                   help="folder of studies (studies)")
    p.set_defaults(func=cmd_studies)


def add_study_args(p: argparse.ArgumentParser) -> None:
    """--study, --studies-dir and --storage, shared by every command that reads a study."""
    p.add_argument("--study", default=DEFAULT_STUDY, help=f"study name ({DEFAULT_STUDY})")
    p.add_argument("--studies-dir", default=DEFAULT_STUDIES_DIR,
                   help="folder of studies (studies)")
    p.add_argument("--storage", default=os.environ.get("SWEEP_STORAGE"),
                   help="Optuna database URL instead of the study's journal file "
                        "(or set SWEEP_STORAGE)")


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text or "")
    if not m:
        raise UsageError(f"--timeout {text!r}: expected a duration like 90s, 30m or 2h")
    seconds = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if seconds <= 0:
        raise UsageError(f"--timeout {text!r}: must be positive")
    return seconds


def _settings_from_args(args: argparse.Namespace, stored: Settings | None) -> Settings:
    """The study's settings: stored ones for anything not given, checked for conflicts."""
    space = load_space(args.space) if args.space else None
    if stored is None:
        space = space or load_space(None)
        base = Config()
    else:
        base = stored.base_config
    overrides = {"training.epochs": args.epochs, "data.dataset": args.dataset,
                 "data.data_dir": args.data_dir, "data.train_limit": args.train_limit}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if stored is None:
        overrides = space.fixed_overrides() | overrides
    try:
        config = base.with_overrides(overrides)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if stored is None:
        settings = Settings(config.to_dict(), space.to_dict(), args.sampler or "tpe",
                            args.pruner or DEFAULT_PRUNER, 0 if args.seed is None else args.seed)
    else:
        settings = Settings(config.to_dict(), space.to_dict() if space else stored.space,
                            args.sampler or stored.sampler, args.pruner or stored.pruner,
                            stored.seed if args.seed is None else args.seed)
    if settings.sampler not in SAMPLERS:
        raise UsageError(f"--sampler {settings.sampler!r}: unknown sampler "
                         f"(choose from {', '.join(SAMPLERS)})")
    if settings.pruner not in PRUNERS:
        raise UsageError(f"--pruner {settings.pruner!r}: unknown pruner "
                         f"(choose from {', '.join(PRUNERS)})")
    make_sampler(settings.sampler, settings.seed)  # a missing optional package fails here
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    if args.trials < 1:
        raise UsageError(f"--trials {args.trials}: must be >= 1")
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: must be >= 1")
    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs {args.epochs}: must be >= 1")
    timeout = parse_duration(args.timeout) if args.timeout is not None else None
    paths = StudyPaths.of(args.studies_dir, args.study)
    existed = paths.root.exists()
    created = paths.root  # the outermost folder this run would create, removed on rejection
    while not created.parent.exists():
        created = created.parent
    if not args.storage:
        args.storage = read_meta(paths).get("storage") if existed else None
        if args.storage and "***" in args.storage:
            raise UsageError(f"study {paths.name!r} lives in {args.storage}; pass --storage "
                             "with its password")
    try:
        storage = open_storage(paths, args.storage)
        stored = None
        import optuna

        if paths.name in optuna.get_all_study_names(storage):
            stored = stored_settings(optuna.load_study(study_name=paths.name, storage=storage))
        settings = _settings_from_args(args, stored)
        _check_data(settings)
        study = create_or_check(paths, storage, settings, args.storage)
    except BaseException:
        if not existed:  # a rejected first run leaves nothing behind...
            _remove_unless_created(paths, created)
        raise
    before = count(study.get_trials(deepcopy=False))
    if before.finished >= args.trials:
        print(f"study {paths.name!r} already has {before.finished} finished trials "
              f"(asked for {args.trials}); nothing to run")
        return 0
    progress = Progress(args.trials, before.finished, quiet=args.quiet)
    where = mask_url(args.storage) or str(paths.journal)
    progress.line(f"study {paths.name!r}: {before.finished} of {args.trials} trials finished; "
                  f"{jobs} workers; storage {where}")
    summary = run_workers(paths, args.storage, args.trials, jobs, timeout, progress,
                          plots=not args.no_plots, on_result=progress.trial_done)
    results = load(paths.name, args.studies_dir, args.storage)
    c = results.counts
    print(f"{c.finished} of {args.trials} trials finished ({c.complete} completed, {c.pruned} "
          f"pruned, {c.failed} failed) in {summary.seconds:.0f}s")
    best = results.best(1)
    if len(best):
        print("best: " + _best_line(best.iloc[0], results.param_names))
    if not args.no_report:
        from .report import write_report

        print(f"report: {write_report(results)}")
    if summary.interrupted:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    if summary.stopped_reason and "time-out" not in summary.stopped_reason:
        print(f"stopped: {summary.stopped_reason}", file=sys.stderr)
        return 1
    return 0


def _remove_unless_created(paths: StudyPaths, created) -> None:
    """...unless another run created the study meanwhile: its folder is not ours to delete."""
    import shutil

    if not paths.root.exists():
        shutil.rmtree(created, ignore_errors=True)
        return
    with study_lock(paths):
        if not paths.meta.exists():
            shutil.rmtree(created, ignore_errors=True)


def _check_data(settings: Settings) -> None:
    """Fetch and verify the data once, before any worker starts."""
    from mlp.data import load_dataset

    data = settings.config["data"]
    load_dataset(data["dataset"], data["data_dir"])


def _best_line(row, names: list[str]) -> str:
    params = ", ".join(f"{n}={_fmt(row[n])}" for n in names if n in row)
    test = row["test_accuracy"]
    test_text = f", test {test:.2%}" if test is not None and not _nan(test) else ""
    return (f"trial {int(row['number'])}: val {row['value']:.2%}{test_text} ({params})"
            f" -> {row['dir']}")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _nan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _load_nonempty(args: argparse.Namespace):
    results = load(args.study, args.studies_dir, args.storage)
    if results.counts.complete == 0:
        c = results.counts
        raise StudyError(f"study {args.study!r} has no completed trial yet ({c.finished} "
                         f"finished: {c.pruned} pruned, {c.failed} failed; {c.running} running)")
    return results


def cmd_best(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise UsageError(f"--top {args.top}: must be >= 1")
    results = _load_nonempty(args)
    best = results.best(args.top)
    if args.json:
        rows = []
        for _, r in best.iterrows():
            rows.append({"number": int(r["number"]), "value": float(r["value"]),
                         "test_accuracy": _num(r["test_accuracy"]),
                         "params": {n: _plain(r[n]) for n in results.param_names},
                         "epochs": _num(r["epochs"]), "best_epoch": _num(r["best_epoch"]),
                         "train_seconds": _num(r["train_seconds"]), "dir": r["dir"]})
        print(json.dumps({"study": results.name, "best": rows}, indent=2))
        return 0
    for rank, (_, r) in enumerate(best.iterrows(), 1):
        print(f"#{rank} " + _best_line(r, results.param_names)
              + f"  [{_num(r['epochs'])} epochs, {_num(r['train_seconds'])}s]")
    return 0


def _num(v):
    if v is None or _nan(v):
        return None
    return float(v) if isinstance(v, float) else int(v)


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def cmd_trials(args: argparse.Namespace) -> int:
    results = load(args.study, args.studies_dir, args.storage)
    df = results.trials
    if df.empty:
        raise StudyError(f"study {args.study!r} has no trials yet")
    if args.csv:
        from mlp.atomic import write_with

        write_with(args.csv, lambda f: df.to_csv(f, index=False), mode="w")
        print(f"{len(df)} trials -> {args.csv}")
        return 0
    shown = df.drop(columns=["datetime_start", "datetime_complete", "dir"])
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.width", 200,
                           "display.max_columns", None, "display.float_format", "{:.4g}".format):
        print(shown.to_string(index=False))
    return 0


def cmd_studies(args: argparse.Namespace) -> int:
    found = list_studies(args.studies_dir)
    if not found:
        raise StudyError(f"no studies in {args.studies_dir}")
    for r in found:
        c = r.counts
        best = r.best(1)
        best_text = f"best val {best.iloc[0]['value']:.2%} (trial {int(best.iloc[0]['number'])})" \
            if len(best) else "no completed trial"
        print(f"{r.name}: {c.finished} finished ({c.complete} completed, {c.pruned} pruned, "
              f"{c.failed} failed, {c.running} running); {best_text}")
    return 0
