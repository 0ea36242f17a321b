"""Run every benchmark and rewrite the results table in benchmarks/README.md.

    python benchmarks/run_all.py              # everything (about 40 minutes on 2 cores)
    python benchmarks/run_all.py --render     # only rewrite the README from results/*.json

Results land in benchmarks/results/*.json; the README's section between the
``<!-- results -->`` markers is generated from them, with the machine, the date and
the library versions. The epoch benchmark's PyTorch column needs the `bench` extra
(``pip install -e '.[bench]'``); without it the column is left out.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
START, END = "<!-- results -->", "<!-- /results -->"


def run(args: list[str], env: dict[str, str] | None = None) -> None:
    print("$ " + " ".join(args), flush=True)
    subprocess.run([sys.executable, *args], check=True, env=env)


def run_all() -> None:
    RESULTS.mkdir(exist_ok=True)
    torch = ["--torch"] if importlib.util.find_spec("torch") else []
    run([str(HERE / "bench_epoch.py"), *torch, "--hidden", "128,512,2048", "--batch",
         "32,128,512", "--threads", "1,2", "--epochs", "2", "--repeats", "3",
         "--json", str(RESULTS / "epoch.json")])
    # the same classic row with the environment's OpenBLAS kernel override removed
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    run([str(HERE / "bench_epoch.py"), *torch, "--threads", "2", "--epochs", "3",
         "--json", str(RESULTS / "epoch_native_kernel.json")], env=env)
    for what, name in (("throughput", "throughput"), ("rates", "rates"),
                       ("pruning", "pruning"), ("end-to-end", "end_to_end")):
        run([str(HERE / "bench_sweep.py"), what, "--json", str(RESULTS / f"{name}.json")])
    run([str(HERE / "bench_machines.py"), "--json", str(RESULTS / "machines.json")])


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render() -> str:
    epoch, native = load("epoch"), load("epoch_native_kernel")
    tp, pr, e2e = load("throughput"), load("pruning"), load("end_to_end")
    rates, machines, chance = load("rates"), load("machines"), load("chance")
    lines = []
    if epoch:
        m = epoch["machine"]
        b = m["blas"]
        lines += [f"Measured {epoch.get('date', '')[:16]} on {m['cpu']} ({m['usable_cpus']} "
                  f"cores), Python {m['python']}, numpy {m['numpy']}, {b['library']} "
                  f"{b['version']} (kernel {b['kernel']}, forced by "
                  f"OPENBLAS_CORETYPE={m['env'].get('OPENBLAS_CORETYPE', 'unset')}), "
                  f"{platform.system()}.", ""]
        torch_v = next((r.get("torch_version") for r in epoch["results"]
                        if r.get("torch_version")), None)
        lines += ["### 1. Seconds per epoch (50,000 images, float32)", "",
                  "The NumPy MLP (784-H-10, batch norm, dropout 0.3, L2 1e-4, momentum SGD) "
                  "against the same matrix products alone (the floor: the five products of "
                  "each training step plus the validation pass's forward products) and "
                  + (f"PyTorch {torch_v} eager mode on the CPU, same network, loop and thread "
                     "count." if torch_v else "(PyTorch not installed)."), "",
                  "| hidden | batch | threads | NumPy epoch s | floor s | NumPy / floor |"
                  + (" PyTorch epoch s | PyTorch / NumPy |" if torch_v else ""),
                  "| ---: | ---: | ---: | ---: | ---: | ---: |"
                  + (" ---: | ---: |" if torch_v else "")]
        for r in epoch["results"]:
            floor = r["floor_s"] + r["val_floor_s"]
            row = (f"| {r['hidden']} | {r['batch']} | {r['blas_threads']} | {r['epoch_s']:.3f} "
                   f"| {floor:.3f} | {r['epoch_per_floor']:.2f} |")
            if torch_v:
                row += f" {r['torch_epoch_s']:.3f} | {r['torch_per_numpy']:.2f} |"
            lines.append(row)
        lines.append("")
    if native:
        r = native["results"][0]
        lines += [f"With OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for that command alone, "
                  f"OpenBLAS runs its {r['blas_kernel']} kernel: the classic epoch takes "
                  f"{r['epoch_s']:.3f} s against a floor of "
                  f"{r['floor_s'] + r['val_floor_s']:.3f} s "
                  f"(ratio {r['epoch_per_floor']:.2f})"
                  + (f"; PyTorch {r['torch_epoch_s']:.3f} s (PyTorch / NumPy "
                     f"{r['torch_per_numpy']:.2f})." if "torch_epoch_s" in r else "."), ""]
    if tp:
        t = tp["throughput"]
        lines += ["### 2. Sweep throughput", "",
                  f"Measured {tp.get('date', '')}. A fixed small study on real MNIST (seed 1, "
                  "hidden size up to 512, batch 64 to 256, 3 epochs, no pruning, 12 trials), "
                  "with the per-trial figures at their default (`--plots best`: only new "
                  "bests draw them) and without (`--plots none`), the six runs interleaved:",
                  "", "| --jobs | workers × threads | figures | figures drawn | wall s | "
                  "trials per hour | harness overhead | peak memory per worker |",
                  "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for key, j in t.items():
            if not isinstance(j, dict):
                continue
            figures = "none" if key.endswith("no_plots") else "best"
            label = key.removesuffix("_no_plots").removeprefix("jobs")
            lines.append(f"| {label} | {j['jobs']} × {j.get('threads') or '?'} | {figures} | "
                         f"{j.get('figures_drawn', '?')} | {j['wall_seconds']:.1f} | "
                         f"{j['trials_per_hour']:.0f} | {j['overhead']:.1%} | "
                         f"{j['peak_rss_mb']:.0f} MB |")
        lines += ["", f"`--jobs 2` gives **{t['speedup']:.2f}×** the trials per hour of "
                  f"`--jobs 1` ({t.get('speedup_no_plots', float('nan')):.2f}× without "
                  "figures). Harness overhead is 1 − (sum of the trials' training seconds) / "
                  "(wall time × workers): process and worker start-up, data loading, "
                  "evaluation on the test set, checkpoints, figures and Optuna's storage. "
                  "Peak memory is the worker's peak resident set, which counts the shared "
                  "memory-mapped data pages in full.", ""]
    if rates:
        r = rates["rates"]
        lines += ["### 2b. The default study by --jobs", "",
                  f"Measured {rates.get('date', '')}. The first {r['jobs1']['trials']} trials "
                  "of the default study (`python -m sweep run --trials "
                  f"{r['jobs1']['trials']}`, real MNIST, 20 epochs, Hyperband), one run "
                  "each, back to back. "
                  + ("Every row is a study of the same name, so with the lag they are the same "
                     "trials up to the last digits that BLAS threads change. "
                     if r.get("same_study_name") else
                     "The rows' studies had different names, and Hyperband puts a trial in a "
                     "bracket by a hash of the study's name, so each row pruned other trials "
                     "(epochs trained: " + ", ".join(
                         str(r[k]["epochs_trained"]) for k in ("jobs1", "jobs2", "jobsauto")
                         if k in r) + "); read them as samples of the default study, not as "
                     "the same trials (the benchmark now gives every row one name). ")
                  + "On this machine `--jobs auto` chooses 2 workers × 1 thread, the "
                  "`--jobs 2` configuration"
                  + (", measured in its own row." if "jobsauto" in r else
                     "; its own run was left out for time.")
                  + " Overhead here counts a worker's idle time too: the waits the lag "
                  "imposes and the end of the run, when one long trial runs while the other "
                  "worker has nothing left to start.", "",
                  "| --jobs | workers × threads | wall s | trials per hour | harness overhead "
                  "| best val acc |", "| --- | --- | ---: | ---: | ---: | ---: |"]
        for key in ("jobs1", "jobs2", "jobsauto"):
            if key not in r:
                continue
            j = r[key]
            lines.append(f"| {key.removeprefix('jobs')} | {j['jobs']} × {j.get('threads')} | "
                         f"{j['wall_seconds']:.0f} | {j['trials_per_hour']:.0f} | "
                         f"{j['overhead']:.1%} | {j['best_val']:.2%} |")
        lines.append("")
    if pr:
        p = pr["pruning"]
        lines += ["### 3. Pruners", "",
                  "The same study (real MNIST, seed 1, 30 trials, 10 epochs, 2 jobs) with "
                  "each pruner:", "",
                  "| pruner | epochs trained | epochs saved | wall s | best val acc | "
                  "vs none |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for name in ("none", "median", "hyperband"):
            r = p[name]
            saved = f"{r['epochs_saved']:.0%}" if "epochs_saved" in r else "–"
            delta = (f"{r['best_val_delta_points']:+.2f} points"
                     if "best_val_delta_points" in r else "–")
            lines.append(f"| {name} | {r['epochs_trained']} | {saved} | "
                         f"{r['wall_seconds']:.0f} | {r['best_val']:.2%} | {delta} |")
        lines.append("")
    if e2e:
        r = e2e["end_to_end"]
        threads = f"{r.get('threads')} thread" + ("" if r.get("threads") == 1 else "s")
        how = (f"{r['jobs']} workers × {threads}; {r['rule']}" if r.get("rule")
               else f"{r['jobs']} workers, before --jobs auto")
        lines += ["### 4. End to end", "",
                  f"Measured {e2e.get('date', '')}. `python -m sweep run --trials 50` with "
                  f"defaults on real MNIST ({how}): **{r['wall_seconds'] / 60:.1f} minutes** "
                  "wall time, "
                  f"{r['completed']} completed, {r['pruned']} pruned, {r['failed']} failed, "
                  f"{r['epochs_trained']} epochs trained, harness overhead "
                  f"{r['overhead']:.1%}"
                  + (f", figures drawn for {r['figures_drawn']} trials" if "figures_drawn" in r
                     else ", figures for every completed trial")
                  + f"; best validation accuracy {r['best_val']:.2%}, its test accuracy "
                  f"**{r['best_test']:.2%}**.", ""]
    if chance:
        b, a = chance["before"], chance["after"]
        lines += ["### 5. Trials stuck at chance level", "",
                  f"The first {b['trials']} trials of the default study with the chance-level "
                  "stop turned off (`[fixed] chance_epochs = 0` in a space file) and on (the "
                  "default: 3 epochs in a row within 5 points of 1/10 stop a trial): trials "
                  "whose last validation accuracy is at chance level, and the epochs they "
                  "trained. The runs sample the same trials until one learns from the "
                  "stopped trial (its history is shorter), so the epoch totals differ for "
                  "more reasons than the stop itself.", "",
                  "| chance stop | trials at chance | their epochs | all epochs |",
                  "| --- | ---: | ---: | ---: |",
                  f"| off | {b['chance_trials']} | {b['chance_epochs']} | "
                  f"{b['epochs_trained']} |",
                  f"| on | {a['chance_trials']} | {a['chance_epochs']} | "
                  f"{a['epochs_trained']} |", ""]
    if machines:
        lines += ["### 6. One PostgreSQL study shared by local processes", "",
                  f"Measured {machines['measured']}. `python benchmarks/bench_machines.py`: "
                  f"{machines['trials']} real MNIST trials of {machines['epochs']} epochs "
                  "(hidden size up to 512), each `sweep run` process with one worker and one "
                  "BLAS thread and its own studies folder, as separate machines would be; "
                  "the journal row is the same study in one process, for reference.", "",
                  "| storage | processes | wall s | trials per hour | busy (training / "
                  "wall × processes) |", "| --- | ---: | ---: | ---: | ---: |"]
        for row in machines["rows"]:
            lines.append(f"| {row['storage']} | {row['processes']} | {row['wall_seconds']:.0f} "
                         f"| {row['trials_per_hour']} | {row['busy']:.0%} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--render", action="store_true", help="only rewrite the README")
    args = p.parse_args()
    if not args.render:
        run_all()
    text = README.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{README} has no {START} ... {END} section to rewrite")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{render()}\n{END}{tail}")
    print(f"rewrote {README}")


if __name__ == "__main__":
    main()
