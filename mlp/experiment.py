"""One experiment directory per run: config, history, metrics, checkpoints and plots.

    <dir>/config.json        the whole configuration, with seed, versions and BLAS threads
    <dir>/history.csv        one row per epoch, rewritten as each epoch ends: epoch, lr_end
                             (the rate of the epoch's last step: the schedule moves every
                             step), train_loss, train_acc, val_loss, val_acc, seconds
    <dir>/metrics.json       status, best epoch, validation and test figures, per-class report
    <dir>/checkpoints/       best.npz and last.npz
    <dir>/plots/             learning curves, confusion matrix, per-class F1, misclassified digits

`run_experiment` is the single function that the CLI, a sweep trial and a test call
to train once, and `load_experiment` the one that reads a trained directory back
(config, dataset, network). Every file is written atomically, so whatever kills a
run, each file on disk is whole.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import platform
import socket
import stat
import time
import traceback
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics as M
from .atomic import write_json, write_text
from .checkpoint import load_checkpoint, save_checkpoint
from .config import Config, ConfigError
from .dataset import Dataset
from .network import MLP, parameter_shapes
from .train import Diverged, EpochMetrics, OnEpoch, TrainResult, build_model, evaluate, train

HISTORY_COLUMNS = ["epoch", "lr_end", "train_loss", "train_acc", "val_loss", "val_acc",
                   "seconds"]
HISTORY_MAX_BYTES = 64 << 20  # a row is under 200 bytes: hundreds of thousands of epochs


@dataclass
class ExperimentResult:
    """What a run gave. Every field but ``out_dir`` and ``history`` is written to
    metrics.json under its own name (NaN as null), so code and file read alike."""

    out_dir: Path
    status: str  # completed, stopped, diverged, failed
    message: str = ""
    best_epoch: int = 0
    val_accuracy: float = float("nan")
    val_loss: float = float("nan")
    test_accuracy: float = float("nan")
    test_loss: float = float("nan")
    train_seconds: float = 0.0
    parameter_count: int = 0
    history: list[EpochMetrics] = field(default_factory=list)

    def to_metrics(self) -> dict[str, Any]:
        """metrics.json's leading keys: every field but ``out_dir`` and ``history``."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("out_dir", "history")}


def environment() -> dict[str, Any]:
    """What a reader needs to reproduce the run's numbers: versions and BLAS threads."""
    return {"versions": dict(_versions()), "blas": blas_info(), "host": socket.gethostname(),
            "platform": platform.platform(), "created": datetime.now(UTC).isoformat()}


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    # read once per process: package metadata lookups cost a short trial 30 ms
    from importlib.metadata import PackageNotFoundError, version

    versions = [("python", platform.python_version())]
    for pkg in ("numpy", "pandas", "seaborn", "matplotlib"):
        try:
            versions.append((pkg, version(pkg)))
        except PackageNotFoundError:
            pass
    return tuple(versions)


def blas_info() -> dict[str, Any]:
    from threadpoolctl import threadpool_info

    blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if not blas:
        return {"threads": None}
    # numpy's own BLAS does the training; scipy may bring another one into the process
    blas.sort(key=lambda p: "numpy" not in str(p.get("filepath", "")))
    return {"threads": int(blas[0]["num_threads"]), "library": blas[0].get("internal_api"),
            "kernel": blas[0].get("architecture"), "version": blas[0].get("version")}


def write_config(out_dir: Path, config: Config, extra: dict[str, Any] | None = None) -> Path:
    doc: dict[str, Any] = config.to_dict()
    doc["environment"] = environment()
    if extra:
        doc["environment"].update(extra)
    return write_json(out_dir / "config.json", doc)


CONFIG_MAX_BYTES = 1 << 20  # a config.json is about 1 KB; a file 1000 times that is not one


def read_config_file(path: str | os.PathLike, *, recorded: bool = False
                     ) -> tuple[Config, dict[str, Any]]:
    """The config and the environment block of a config.json written by a run or by hand.

    Any way the file can be unusable (missing, not a regular file, too large, not
    UTF-8, not JSON, nested too deeply for the parser, a bad value) is one
    `ConfigError` naming the file: the file comes from a user, not from this code.
    ``recorded``: the file is a run's record, read as `Config.from_record` does.
    """
    path = Path(path)
    raw = _read_json(path)
    environment = raw.pop("environment", {}) if isinstance(raw, dict) else {}
    try:
        config = Config.from_record(raw) if recorded else Config.from_dict(raw)
    except (ConfigError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config, environment if isinstance(environment, dict) else {}


def load_config(path: str | os.PathLike) -> Config:
    """Read a config.json (see `read_config_file`); its environment block is ignored."""
    return read_config_file(path)[0]


def read_json(path: str | os.PathLike, max_bytes: int = CONFIG_MAX_BYTES) -> Any:
    """Parse a small JSON file that this code wrote (config.json, metrics.json, a
    study's records), as if a user had: a FIFO or device is refused before it is
    opened, since reading one may block forever or never end, a file over
    ``max_bytes`` is refused, and any other way it is unusable is one `ConfigError`
    (a ValueError) naming the file."""
    return _read_json(Path(path), max_bytes)


def _read_json(path: Path, max_bytes: int = CONFIG_MAX_BYTES) -> Any:
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise ConfigError(f"{path}: not a regular file")
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise ConfigError(f"{path}: larger than {max_bytes} bytes, not one of ours")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a config: JSON nested too deeply to read") from None


def write_history(out_dir: Path, history: list[EpochMetrics]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for m in history:
        writer.writerow([repr(v) if isinstance(v, float) else v
                         for v in (getattr(m, c) for c in HISTORY_COLUMNS)])
    return write_text(out_dir / "history.csv", buf.getvalue())


def read_history(path: str | os.PathLike, trained: int | None = None
                 ) -> list[dict[str, float]]:
    """history.csv's epochs, as numbers. A damaged file (a row cut short by a killed
    write, text where a number goes, bytes that are not UTF-8 or CSV, a header without
    the columns a run writes) is a ValueError naming the file and the line;
    so is one that holds fewer or more epochs than ``trained``, the count metrics.json
    or a study recorded (lines lost whole, at a line's end, read as a shorter run)."""
    rows = _history_rows(path)
    if isinstance(trained, int) and len(rows) != trained:
        raise ValueError(f"{path}: {trained} epoch{'s' * (trained != 1)} trained, "
                         f"{len(rows)} recorded")
    return rows


def trained_epochs(out_dir: str | os.PathLike) -> int | None:
    """The epochs an experiment's metrics.json says it trained; None where it does not
    say (no file yet, or one that cannot be read: its readers say why)."""
    try:
        count = _read_json(Path(out_dir) / "metrics.json").get("epochs_trained")
    except (ValueError, AttributeError):
        return None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _history_rows(path: str | os.PathLike) -> list[dict[str, float]]:
    text = _history_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty, not a run's history")
        missing = [c for c in HISTORY_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}: not a run's history (no column {missing[0]!r})")
        return [_epoch_numbers(path, reader.line_num, header, row) for row in reader
                if row]  # a blank line, as csv.DictReader skips it
    except csv.Error:  # a field past the csv module's limit, a NUL, a quote left open
        raise ValueError(f"{path}: line {reader.line_num} is not CSV a run writes") from None


def _history_text(path: str | os.PathLike) -> str:
    with _regular_file(path) as f:
        data = f.read(HISTORY_MAX_BYTES + 1)
    if len(data) > HISTORY_MAX_BYTES:
        raise ValueError(f"{path}: larger than {HISTORY_MAX_BYTES} bytes, not a run's history")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{path}: line {line} is not UTF-8 text") from None


def _epoch_numbers(path: str | os.PathLike, line: int, header: list[str], row: list[str]
                   ) -> dict[str, float]:
    if len(row) < len(header):
        raise ValueError(f"{path}: line {line} is cut short")
    if len(row) > len(header):
        raise ValueError(f"{path}: line {line} has more fields than the header")
    try:
        return {k: (int(v) if k == "epoch" else float(v)) for k, v in zip(header, row, strict=True)}
    except ValueError:
        raise ValueError(f"{path}: line {line} is not an epoch's numbers") from None


def _regular_file(path: str | os.PathLike) -> io.BufferedReader:
    """``path`` opened for reading, if it is a regular file: a pipe put in its place
    would keep a reader waiting for ever, and a device never end; each is a ValueError
    naming it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a pipe's open waits for no writer
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"{path}: not a regular file")
    os.set_blocking(fd, True)
    return open(fd, "rb")


def run_experiment(config: Config, out_dir: str | os.PathLike, *, data: Dataset | None = None,
                   on_epoch: OnEpoch | None = None, plots: bool = True,
                   plot_stopped: bool = True,
                   extra: dict[str, Any] | None = None) -> ExperimentResult:
    """Train once and write the whole experiment directory.

    ``plot_stopped=False`` draws no figures for a run that ``on_epoch`` stopped (a
    sweep's pruned trial: nobody looks at those, and drawing costs more than a short
    run's training); `plot_experiment` draws them later from the directory.

    A diverged run is a result, not an error: its directory records the epoch and
    step where the loss stopped being finite. Any other exception is recorded in
    metrics.json (status "failed", with the traceback) and then raised.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_config(out, config, extra)
    data = _data_for(config, data)
    history: list[EpochMetrics] = []
    outside = [0.0]  # seconds spent in record: not training (as `train` counts it)

    def record(m: EpochMetrics) -> bool | None:
        asked = time.perf_counter()
        try:
            history.append(m)
            write_history(out, history)
            return on_epoch(m) if on_epoch is not None else None
        finally:
            outside[0] += time.perf_counter() - asked

    started = time.perf_counter()
    try:
        result = train(config, data, record)
    except Diverged as exc:
        res = ExperimentResult(out, "diverged", message=str(exc), history=history,
                               train_seconds=time.perf_counter() - started - outside[0],
                               **_known_so_far(config, data, history))
        write_history(out, history)
        write_json(out / "metrics.json", _metrics_doc(res, extra={
            "diverged": {"epoch": exc.epoch, "step": exc.step}}))
        return res
    except BaseException as exc:
        res = ExperimentResult(out, "failed", message=f"{type(exc).__name__}: {exc}",
                               history=history,
                               train_seconds=time.perf_counter() - started - outside[0],
                               **_known_so_far(config, data, history))
        write_json(out / "metrics.json", _metrics_doc(res, extra={
            "traceback": traceback.format_exc()}))
        raise
    return _finish(out, config, data, result,
                   plots and (plot_stopped or result.status == "completed"))


def _data_for(config: Config, data: Dataset | None) -> Dataset:
    """The run's data: loaded as the config says, or the dataset given, checked against
    the config's split and limited to its training images."""
    if data is None:
        from .data import load_dataset

        return load_dataset(config.data.dataset, config.data.data_dir,
                            train_limit=config.data.train_limit,
                            split_seed=config.data.split_seed)
    if data.split_seed != config.data.split_seed:
        raise ValueError(f"the dataset given was split with seed {data.split_seed}, the "
                         f"config asks for data.split_seed {config.data.split_seed}")
    if config.data.train_limit is not None:
        data = _limited(data, config.data.train_limit)
    return data


def _known_so_far(config: Config, data: Dataset, history: list[EpochMetrics]
                  ) -> dict[str, int]:
    """What a run that ended early still knows for sure: its network's size, and the
    best of the epochs it finished (0 if none; metrics.json said 0 for both, a network of
    no parameters)."""
    m = config.model
    sizes = [data.n_features, *[m.hidden_size] * m.hidden_layers, data.n_classes]
    count = sum(math.prod(shape) for shape in parameter_shapes(sizes, m.batch_norm).values())
    finite = [e for e in history if math.isfinite(e.val_acc)]
    best = max(finite, key=lambda e: e.val_acc).epoch if finite else 0
    return {"parameter_count": count, "best_epoch": best}


def _finish(out: Path, config: Config, data: Dataset, result: TrainResult,
            plots: bool) -> ExperimentResult:
    save_checkpoint(out / "checkpoints" / "best.npz", result.best_state)
    save_checkpoint(out / "checkpoints" / "last.npz", result.last_state)
    best = result.history[result.best_epoch - 1]
    test_y = data.test_y.astype(np.intp)
    test_loss, test_acc, probs = evaluate(result.model, data.test_x, test_y,
                                          config.training.eval_batch_size)
    pred = probs.argmax(axis=1)
    cm = M.confusion_matrix(test_y, pred, data.n_classes)
    report = M.classification_report(cm, list(data.classes))
    res = ExperimentResult(out, result.status, best_epoch=result.best_epoch,
                           val_accuracy=best.val_acc, val_loss=best.val_loss,
                           test_accuracy=test_acc, test_loss=test_loss,
                           train_seconds=result.seconds,
                           parameter_count=result.model.parameter_count(),
                           history=result.history)
    write_json(out / "metrics.json", _metrics_doc(res, extra={
        "epochs_trained": len(result.history),
        "classes": list(data.classes),
        "per_class": report,
        "confusion_matrix": cm.tolist(),
        "most_confused": M.most_confused(cm, list(data.classes), k=10),
        "dataset": {"name": data.name, "source": data.source,
                    "train": int(data.train_x.shape[0]), "val": int(data.val_x.shape[0]),
                    "test": int(data.test_x.shape[0])},
    }))
    if plots:
        _draw(out, data, result.history, result.best_epoch, cm, report, probs, pred)
    return res


def _metrics_doc(res: ExperimentResult, extra: dict[str, Any]) -> dict[str, Any]:
    doc = res.to_metrics()
    doc.update(extra)
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in doc.items()}


def _draw(out: Path, data: Dataset, history: list[EpochMetrics], best_epoch: int,
          cm: np.ndarray, report: dict, probs: np.ndarray, pred: np.ndarray) -> Path:
    import pandas as pd

    from . import plots as P

    d = out / "plots"
    classes = list(data.classes)
    frame = pd.DataFrame([m.to_dict() for m in history])
    P.learning_curves(frame, d / "learning_curves.png", best_epoch=best_epoch)
    P.confusion_heatmap(cm, classes, d / "confusion_matrix.png")
    P.per_class_f1(report, d / "per_class_f1.png")
    wrong = np.flatnonzero(pred != data.test_y)[:36]
    P.misclassified_grid(np.asarray(data.test_x[wrong]), data.test_y[wrong], pred[wrong],
                         classes, d / "misclassified.png", probs=probs[wrong])
    return d


def plot_experiment(exp_dir: str | os.PathLike, data: Dataset | None = None) -> Path:
    """Draw a trained experiment's figures from its directory (its history and best
    checkpoint), as the run would have; returns the plots folder. For runs trained
    without figures, e.g. a sweep's pruned trials."""
    folder = Path(exp_dir)
    metrics = folder / "metrics.json"
    if metrics.is_file() and _status(metrics) == "diverged":
        raise ConfigError(f"{folder}: the run diverged; it has no checkpoint to plot")
    exp = load_experiment(exp_dir, data)
    history = _recorded_history(exp.dir / "history.csv", trained_epochs(exp.dir))
    best_epoch = max(history, key=lambda m: m.val_acc).epoch
    test_y = exp.data.test_y.astype(np.intp)
    _, _, probs = evaluate(exp.model, exp.data.test_x, test_y,
                           exp.config.training.eval_batch_size)
    pred = probs.argmax(axis=1)
    cm = M.confusion_matrix(test_y, pred, exp.data.n_classes)
    report = M.classification_report(cm, list(exp.data.classes))
    return _draw(exp.dir, exp.data, history, best_epoch, cm, report, probs, pred)


def read_result(out_dir: str | os.PathLike) -> ExperimentResult | None:
    """The result a finished run wrote (metrics.json and history.csv), as
    `run_experiment` returned it; None where no finished run is on record (no
    metrics.json yet, one of a failed run, or files that cannot be read). It lets a
    caller interrupted after the run wrote its result keep the result."""
    out = Path(out_dir)
    try:
        doc = read_json(out / "metrics.json")
        history = [EpochMetrics(**{k: row[k] for k in HISTORY_COLUMNS})
                   for row in read_history(out / "history.csv", doc.get("epochs_trained"))]
        result = ExperimentResult(out, **{f.name: doc[f.name] for f in fields(ExperimentResult)
                                          if f.name not in ("out_dir", "history")})
    except (ValueError, OSError, AttributeError, KeyError, TypeError):
        return None  # ConfigError is a ValueError
    if result.status == "failed":
        return None
    result.history = history
    for name in ("val_accuracy", "val_loss", "test_accuracy", "test_loss"):
        if getattr(result, name) is None:  # written as null where not finite
            setattr(result, name, float("nan"))
    return result


def _status(metrics: Path) -> Any:
    try:
        doc = read_json(metrics)
    except ConfigError:
        return None
    return doc.get("status") if isinstance(doc, dict) else None


def _recorded_history(path: Path, trained: int | None) -> list[EpochMetrics]:
    """history.csv read as a user's file would be: anything unusable is one
    `ConfigError` naming it (a FIFO is refused before it is opened)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{path}: not a regular file")
    try:
        history = [EpochMetrics(**{k: row[k] for k in HISTORY_COLUMNS})
                   for row in read_history(path, trained)]
    except ValueError as exc:  # read_history's own words name the file and the line
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not history:
        raise ConfigError(f"{path}: no epoch recorded, nothing to plot")
    return history


def _limited(data: Dataset, limit: int) -> Dataset:
    from dataclasses import replace

    return replace(data, train_x=data.train_x[:limit], train_y=data.train_y[:limit])


@dataclass(frozen=True)
class LoadedExperiment:
    """A trained experiment directory, read back: what ``predict``, the report and the
    notebook need to run its network on the test set."""

    dir: Path
    config: Config
    environment: dict[str, Any]  # config.json's environment block (versions, BLAS threads)
    data: Dataset
    model: MLP  # with the checkpoint's weights


def load_experiment(exp_dir: str | os.PathLike, data: Dataset | None = None, *,
                    data_dir: str | os.PathLike | None = None, which: str = "best",
                    progress: bool | None = None) -> LoadedExperiment:
    """Read config.json once, load the run's dataset, build the network, load a checkpoint.

    ``data`` skips loading the dataset (a caller that already has it); ``data_dir``
    overrides the directory the config names; ``which`` is "best" or "last". Raises
    `ConfigError`, `DataError` or `CheckpointError` naming the file at fault.
    """
    exp = Path(exp_dir)
    config, environment = read_config_file(exp / "config.json")
    if data is None:
        from .data import load_dataset

        data = load_dataset(config.data.dataset, data_dir or config.data.data_dir,
                            progress=progress, split_seed=config.data.split_seed)
    model = load_checkpoint(exp / "checkpoints" / f"{which}.npz", build_model(config, data))
    return LoadedExperiment(exp, config, environment, data, model)
