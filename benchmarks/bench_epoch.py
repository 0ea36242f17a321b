"""Seconds per training epoch of the NumPy MLP, against the floor of its matrix products.

    python benchmarks/bench_epoch.py                      # the classic network, ~15 s
    python benchmarks/bench_epoch.py --hidden 128,512,2048 --batch 32,128,512 --threads 1,2 \\
        --json bench.json

For each setting (hidden units, batch size, BLAS threads) it measures, in one run:

* numpy  -- ``mlp.train.train`` of the classic network (784-H-10, dropout 0.3, L2 1e-4,
  batch norm, float32) on the 50,000 MNIST training images for ``--epochs`` epochs; the
  median of the per-epoch ``seconds`` of the history. Those include the validation pass
  over 10,000 images, which is timed separately (``val s``), so ``steps s`` is the
  epoch without it: shuffling, uint8 -> float conversion, forward, backward, update.
* floor  -- the same matrix products alone, over the same number of batches, in the
  same dtype, into preallocated outputs: per batch x@W1, h@W2, dlogits@W2.T,
  h.T@dlogits and x.T@dh; the median of ``--repeats`` passes. ``steps/floor`` is what
  everything else in a training step costs on top of the unavoidable BLAS work.

Each measurement is a function ``(setting, data, args) -> dict`` listed in
`measurements`; a ``--torch`` comparison is one more such function (its keys join the
row, its columns join `COLUMNS`), nothing else has to change.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from mlp.config import Config
from mlp.data import load_dataset
from mlp.dataset import Dataset

mlp_train = importlib.import_module("mlp.train")

N_TRAIN = 50_000
N_CLASSES = 10
DTYPE = np.float32


@dataclass(frozen=True)
class Setting:
    hidden: int
    batch: int
    threads: int | None  # None: the BLAS library's default


Measurement = Callable[[Setting, Dataset, argparse.Namespace], dict[str, Any]]


# ---------------------------------------------------------------------- measurements

@contextlib.contextmanager
def timed_validation(log: list[float]) -> Iterator[None]:
    """Time each call of `evaluate` made by `train` (once per epoch, on the validation set)."""
    original = mlp_train.evaluate

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            log.append(time.perf_counter() - t0)

    mlp_train.evaluate = timed
    try:
        yield
    finally:
        mlp_train.evaluate = original


def measure_numpy(setting: Setting, data: Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """`train` of the classic network; medians over the epochs of one run."""
    config = Config().with_overrides({
        "epochs": args.epochs, "hidden_size": setting.hidden, "batch_size": setting.batch,
        "dropout": 0.3, "l2": 1e-4, "batch_norm": True, "hidden_layers": 1,
    })
    val_times: list[float] = []
    with timed_validation(val_times):
        result = mlp_train.train(config, data)
    epochs = [m.seconds for m in result.history]
    if len(val_times) != len(epochs):  # train() changed how it validates: say so, not guess
        raise RuntimeError(f"expected one validation per epoch, got {len(val_times)} "
                           f"for {len(epochs)} epochs")
    steps = [e - v for e, v in zip(epochs, val_times, strict=True)]
    return {
        "epoch_s": statistics.median(epochs),
        "steps_s": statistics.median(steps),
        "val_s": statistics.median(val_times),
        "epoch_seconds_all": epochs,
        "final_val_acc": result.history[-1].val_acc,
        "parameter_count": result.model.parameter_count(),
    }


def batch_sizes(n: int, batch: int) -> list[int]:
    """The batch sizes of one epoch over n images, as `train` slices them."""
    full, rest = divmod(n, batch)
    return [batch] * full + ([rest] if rest else [])


def floor_flops(n_features: int, hidden: int, n_out: int, sizes: list[int]) -> float:
    per_row = 2 * (n_features * hidden      # x @ W1
                   + hidden * n_out         # h @ W2
                   + n_out * hidden         # dlogits @ W2.T
                   + hidden * n_out         # h.T @ dlogits
                   + n_features * hidden)   # x.T @ dh
    return float(per_row * sum(sizes))


def measure_floor(setting: Setting, data: Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """The five matrix products of a step, alone, over one epoch's batches."""
    n_in, h, n_out, b = data.n_features, setting.hidden, data.n_classes, setting.batch
    n = len(data.train_y)
    rng = np.random.default_rng(0)
    x = rng.random((b, n_in), dtype=DTYPE)
    w1 = (rng.standard_normal((n_in, h)) * np.sqrt(2 / n_in)).astype(DTYPE)
    w2 = (rng.standard_normal((h, n_out)) * np.sqrt(2 / h)).astype(DTYPE)
    hid = np.empty((b, h), DTYPE)
    logits = np.empty((b, n_out), DTYPE)
    dlogits = rng.standard_normal((b, n_out)).astype(DTYPE) / b
    dh = np.empty((b, h), DTYPE)
    gw1, gw2 = np.empty_like(w1), np.empty_like(w2)
    sizes = batch_sizes(n, b)

    def one_epoch() -> float:
        t0 = time.perf_counter()
        for m in sizes:
            np.matmul(x[:m], w1, out=hid[:m])
            np.matmul(hid[:m], w2, out=logits[:m])
            np.matmul(dlogits[:m], w2.T, out=dh[:m])
            np.matmul(hid[:m].T, dlogits[:m], out=gw2)
            np.matmul(x[:m].T, dh[:m], out=gw1)
        return time.perf_counter() - t0

    n_val, eval_batch = len(data.val_y), 5000
    xv = rng.random((min(eval_batch, n_val), n_in), dtype=DTYPE)
    hv = np.empty((xv.shape[0], h), DTYPE)
    lv = np.empty((xv.shape[0], n_out), DTYPE)

    def one_validation() -> float:
        # the validation pass's products: forward only, in the evaluation batches
        t0 = time.perf_counter()
        for m in batch_sizes(n_val, eval_batch):
            np.matmul(xv[:m], w1, out=hv[:m])
            np.matmul(hv[:m], w2, out=lv[:m])
        return time.perf_counter() - t0

    one_epoch()  # warm-up: page in the buffers, start the BLAS threads
    times = [one_epoch() for _ in range(args.repeats)]
    floor = statistics.median(times)
    one_validation()
    val_floor = statistics.median(one_validation() for _ in range(args.repeats))
    return {"floor_s": floor, "floor_seconds_all": times, "val_floor_s": val_floor,
            "floor_gflops": floor_flops(n_in, h, n_out, sizes) / floor / 1e9,
            "batches": len(sizes)}


def measure_torch(setting: Setting, data: Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """The same network and loop in PyTorch eager mode on the CPU, same thread count.

    Same work per epoch as `train`: a shuffle of the uint8 images, per batch a
    conversion to float32 in [0, 1], forward, cross-entropy, backward, SGD with
    momentum and L2 on the weights only, then a validation pass in batches of 5,000.
    """
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(setting.threads or blas()["threads"] or 1)
    h = setting.hidden
    model = nn.Sequential(nn.Linear(data.n_features, h, bias=False), nn.BatchNorm1d(h),
                          nn.ReLU(), nn.Dropout(0.3), nn.Linear(h, data.n_classes))
    weights = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() == 2]
    others = [p for n, p in model.named_parameters() if not (n.endswith("weight")
                                                              and p.dim() == 2)]
    opt = torch.optim.SGD([{"params": weights, "weight_decay": 1e-4},
                           {"params": others, "weight_decay": 0.0}], lr=0.1, momentum=0.9)
    x_all = torch.from_numpy(np.array(data.train_x).reshape(len(data.train_y), -1))
    y_all = torch.from_numpy(np.asarray(data.train_y, dtype=np.int64))
    val_x = torch.from_numpy(np.asarray(data.val_x, dtype=np.float32).reshape(
        len(data.val_y), -1) / 255)
    loss_fn = nn.CrossEntropyLoss()
    epochs = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(y_all))
        xs, ys = x_all[perm], y_all[perm]
        for lo in range(0, len(ys), setting.batch):
            xb = xs[lo:lo + setting.batch].float().mul_(1 / 255)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), ys[lo:lo + setting.batch])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for lo in range(0, len(val_x), 5000):
                model(val_x[lo:lo + 5000])
        epochs.append(time.perf_counter() - t0)
    return {"torch_epoch_s": statistics.median(epochs), "torch_seconds_all": epochs,
            "torch_version": torch.__version__}


def measurements(args: argparse.Namespace) -> list[tuple[str, Measurement]]:
    found: list[tuple[str, Measurement]] = [("numpy", measure_numpy), ("floor", measure_floor)]
    if args.torch:
        found.append(("torch", measure_torch))
    return found


# -------------------------------------------------------------------------- running

def blas() -> dict[str, Any]:
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if not pools:
        return {"library": None, "threads": None, "kernel": None, "version": None}
    # numpy's own BLAS runs the products; another library (scipy's) may also be loaded
    pools.sort(key=lambda p: "numpy" not in str(p.get("filepath", "")))
    p = pools[0]
    return {"library": p.get("internal_api"), "version": p.get("version"),
            "kernel": p.get("architecture"), "threads": p.get("num_threads"),
            "threading_layer": p.get("threading_layer"), "filepath": p.get("filepath")}


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "host": platform.node(), "platform": platform.platform(), "cpu": cpu_model(),
        "cpu_count": os.cpu_count(), "usable_cpus": len(affinity) if affinity else None,
        "python": platform.python_version(), "numpy": np.__version__, "blas": blas(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "env": {k: v for k, v in os.environ.items()
                if k.startswith(("OPENBLAS_", "OMP_", "MKL_"))},
    }


def run_setting(setting: Setting, data: Dataset, args: argparse.Namespace) -> dict[str, Any]:
    limits = (threadpool_limits(limits=setting.threads, user_api="blas")
              if setting.threads is not None else contextlib.nullcontext())
    with limits:
        row: dict[str, Any] = {**asdict(setting), "blas_threads": blas()["threads"],
                               "blas_kernel": blas()["kernel"]}
        for name, measure in measurements(args):
            t0 = time.perf_counter()
            row.update(measure(setting, data, args))
            if args.verbose:
                print(f"  {name}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    row["steps_per_floor"] = row["steps_s"] / row["floor_s"]
    # the epoch includes a validation pass, so its floor includes that pass's products
    row["epoch_per_floor"] = row["epoch_s"] / (row["floor_s"] + row["val_floor_s"])
    if "torch_epoch_s" in row:
        row["torch_per_numpy"] = row["torch_epoch_s"] / row["epoch_s"]
    return row


# header, key, format; a --torch comparison adds its own columns here
COLUMNS: list[tuple[str, str, str]] = [
    ("hidden", "hidden", "{:d}"),
    ("batch", "batch", "{:d}"),
    ("threads", "blas_threads", "{}"),
    ("epoch s", "epoch_s", "{:.3f}"),
    ("steps s", "steps_s", "{:.3f}"),
    ("val s", "val_s", "{:.3f}"),
    ("floor s", "floor_s", "{:.3f}"),
    ("val floor s", "val_floor_s", "{:.3f}"),
    ("floor GFLOP/s", "floor_gflops", "{:.1f}"),
    ("steps/floor", "steps_per_floor", "{:.2f}"),
    ("epoch/floor", "epoch_per_floor", "{:.2f}"),
    ("val acc", "final_val_acc", "{:.2%}"),
]


TORCH_COLUMNS: list[tuple[str, str, str]] = [
    ("torch epoch s", "torch_epoch_s", "{:.3f}"),
    ("torch/numpy", "torch_per_numpy", "{:.2f}"),
]


def table(rows: list[dict[str, Any]]) -> str:
    columns = COLUMNS + (TORCH_COLUMNS if rows and "torch_epoch_s" in rows[0] else [])
    cells = [[h for h, _, _ in columns]]
    cells += [[fmt.format(r[key]) for _, key, fmt in columns] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--hidden", type=int_list, default=[512], help="hidden sizes (512)")
    p.add_argument("--batch", type=int_list, default=[128], help="batch sizes (128)")
    p.add_argument("--threads", type=int_list, default=None,
                   help="BLAS thread counts (default: leave the library's default)")
    p.add_argument("--epochs", type=int, default=3, help="epochs of each training run (3)")
    p.add_argument("--repeats", type=int, default=5, help="passes of the matmul floor (5)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--verbose", action="store_true", help="time each measurement on stderr")
    p.add_argument("--torch", action="store_true",
                   help="also time the same network in PyTorch eager mode (pip install '.[bench]')")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.repeats < 1:
        p.error("--epochs and --repeats must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = load_dataset("mnist")
    if len(data.train_y) != N_TRAIN:
        raise SystemExit(f"expected {N_TRAIN} training images, got {len(data.train_y)}")
    info = machine()
    b = info["blas"]
    print(f"numpy {info['numpy']}, {b['library']} {b['version']} kernel {b['kernel']} "
          f"({b['threads']} threads by default), CPU {info['cpu']} x{info['usable_cpus']}")
    if info["env"]:
        print("env: " + " ".join(f"{k}={v}" for k, v in sorted(info["env"].items())))
    load = info["load_average"]
    if load is not None:
        busy = load[0] > 0.5 * (info["usable_cpus"] or 1)
        print(f"load average {load[0]:.2f} before the run"
              + (": other processes compete for the CPUs, timings will be inflated"
                 if busy else ""))
    print(f"data: {data.name}, {len(data.train_y)} train / {len(data.val_y)} val images "
          f"({data.source})")
    print(f"classic net 784-H-10, dropout 0.3, L2 1e-4, batch norm, float32; median of "
          f"{args.epochs} epochs; floor = median of {args.repeats} matmul-only passes")
    print()
    settings = [Setting(h, bs, t) for t in (args.threads or [None])
                for h in args.hidden for bs in args.batch]
    rows = []
    for s in settings:
        if args.verbose:
            print(f"{s}", file=sys.stderr)
        rows.append(run_setting(s, data, args))
    print(table(rows))
    print()
    print("epoch s includes the validation pass (val s); steps s = epoch s - val s.")
    print("steps/floor = steps s / floor s; epoch/floor = epoch s / (floor s + val floor s).")
    if args.json:
        doc = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info,
               "args": {k: v for k, v in vars(args).items() if k != "json"}, "results": rows}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
