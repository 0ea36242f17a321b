"""The CPU time of a study's report: ``python -m sweep report`` on a finished study.

    python benchmarks/bench_report.py --studies-dir DIR --study mnist-mlp \
        --json benchmarks/results/report.json

It runs the report command in a fresh process, as the end of ``sweep run`` does, several
times, and records each run's user + system CPU seconds of that process and its children
(imports included), and its wall time. CPU time is the figure that does not drift with
what else the machine is running; wall time is given beside it. The report's figures are
PNG only (``--svg`` would draw each twice).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def one_report(studies: str, study: str, svg: bool) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one ``sweep report`` in a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sweep", "report", "--studies-dir", studies,
                    "--study", study, *(["--svg"] if svg else [])], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "MPLBACKEND": "Agg"})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--studies-dir", default="studies")
    ap.add_argument("--study", default="mnist-mlp")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--svg", action="store_true", help="also draw the SVG twins")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import sweep

    counts = sweep.load(args.study, args.studies_dir).counts
    runs = [one_report(args.studies_dir, args.study, args.svg) for _ in range(args.repeats)]
    cpu, wall = [r[0] for r in runs], [r[1] for r in runs]
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": platform.machine(),
        "cores": os.cpu_count(), "study": args.study, "finished": counts.finished,
        "completed": counts.complete, "svg": args.svg,
        "cpu_seconds": cpu, "cpu_median": statistics.median(cpu),
        "wall_seconds": wall, "wall_median": statistics.median(wall),
    }
    print(f"report of {counts.finished} trials ({counts.complete} completed): CPU "
          f"{result['cpu_median']:.1f} s (median of {len(cpu)}: "
          + ", ".join(f"{c:.1f}" for c in cpu) + f"), wall {result['wall_median']:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
