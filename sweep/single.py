"""Commands on a single run: ``train``, ``predict`` and ``data``."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime
from pathlib import Path

import numpy as np

from mlp.config import Config, ConfigError
from mlp.data import load_dataset
from mlp.experiment import load_config, load_experiment_model, run_experiment
from mlp.train import EpochMetrics, evaluate

from .errors import UsageError
from .options import Command
from .overrides import add_override_flags, collect_overrides


def config_from_args(args: argparse.Namespace) -> Config:
    base = load_config(args.config) if getattr(args, "config", None) else Config()
    try:
        return base.with_overrides(collect_overrides(args))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def recorded_threads(config_path: str | os.PathLike) -> int | None:
    """The BLAS thread count a config.json was trained with, if it says."""
    try:
        env = json.loads(Path(config_path).read_text()).get("environment", {})
        threads = env.get("blas", {}).get("threads")
    except (OSError, ValueError, AttributeError):
        return None
    return threads if isinstance(threads, int) and threads > 0 else None


def cmd_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    threads = recorded_threads(args.config) if args.config else None
    if threads is not None:
        # Sums inside a matrix product are split by thread; the same count gives the
        # same bits, so a re-run uses the count the original run recorded.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads, user_api="blas"):
            return _train(args, config)
    return _train(args, config)


def _train(args: argparse.Namespace, config: Config) -> int:
    out = Path(args.out) if args.out else default_run_dir()
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"--out {out}: directory exists and is not empty")
    data = load_dataset(config.data.dataset, config.data.data_dir,
                        train_limit=config.data.train_limit)
    if not args.quiet:
        m, t = config.model, config.training
        print(f"data: {data.name} ({data.source}); "
              f"{len(data.train_y)} train, {len(data.val_y)} val, {len(data.test_y)} test")
        print(f"model: {data.n_features}-" + "-".join([str(m.hidden_size)] * m.hidden_layers)
              + f"-{data.n_classes}, dropout {m.dropout}, batch norm {m.batch_norm}; "
              f"SGD lr {t.lr} ({t.schedule}), momentum {t.momentum}, batch {t.batch_size}, "
              f"L2 {t.l2}, {t.epochs} epochs, seed {t.seed}")

    def log(e: EpochMetrics) -> None:
        if not args.quiet:
            print(f"epoch {e.epoch:3d}  lr {e.lr:.4f}  train loss {e.train_loss:.4f} "
                  f"acc {e.train_acc:.2%}  val loss {e.val_loss:.4f} acc {e.val_acc:.2%}  "
                  f"{e.seconds:.1f}s", flush=True)

    res = run_experiment(config, out, data=data, on_epoch=log, plots=not args.no_plots)
    if res.status == "diverged":
        print(f"sweep train: {res.message}; see {out}/metrics.json")
        return 1
    print(f"{res.status}: best epoch {res.best_epoch}, val acc {res.val_acc:.2%}, "
          f"test acc {res.test_acc:.2%}, {res.seconds:.1f}s training -> {out}")
    return 0


def default_run_dir() -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path("runs") / stamp
    n = 1
    while out.exists():
        n += 1
        out = Path("runs") / f"{stamp}-{n}"
    return out


def cmd_predict(args: argparse.Namespace) -> int:
    exp = Path(args.experiment)
    if not (exp / "config.json").is_file():
        raise UsageError(f"--experiment {exp}: not an experiment directory (no config.json)")
    if not (exp / "checkpoints" / "best.npz").is_file():
        raise UsageError(f"--experiment {exp}: no checkpoint (checkpoints/best.npz is missing)")
    config = load_config(exp / "config.json")
    data = load_dataset(config.data.dataset, args.data_dir or config.data.data_dir)
    n_test = len(data.test_y)
    if args.wrong is not None and args.wrong < 1:
        raise UsageError(f"--wrong {args.wrong}: must be >= 1")
    if args.wrong is None and args.index:
        bad = [i for i in args.index if not 0 <= i < n_test]
        if bad:
            raise UsageError(f"--index {bad[0]}: out of range (the test set has {n_test} "
                             f"images, 0 to {n_test - 1})")
    if args.wrong is None and not args.index:
        raise UsageError("give --index N [N ...] or --wrong [K]")
    _, model = load_experiment_model(exp, data)
    _, _, probs = evaluate(model, data.test_x, data.test_y.astype(np.intp))
    if args.wrong is not None:
        indices = np.flatnonzero(probs.argmax(axis=1) != data.test_y)[:args.wrong].tolist()
        if not indices:
            print("no misclassified test images")
            return 0
    else:
        indices = args.index
    from mlp import plots

    name = f"index-{indices[0]}" if len(indices) == 1 else f"grid-{indices[0]}-n{len(indices)}"
    out = Path(args.out) if args.out else exp / "predictions" / f"{name}.png"
    classes = list(data.classes)
    if len(indices) == 1:
        i = indices[0]
        plots.prediction_figure(np.asarray(data.test_x[i]), probs[i], int(data.test_y[i]),
                                classes, out, index=i)
    else:
        plots.prediction_grid(np.asarray(data.test_x[indices]), probs[indices],
                              np.asarray(data.test_y[indices]), classes, out, indices=indices)
    for i in indices:
        p = probs[i]
        verdict = "right" if p.argmax() == data.test_y[i] else "WRONG"
        print(f"test #{i}: predicted {classes[p.argmax()]} ({p.max():.1%}), "
              f"true {classes[data.test_y[i]]}, {verdict}")
    print(f"figure: {out}")
    if args.show:
        _show(out)
    return 0


def _show(path: Path) -> None:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("no display: --show skipped, open the file above instead")
        return
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    plt.imshow(mpimg.imread(path))
    plt.axis("off")
    plt.show()


def cmd_data(args: argparse.Namespace) -> int:
    try:
        Config().with_overrides({"data.dataset": args.dataset, "data.data_dir": args.data_dir})
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    data = load_dataset(args.dataset, args.data_dir)
    print(f"{data.name}: {len(data.train_y)} train, {len(data.val_y)} validation, "
          f"{len(data.test_y)} test images, {data.n_classes} classes")
    print(f"source: {data.source}")
    return 0


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="config.json to start from (e.g. of an earlier run)")
    p.add_argument("--out", help="experiment directory to create (default runs/<timestamp>)")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.add_argument("--quiet", action="store_true", help="only the final summary")
    add_override_flags(p)


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--experiment", required=True, help="experiment directory of a run")
    p.add_argument("--index", type=int, nargs="+", help="test image index (several: a grid)")
    p.add_argument("--wrong", type=int, nargs="?", const=16, default=None, metavar="K",
                   help="pick K misclassified test images instead (default 16)")
    p.add_argument("--out", help="figure file to write (default EXPERIMENT/predictions/...)")
    p.add_argument("--show", action="store_true", help="also open the figure in a window")
    p.add_argument("--data-dir", help="directory holding the dataset's IDX files")


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist or idx")
    p.add_argument("--data-dir", help="directory holding the four IDX files")


COMMANDS = (
    Command("train", "train one network and write its experiment directory",
            add_train_arguments, cmd_train,
            "Train one network (by default the classic 784-512-10 configuration) and write "
            "an experiment directory."),
    Command("predict", "show the trained network's prediction for test images",
            add_predict_arguments, cmd_predict),
    Command("data", "fetch and verify a dataset ahead of time", add_data_arguments, cmd_data),
)
