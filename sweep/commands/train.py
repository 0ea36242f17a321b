"""``sweep train``: train one network (the classic configuration by default) and write
its experiment directory."""

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

from mlp.config import Config
from mlp.data import load_dataset
from mlp.experiment import read_config_file, run_experiment
from mlp.memory import check_fits, training_bytes
from mlp.train import EpochMetrics

from ..errors import StudyError, UsageError
from ..study.paths import enclosing
from ..text import plural
from .overrides import add_override_flags, collect_overrides

DESCRIPTION = ("Train one network (by default the classic 784-512-10 configuration) and "
               "write its experiment directory: config, history, metrics, checkpoints, "
               "figures. Flags override any config value; --config DIR/config.json re-trains "
               "an earlier run exactly. sweep predict --experiment DIR reads the result.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE",
                   help="a config.json to start from (an earlier run's, to re-train it)")
    p.add_argument("--experiment", metavar="DIR",
                   help="the experiment directory to create, new or empty (default "
                        "runs/<date-time>)")
    p.add_argument("--out", dest="out_folder", metavar="DIR",
                   help=argparse.SUPPRESS)  # the earlier spelling of --experiment
    p.add_argument("--no-plots", action="store_true", help="draw no figures")
    p.add_argument("--quiet", action="store_true",
                   help="no progress (no line per epoch): only the summary, as "
                        "sweep run --quiet")
    add_override_flags(p)


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


def run(args: argparse.Namespace) -> int:
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
    if args.experiment and args.out_folder:
        raise UsageError("--out is the earlier name of --experiment; give one of them")
    given = args.experiment or args.out_folder
    flag = "--out" if args.out_folder else "--experiment" if given else \
        "the default --experiment"
    out = Path(given) if given else default_run_dir()
    _check_out(out, flag)
    data = load_dataset(config.data.dataset, config.data.data_dir,
                        train_limit=config.data.train_limit,
                        split_seed=config.data.split_seed)
    limit = config.data.train_limit
    if limit is not None and limit > len(data.train_y):  # config.json would record it
        raise UsageError(f"--train-limit {limit}: the data has {len(data.train_y)} training "
                         "images (after the validation split); give at most that, or leave "
                         "it out")
    check_fits(config, data.n_features, data.n_classes, n_train=len(data.train_y),
               n_val=len(data.val_y), n_test=len(data.test_y))
    if not args.quiet:
        m, t = config.model, config.training
        print(f"data: {data.name} ({data.source}); "
              f"{len(data.train_y)} train, {len(data.val_y)} val, {len(data.test_y)} test")
        print(f"model: {data.n_features}-" + "-".join([str(m.hidden_size)] * m.hidden_layers)
              + f"-{data.n_classes}, dropout {m.dropout}, batch norm {m.batch_norm}; "
              f"SGD lr {t.lr} ({t.schedule}), momentum {t.momentum}, batch {t.batch_size}, "
              f"L2 {t.l2}, {plural(t.epochs, 'epoch')}, seed {t.seed}")

    try:
        with OutDir(out, flag) as folder:
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


def _check_out(out: Path, flag: str = "--experiment") -> None:
    if out.is_symlink() and not out.exists():
        raise UsageError(f"{flag} {out}: a symbolic link to nothing")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag} {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"{flag} {out}: directory exists and is not empty")
    inside = enclosing(out)
    if inside:  # a run would move it aside as an orphan, or read it as a trial's
        raise UsageError(f"{flag} {out}: inside {inside}; train elsewhere")
    above = next((p for p in out.absolute().parents if p.exists() or p.is_symlink()), None)
    if above is not None and not above.is_dir():  # said now, not after the data loads
        raise StudyError(f"{flag} {out}: {above} is a file where a folder goes: move it "
                         "away and run again")


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

    def __init__(self, out: Path, flag: str = "--experiment") -> None:
        self.out, self.flag = out, flag
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
            raise UsageError(f"{self.flag} {self.out}: another run is writing there") from None
        if any(self.out.iterdir()):  # filled between the check and the lock
            self._give_up()
            raise UsageError(f"{self.flag} {self.out}: directory exists and is not empty")
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
