"""The coordination ceiling: how many trivial trials per second a study's storage
sustains, for the journal file and for PostgreSQL, from 1, 2, 4 and 8 processes.

A trivial trial is what the harness does around a training, with no training: take
the study's locks, count the trials, ask (one sampled value), record the worker,
report three epochs, tell. The figure is an upper bound on trials per second for
the whole study, whatever the machines: real trials add their training time.

    python benchmarks/bench_storage.py --seconds 10 --json benchmarks/results/storage.json
    python benchmarks/bench_storage.py --postgres postgresql://user:pw@host/db   # a server of yours

Without ``--postgres`` a throw-away PostgreSQL cluster is started on 127.0.0.1 (the
test suite's, tests/sweep/postgres.py: needs initdb and pg_ctl).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402

from sweep.study.locks import study_locks  # noqa: E402
from sweep.study.paths import StudyPaths  # noqa: E402
from sweep.study.records import count  # noqa: E402
from sweep.study.storage import open_storage  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.ERROR)


def worker(paths: StudyPaths, url: str | None, seconds: float, results: multiprocessing.Queue
           ) -> None:
    storage = open_storage(paths.journal, url, heartbeat=10 if url else None)
    study_id = storage.get_study_id_from_name(paths.name)
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with study_locks(paths, storage):
            count(storage.get_all_trials(study_id, deepcopy=False))
            study = optuna.load_study(study_name=paths.name, storage=storage,
                                      sampler=optuna.samplers.RandomSampler())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trial = study.ask()
            trial.set_user_attr("pid", 1)
        x = trial.suggest_float("x", 0.0, 1.0)
        for epoch in (1, 2, 3):
            trial.report(x * epoch, epoch)
        study.tell(trial, x)
        done += 1
    results.put(done)


def measure(kind: str, processes: int, seconds: float, pg_url: str | None) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    paths = StudyPaths.of(folder, f"s{processes}")
    url = pg_url if kind == "postgresql" else None
    storage = open_storage(paths.journal, url)
    optuna.create_study(study_name=paths.name, storage=storage, direction="maximize")
    results: multiprocessing.Queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(paths, url, seconds, results))
             for _ in range(processes)]
    started = time.monotonic()
    for p in procs:
        p.start()
    total = sum(results.get() for _ in procs)
    for p in procs:
        p.join()
    wall = time.monotonic() - started
    row = {"storage": kind, "processes": processes, "trials": total, "seconds": seconds,
           "trials_per_second": round(total / seconds, 1), "wall_seconds": round(wall, 1)}
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", default="1,2,4,8")
    parser.add_argument("--postgres", default=None, help="a database URL (default: a "
                        "throw-away cluster on 127.0.0.1)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    cluster = None
    url = args.postgres
    if url is None:
        from tests.sweep.postgres import Cluster

        cluster = Cluster()
    rows = []
    try:
        for n in (int(v) for v in args.processes.split(",")):
            for kind in ("journal", "postgresql"):
                pg = url or (cluster.new_database() if cluster else None)
                rows.append(measure(kind, n, args.seconds, pg))
    finally:
        if cluster is not None:
            cluster.stop()
    if args.json:
        Path(args.json).write_text(json.dumps({"measured": time.strftime("%Y-%m-%dT%H:%M"),
                                               "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
