"""Commands on a single run: ``train``, ``predict`` and ``data``."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from mlp.config import DATASETS, Config, ConfigError
from mlp.data import load_dataset
from mlp.experiment import load_experiment, read_config_file, run_experiment
from mlp.memory import check_fits, training_bytes
from mlp.train import EpochMetrics, evaluate

from .errors import UsageError
from .options import Command
from .overrides import add_override_flags, collect_overrides


def config_from_args(args: argparse.Namespace) -> tuple[Config, dict[str, Any]]:
    """The configuration to train (``--config`` with the flags applied) and the
    environment block of ``--config`` (empty without one)."""
    base, environment = read_config_file(args.config) if args.config else (Config(), {})
    try:
        return base.with_overrides(collect_overrides(args)), environment
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def recorded_threads(environment: dict[str, Any]) -> int | None:
    """The BLAS thread count a config.json's environment block says it was trained with."""
    blas = environment.get("blas")
    threads = blas.get("threads") if isinstance(blas, dict) else None
    return threads if isinstance(threads, int) and threads > 0 else None


def cmd_train(args: argparse.Namespace) -> int:
    config, environment = config_from_args(args)
    threads = recorded_threads(environment)
    if threads is not None:
        # Sums inside a matrix product are split by thread; the same count gives the
        # same bits, so a re-run uses the count the original run recorded.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads, user_api="blas"):
            return _train(args, config)
    return _train(args, config)


def _train(args: argparse.Namespace, config: Config) -> int:
    """Refuse what can be refused before anything is written (the out folder, the data,
    the memory the network needs), then train into a folder this process holds."""
    out = Path(args.out) if args.out else default_run_dir()
    _check_out(out)
    data = load_dataset(config.data.dataset, config.data.data_dir,
                        train_limit=config.data.train_limit)
    check_fits(config, data.n_features, data.n_classes, n_train=len(data.train_y),
               n_val=len(data.val_y), n_test=len(data.test_y))
    if not args.quiet:
        m, t = config.model, config.training
        print(f"data: {data.name} ({data.source}); "
              f"{len(data.train_y)} train, {len(data.val_y)} val, {len(data.test_y)} test")
        print(f"model: {data.n_features}-" + "-".join([str(m.hidden_size)] * m.hidden_layers)
              + f"-{data.n_classes}, dropout {m.dropout}, batch norm {m.batch_norm}; "
              f"SGD lr {t.lr} ({t.schedule}), momentum {t.momentum}, batch {t.batch_size}, "
              f"L2 {t.l2}, {t.epochs} epochs, seed {t.seed}")

    try:
        with OutDir(out) as folder:
            def log(e: EpochMetrics) -> None:
                folder.trained = True
                if not args.quiet:
                    print(f"epoch {e.epoch:3d}  lr {e.lr_end:.4f}  train loss "
                          f"{e.train_loss:.4f} acc {e.train_acc:.2%}  val loss "
                          f"{e.val_loss:.4f} acc {e.val_acc:.2%}  {e.seconds:.1f}s", flush=True)

            res = run_experiment(config, out, data=data, on_epoch=log, plots=not args.no_plots)
    except MemoryError:
        need = training_bytes(config, data.n_features, data.n_classes, n_train=len(data.train_y),
                              n_val=len(data.val_y), n_test=len(data.test_y))
        print(f"sweep train: error: out of memory while training into {out} (the estimate "
              f"was {need / 1e9:.1f} GB); try a smaller --hidden-size, --hidden-layers or "
              "--batch-size", file=sys.stderr)
        return 1
    if res.status == "diverged":
        print(f"sweep train: {res.message}; see {out}/metrics.json")
        return 1
    print(f"{res.status}: best epoch {res.best_epoch}, val acc {res.val_accuracy:.2%}, "
          f"test acc {res.test_accuracy:.2%}, {res.train_seconds:.1f}s training -> {out}")
    return 0


def _check_out(out: Path) -> None:
    if out.is_symlink() and not out.exists():
        raise UsageError(f"--out {out}: a symbolic link to nothing")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"--out {out}: directory exists and is not empty")


class OutDir:
    """The experiment folder of one ``train``, made and locked for the run.

    Entering makes the folder and any missing parents, one ``mkdir`` at a time so
    that only the folders this process really made count as its own, and holds an
    exclusive lock on it: a second ``train`` into the same folder is refused instead
    of mixing its files in. Leaving with an exception before any epoch was recorded
    (``trained`` still False) undoes the folder: the folders it made are removed, a
    folder that was there (empty) is emptied again. After an epoch, a failed run
    keeps its folder: its metrics.json records the failure.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.made: list[Path] = []
        self.trained = False
        self._fd: int | None = None

    def __enter__(self) -> OutDir:
        missing = [p for p in [self.out, *self.out.parents] if not p.exists()]
        for p in reversed(missing):
            try:
                p.mkdir()
                self.made.append(p)
            except FileExistsError:
                pass
            except OSError:  # a name too long, a full or read-only disk: make nothing
                self._give_up()
                raise
        try:
            self._fd = os.open(self.out, os.O_RDONLY | os.O_DIRECTORY)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._give_up()
            raise UsageError(f"--out {self.out}: another run is writing there") from None
        if any(self.out.iterdir()):  # filled between the check and the lock
            self._give_up()
            raise UsageError(f"--out {self.out}: directory exists and is not empty")
        return self

    def _give_up(self) -> None:
        """Not ours after all: unlock, and remove the folders made here if still empty."""
        self._close()
        for p in reversed(self.made):
            with contextlib.suppress(OSError):
                p.rmdir()

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None and not self.trained:
            self._undo()
        self._close()

    def _undo(self) -> None:
        if self.out in self.made:
            shutil.rmtree(self.out, ignore_errors=True)
        else:
            for child in self.out.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        self._give_up()  # a parent another process has put something in stays

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def default_run_dir() -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path("runs") / stamp
    n = 1
    while out.exists():
        n += 1
        out = Path("runs") / f"{stamp}-{n}"
    return out


MAX_FIGURE_IMAGES = 100  # a grid of more is unreadable, and its size grows without bound


def cmd_predict(args: argparse.Namespace) -> int:
    exp = Path(args.experiment)
    _check_predict_args(args, exp)
    run = load_experiment(exp, data_dir=args.data_dir)
    data = run.data
    n_test = len(data.test_y)
    if args.wrong is None:
        bad = [i for i in args.index if not 0 <= i < n_test]
        if bad:
            raise UsageError(f"--index {bad[0]}: out of range (the test set has {n_test} "
                             f"images, 0 to {n_test - 1})")
    with np.errstate(all="ignore"):
        _, _, probs = evaluate(run.model, data.test_x, data.test_y.astype(np.intp),
                               run.config.training.eval_batch_size)
    if not np.all(np.isfinite(probs)):
        raise UsageError(f"--experiment {exp}: checkpoints/best.npz gives non-finite "
                         "probabilities (its weights overflow float32): not a trained network")
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


def _check_predict_args(args: argparse.Namespace, exp: Path) -> None:
    """Everything about the arguments that can be refused before data and model load."""
    if not (exp / "config.json").is_file():
        raise UsageError(f"--experiment {exp}: not an experiment directory (no config.json)")
    if not (exp / "checkpoints" / "best.npz").is_file():
        raise UsageError(f"--experiment {exp}: no checkpoint (checkpoints/best.npz is missing)")
    if args.wrong is not None and not 1 <= args.wrong <= MAX_FIGURE_IMAGES:
        raise UsageError(f"--wrong {args.wrong}: must be between 1 and {MAX_FIGURE_IMAGES}")
    if args.wrong is None and not args.index:
        raise UsageError("give --index N [N ...] or --wrong [K]")
    if args.wrong is None and len(args.index) > MAX_FIGURE_IMAGES:
        raise UsageError(f"--index: {len(args.index)} images, at most {MAX_FIGURE_IMAGES} "
                         "fit in one figure")
    if args.out:
        from mlp import plots

        out = Path(args.out)
        if out.is_dir():
            raise UsageError(f"--out {out}: a directory; give a file name such as "
                             f"{out / 'prediction.png'}")
        try:
            plots.image_format(out)
        except ValueError as exc:
            raise UsageError(f"--out {exc}") from None


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
    p.add_argument("--dataset", default="mnist", choices=DATASETS, help="dataset (mnist)")
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
