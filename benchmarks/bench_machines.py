"""Real MNIST trials per hour with 1, 2 and 3 `sweep run` processes sharing one
PostgreSQL study, the way several machines would (each its own studies folder).

Every process runs one worker with one BLAS thread (`--jobs 1 --threads 1`), so that
the rows differ only in how many processes share the study; the first row is the same
study in the default journal file, for reference. On a 2-core machine the third
process has no core of its own: its row shows what oversubscription costs, not scale.

    python benchmarks/bench_machines.py --json benchmarks/results/machines.json

Without ``--postgres`` a throw-away PostgreSQL cluster is started on 127.0.0.1 (the
test suite's, tests/sweep/postgres.py: needs initdb and pg_ctl).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_sweep import SMALL_SPACE as SPACE  # noqa: E402  the throughput study's space

import sweep  # noqa: E402


def run(folder: Path, processes: int, trials: int, epochs: int, url: str | None) -> dict:
    study = folder.name  # one study per row, also in a database of yours
    folder.mkdir(parents=True)
    space = folder / "space.toml"
    space.write_text(SPACE)
    common = ["--trials", str(trials), "--jobs", "1", "--threads", "1", "--epochs", str(epochs),
              "--space", str(space), "--study", study, "--seed", "1", "--no-report", "--quiet"]
    if url:
        common += ["--storage", url]
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "sweep", "run", *common, "--studies-dir",
                               str(folder / f"machine-{i}")], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i in range(processes)]
    errors = [p.communicate()[1] for p in procs]
    wall = time.perf_counter() - started
    if any(p.returncode for p in procs):
        raise SystemExit("a run failed:\n" + "\n".join(e[-1500:] for e in errors))
    results = sweep.load(study, folder / "machine-0", url)
    outcomes = results.outcomes
    train = sum(o.train_seconds or 0 for o in outcomes)
    row = {"storage": "postgresql" if url else "journal", "processes": processes,
           "trials": len(outcomes), "wall_seconds": round(wall, 1),
           "trials_per_hour": round(len(outcomes) / wall * 3600),
           "train_seconds_sum": round(train, 1),
           "busy": round(train / (wall * processes), 3),
           "hosts_dirs": sum(1 for i in range(processes)
                             if (folder / f"machine-{i}" / study / "trials").is_dir())}
    print(row, flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=24)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--processes", default="1,2,3")
    p.add_argument("--postgres", default=None, help="a database URL (default: a throw-away "
                   "cluster on 127.0.0.1)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    cluster, url = None, args.postgres
    if url is None:
        from tests.sweep.postgres import Cluster

        cluster = Cluster()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(run(Path(tmp) / "journal", 1, args.trials, args.epochs, None))
            for n in (int(v) for v in args.processes.split(",")):
                pg = url or cluster.new_database()
                rows.append(run(Path(tmp) / f"pg{n}", n, args.trials, args.epochs, pg))
    finally:
        if cluster is not None:
            cluster.stop()
    if args.json:
        Path(args.json).write_text(json.dumps({"measured": time.strftime("%Y-%m-%d %H:%M"),
                                               "trials": args.trials, "epochs": args.epochs,
                                               "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
