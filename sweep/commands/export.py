"""``sweep export --mlflow [TRACKING_URI]``: a study's trials as MLflow runs.

Each finished trial becomes one run of an MLflow experiment named after the study: run
name ``trial N``; its sampled settings as params; its state, reason, seed, classic and
retry links as tags; its epochs (history.csv) as metrics at ``step=epoch``
(``val_accuracy``, ``val_loss``, ``train_accuracy``, ``train_loss``, ``lr``); the
objective (``best_val_accuracy``) and ``test_accuracy`` for completed trials only (the
test set chooses nothing, and a trial that did not complete has no test accuracy); its
figures (``plots/``), config.json, metrics.json and history.csv as artifacts.

Exporting again adds only what is new: each run carries a tag naming its study, trial
number and start (``sweep.key``), searched for before a run is made; a run whose export
was cut short (no ``sweep.complete`` tag) is deleted and made again; the tags of runs
already there are brought up to date. Trials still running or waiting are left for a
later export. MLflow is an optional extra (``pip install -e '.[mlflow]'``); only its
public client API is used.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from mlp.experiment import read_history

from ..errors import StudyError, UsageError, os_error_text
from ..study.paths import enclosing
from ..study.records import TrialOutcome
from ..study.results import StudyResults
from ..study.storage import hide_secret, mask_url
from ..study.waiting import take_flock
from .common import add_study_args, open_results

if TYPE_CHECKING:
    from mlflow import MlflowClient

DESCRIPTION = (
    "Write a study's finished trials to MLflow, one run per trial in an experiment named "
    "after the study: its settings as params, its state and retry links as tags, its "
    "epochs as metrics, its figures and records as artifacts. Running it again updates "
    "what is there instead of adding runs. MLflow is an optional extra: pip install -e "
    "'.[mlflow]'.")

# history.csv column -> MLflow metric name, logged at step = epoch
EPOCH_METRICS = {"val_acc": "val_accuracy", "val_loss": "val_loss",
                 "train_acc": "train_accuracy", "train_loss": "train_loss", "lr_end": "lr"}
# files of a trial's directory logged as artifacts (plots/ as a folder of its own)
FILES = ("config.json", "metrics.json", "history.csv")
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED"}
KEY_TAG, COMPLETE_TAG = "sweep.key", "sweep.complete"
MAX_TAG = 5000  # characters of a tag value kept (MLflow's limit is 8000)
BATCH = 1000  # metrics per log_batch call (MLflow's limit); params and tags: 100
INSTALL = "pip install -e '.[mlflow]'"
SERVER_CHECK_SECONDS = 5.0  # a tracking server that has not answered by then is named


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    to = p.add_mutually_exclusive_group(required=True)
    # bare, it is True: MLflow's default store; an empty value is refused (cli.NOT_EMPTY)
    to.add_argument("--mlflow", nargs="?", const=True, default=None, metavar="TRACKING_URI",
                    help="export to MLflow: a tracking URI (sqlite:///mlflow.db, "
                         "http://host:5000, ...); without one, MLflow's own default "
                         "(MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")


def run(args: argparse.Namespace) -> int:
    mlflow = _import_mlflow()
    # the store MLflow will open: the one named, else its own default from the environment
    given = args.mlflow if isinstance(args.mlflow, str) else None
    uri = given or os.environ.get("MLFLOW_TRACKING_URI", "").strip() or None
    named = (f"--mlflow {mask_url(given)}" if given else
             f"MLFLOW_TRACKING_URI={mask_url(uri)}" if uri else "--mlflow")
    here = enclosing(Path.cwd())
    if here and urlparse(uri or "").scheme not in ("http", "https", "databricks"):
        # MLflow's default store, and a local store's artifacts (./mlruns), go into the
        # working folder
        raise UsageError(f"{named}: MLflow writes its local store and artifacts into the "
                         f"working folder, here inside {here}; run it from elsewhere")
    if uri is not None:
        _check_target(uri, named)
    results = open_results(args)  # StudyError if missing
    if uri is not None:
        _check_database(uri, named)
        _check_server(uri, named)
    from sqlalchemy.exc import SQLAlchemyError

    with _quiet(), _one_export_at_a_time(uri, named):
        try:
            client = mlflow.MlflowClient(tracking_uri=uri)  # opens a local store
        except mlflow.exceptions.MlflowException as exc:
            raise UsageError(f"{named}: {_one_line(exc, uri)}") from None
        except SQLAlchemyError as exc:  # a store's database refusing this user its tables
            raise StudyError(f"{named}: {_one_line(exc, uri)}") from None
        shown = mask_url(client.tracking_uri) or client.tracking_uri
        try:
            done = export_study(client, results)
        except (mlflow.exceptions.MlflowException, SQLAlchemyError) as exc:
            raise StudyError(f"{named}: {_one_line(exc, uri)}") from None
        except OSError as exc:  # the runs' artifacts (a full disk): MLflow names no file
            raise StudyError(f"{named}: cannot write the runs' artifacts in "
                             f"{_artifact_root(client, results.name)} "
                             f"({exc.strerror or exc})") from None
    print(f"study {results.name!r}: {done.summary()} to MLflow experiment {results.name!r} "
          f"(id {done.experiment_id}) at {shown}; artifacts in {done.artifact_location}")
    return 0


def _one_line(exc: Exception, uri: str | None) -> str:
    """MLflow's message in one line, without the URI's password should it quote it; a
    database's error in the database's own words (not SQLAlchemy's wrapping of it)."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..study.database import reason_of

    text = reason_of(exc) if isinstance(exc, SQLAlchemyError) else \
        " ".join(str(getattr(exc, "message", exc)).split())
    if uri:
        text = hide_secret(text.replace(uri, mask_url(uri)), uri)
    return text


def _import_mlflow() -> Any:
    # a tracking server that does not answer: an error within about half a minute, not
    # MLflow's default retries of several minutes (its own settings, where set, stand)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    try:
        import mlflow
        import mlflow.exceptions  # noqa: F401  (a submodule the error path needs)
    except ImportError:
        raise UsageError(f"--mlflow needs MLflow, an optional extra: {INSTALL}") from None
    return mlflow


@contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's INFO lines (creating its tables, migrating them) are not ours to print."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _local_store(uri: str | None) -> Path | None:
    """The file or folder of a tracking store on this machine (MLflow's default, with no
    URI, is mlflow.db here); None for a server, a remote database or memory."""
    parsed = urlparse(uri if uri is not None else "sqlite:///mlflow.db")
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)[1:]  # sqlite:///relative.db, sqlite:////absolute.db
    elif parsed.scheme in ("", "file") and not parsed.netloc:
        path = unquote(parsed.path)
    else:
        return None
    return Path(path).resolve() if path and path != ":memory:" else None


@contextmanager
def _one_export_at_a_time(uri: str | None, named: str) -> Iterator[None]:
    """Within the block, no other export writes into the same local store: two at once
    raced MLflow's making of a new store's tables (one died with "table runs already
    exists") and each other's runs. A lock on the store's folder (no file is left); a
    wait for it is said and bounded. A store this export made is removed if the export
    fails: no empty or half-made store is left (a full disk left an empty database)."""
    store = _local_store(uri)
    if store is None:
        yield
        return
    folder = store.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)  # MLflow would make it too
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise StudyError(f"{named}: {os_error_text(exc)}") from None
    try:
        take_flock(fd, folder, f"another export into the MLflow store {store}")
        new = [p for p in (store, store.with_name(f"{store.name}-journal"))
               if not os.path.lexists(p)]
        artifacts = Path.cwd() / "mlruns"  # MLflow's artifacts for a local database store
        before = _entries(artifacts) if store in new else None
        try:
            yield
        except BaseException:
            if before is not None:  # the runs of a store that is gone: no store has them
                new += sorted(_entries(artifacts) - before, key=lambda p: len(p.parts))
            _remove(new)
            raise
    finally:
        os.close(fd)  # the lock goes with it


def _entries(folder: Path) -> set[Path]:
    """``folder`` (if there) and what it holds two levels down: MLflow's artifact
    folders, <experiment id>/<run id>."""
    if not folder.is_dir():
        return set()
    found = {folder}
    with suppress(OSError):
        for child in folder.iterdir():
            found.add(child)
            if child.is_dir() and not child.is_symlink():
                found.update(child.iterdir())
    return found


def _remove(paths: list[Path]) -> None:
    """What a failed export made, gone (best effort: it is already failing)."""
    for path in paths:
        with suppress(OSError):  # gone already when a folder above it was
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def _check_target(uri: str, named: str) -> None:
    """A tracking URI of a kind MLflow knows; a local tracking store never lands in a
    study folder, nor in a study's SQLite storage (MLflow would add its tables to
    Optuna's database)."""
    _check_scheme(uri, named)
    target = _local_store(uri)
    if target is None:
        return  # a server or a remote database: not this machine's files
    parsed = urlparse(uri)
    inside = enclosing(target)
    if inside:
        raise UsageError(f"{named}: inside {inside}; keep the MLflow store elsewhere")
    if parsed.scheme == "sqlite" and target.is_file() and _is_optuna_database(target):
        raise UsageError(f"{named}: that file holds an Optuna study's storage; name "
                         "another database")
    _check_writable(target, named)


def _check_writable(target: Path, named: str) -> None:
    """A local store this process may write, and the folder it is in (SQLite writes its
    journal beside the database): else MLflow's tracebacks on a read-only file, or its
    silent retries for minutes on a folder where no file can be made."""
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # MLflow makes the folders missing under it
    for place in ([target] if target.exists() else []) + [folder]:
        if not os.access(place, os.W_OK):
            read_only = os.statvfs(place).f_flag & os.ST_RDONLY
            raise StudyError(f"{named}: cannot write {place} ("
                             f"{'read-only file system' if read_only else 'permission denied'})")


def _check_scheme(uri: str, named: str) -> None:
    """MLflow's words for a scheme it knows no store of are about its model registry,
    with a link: named here as what it is. Its list of schemes (plugins' too) is its
    tracking store registry, read where this MLflow has it."""
    try:
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry
        known = set(_tracking_store_registry._registry)  # noqa: SLF001
    except (ImportError, AttributeError):  # another MLflow: it names the fault itself
        return
    scheme = urlparse(uri).scheme.split("+")[0]
    if known and scheme not in known:
        raise UsageError(f"{named}: MLflow has no tracking store for {scheme}:// (give "
                         "sqlite:///FILE, a folder, http://HOST:PORT or a database URL)")


def _check_database(uri: str, named: str) -> None:
    """A tracking store in a database server is opened here first, within seconds: one
    that cannot be opened is one line (not MLflow's minutes of retries and a traceback),
    and one that holds Optuna's tables (a study's own storage) is refused before MLflow
    adds its tables to it."""
    scheme = urlparse(uri).scheme.split("+")[0]
    if scheme not in ("postgresql", "postgres", "mysql", "mssql"):
        return
    from sqlalchemy import create_engine, inspect

    engine = None
    try:
        engine = create_engine(uri, connect_args={"connect_timeout": 10})
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
    except Exception as exc:  # noqa: BLE001 (any driver's error: one line, masked)
        message = _one_line(exc, uri).split(" (Background on this error")[0]
        raise StudyError(f"{named}: cannot open it ({message})") from None
    finally:
        if engine is not None:
            engine.dispose()
    if {"studies", "version_info"} <= tables:
        raise UsageError(f"{named}: that database holds Optuna studies' storage; name "
                         "another database for MLflow")


def _check_server(uri: str, named: str) -> None:
    """A tracking server is asked for its health first, for `SERVER_CHECK_SECONDS`: one
    that does not answer (a wrong port, a server that accepts and never speaks) is one
    line within seconds, not half a minute of silence in MLflow's retries. Any HTTP
    answer will do; what the server then says is MLflow's to report."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return
    import http.client

    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    kind = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
    connection = kind(host, port, timeout=SERVER_CHECK_SECONDS)
    try:
        connection.request("GET", parsed.path.rstrip("/") + "/health")
        connection.getresponse().read(1024)
    except TimeoutError:
        raise StudyError(f"{named}: no answer within {SERVER_CHECK_SECONDS:.0f}s; is an "
                         "MLflow tracking server listening there?") from None
    except (OSError, http.client.HTTPException) as exc:
        reason = (exc.strerror if isinstance(exc, OSError) and exc.strerror else
                  _one_line(exc, uri) or type(exc).__name__)
        raise StudyError(f"{named}: cannot reach it ({reason}); is an MLflow tracking "
                         "server listening there?") from None
    finally:
        connection.close()


def _is_optuna_database(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            if not f.read(16).startswith(b"SQLite format 3"):
                return False
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except (OSError, sqlite3.Error):
        return False
    return {"studies", "trials", "version_info"} <= tables


class Exported:
    """What one export did."""

    def __init__(self, experiment_id: str, artifact_location: str) -> None:
        self.experiment_id, self.artifact_location = experiment_id, artifact_location
        self.new: list[int] = []
        self.redone: list[int] = []
        self.kept: list[int] = []
        self.later: list[int] = []  # running or waiting: for a later export
        self.without_files: list[int] = []  # trained on a machine whose folders are not here
        self.retried: set[int] = set()  # lost to a fault and retried: not finished (Counts)
        self.damaged: dict[int, str] = {}  # exported without epochs: what is wrong with them

    def summary(self) -> str:
        exported = [*self.new, *self.redone, *self.kept]
        lost = sum(n in self.retried for n in exported)
        n = len(exported) - lost
        also = f" and {lost} lost and retried" if lost else ""
        parts = [f"{n} finished trial{'' if n == 1 else 's'}{also} exported "
                 f"({len(self.new) + len(self.redone)} new, {len(self.kept)} already there)"]
        if self.later:
            parts.append(f"{len(self.later)} running or waiting left for a later export")
        if self.without_files:
            parts.append(f"{len(self.without_files)} without their files (not on this "
                         "machine)")
        if self.damaged:
            which = ", ".join(f"trial {n}: {why}" for n, why in sorted(self.damaged.items()))
            parts.append(f"{len(self.damaged)} without their epochs' metrics, their "
                         f"history.csv damaged ({which}; the next export adds them once "
                         "it is mended)")
        return "; ".join(parts)


def export_study(client: MlflowClient, results: StudyResults) -> Exported:
    """Every finished trial of ``results`` as a run of the experiment named after the
    study, made once (see the module's docstring)."""
    experiment = _experiment(client, results)
    done = Exported(experiment.experiment_id, experiment.artifact_location)
    there = _runs_by_key(client, experiment.experiment_id, results.name)
    for o in results.outcomes:
        if o.state not in RUN_STATUS:
            done.later.append(o.number)
            continue
        if o.state == "FAIL" and o.retried_as is not None:
            done.retried.add(o.number)
        run = there.get(trial_key(results.name, o))
        if run is not None and run.data.tags.get(COMPLETE_TAG) == "true":
            _log(client, run.info.run_id, tags=_tags(results.name, o))  # links may be new
            done.kept.append(o.number)
            continue
        if run is not None:  # cut short by an earlier export: made again, whole
            client.delete_run(run.info.run_id)
        folder = results.trial_dir(o.number)
        if not folder.is_dir():
            done.without_files.append(o.number)
        damage = _export_trial(client, experiment.experiment_id, results.name, o, folder)
        if damage and folder.is_dir():
            done.damaged[o.number] = damage
        (done.redone if run is not None else done.new).append(o.number)
    done.later.extend(_waiting(results))
    return done


def trial_key(study: str, o: TrialOutcome) -> str:
    """What names a trial across exports: its study, number and start (a study deleted
    and made again under the same name has other trials)."""
    start = o.datetime_start.isoformat() if o.datetime_start else "-"
    return f"{study}/{o.number}/{start}"


def _artifact_root(client: MlflowClient, name: str) -> str:
    """Where MLflow puts the experiment's artifacts, as a path where it is one."""
    try:
        location = client.get_experiment_by_name(name).artifact_location
    except Exception:  # noqa: BLE001  (already failing: the default is named instead)
        return str(Path.cwd() / "mlruns")
    parsed = urlparse(location)
    return unquote(parsed.path) if parsed.scheme in ("", "file") else location


def _experiment(client: MlflowClient, results: StudyResults) -> Any:
    from mlflow.exceptions import MlflowException

    name = results.name
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        settings = results.settings
        tags = {"sweep.study": name, "sweep.sampler": settings.sampler,
                "sweep.pruner": settings.pruner, "sweep.seed": str(settings.seed),
                "sweep.epochs": str(settings.config.training.epochs),
                "sweep.space": json.dumps(settings.space.to_dict())[:MAX_TAG]}
        try:
            client.create_experiment(name, tags=tags)
        except MlflowException:  # made meanwhile by another export
            pass
        experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise StudyError(f"MLflow experiment {name!r} could not be made")
    if experiment.lifecycle_stage != "active":
        raise StudyError(f"MLflow experiment {name!r} is deleted; restore it (mlflow "
                         "experiments restore) or remove it for good, then export again")
    return experiment


def _runs_by_key(client: MlflowClient, experiment_id: str, study: str) -> dict[str, Any]:
    """The experiment's runs of this study (active ones), by their `trial_key` tag."""
    runs: dict[str, Any] = {}
    token = None
    while True:  # study names are letters, digits, '.', '_' and '-': safe in a filter
        page = client.search_runs([experiment_id], filter_string=f"tags.`sweep.study` = "
                                  f"'{study}'", max_results=1000, page_token=token)
        for run in page:
            key = run.data.tags.get(KEY_TAG)
            if key is not None:
                runs.setdefault(key, run)
        token = page.token
        if not token:
            return runs


def _waiting(results: StudyResults) -> list[int]:
    return [t.number for t in results.all_trials if t.state.name == "WAITING"]


def _tags(study: str, o: TrialOutcome) -> dict[str, str]:
    tags = {"sweep.study": study, "sweep.trial": str(o.number), KEY_TAG: trial_key(study, o),
            "state": o.state, "classic": str(o.classic).lower(),
            "diverged": str(o.diverged).lower(), "lost": str(o.lost).lower()}
    for name in ("reason", "seed", "retry_of", "retried_as", "host"):
        value = getattr(o, name)
        if value is not None and value != "":
            tags[name] = str(value)[:MAX_TAG]
    return tags


def _export_trial(client: MlflowClient, experiment_id: str, study: str, o: TrialOutcome,
                  folder: Path) -> str:
    """Trial ``o`` as a new run; what is wrong with its history.csv ("" if nothing)."""
    from mlflow.entities import Metric

    start = _millis(o.datetime_start)
    run = client.create_run(experiment_id, start_time=start, run_name=f"trial {o.number}",
                            tags=_tags(study, o))
    run_id = run.info.run_id
    epochs, damage = _epochs(folder / "history.csv", start or 0, o.epochs_trained)
    metrics = [Metric(name, value, stamp, step) for step, stamp, name, value in epochs]
    last = _millis(o.datetime_complete) or start or 0
    if o.state == "COMPLETE":  # the test set is reported for completed trials only
        final = {"best_val_accuracy": o.value, "test_accuracy": o.test_accuracy}
    else:
        final = {}
    final |= {"epochs_trained": o.epochs_trained, "train_seconds": o.train_seconds,
              "parameter_count": o.parameter_count}
    metrics += [Metric(name, float(value), last, 0) for name, value in final.items()
                if value is not None]
    _log(client, run_id, metrics=metrics,
         params={name: _text(value) for name, value in o.params.items()})
    for name in FILES:
        if (folder / name).is_file():
            client.log_artifact(run_id, str(folder / name))
    plots = folder / "plots"
    if plots.is_dir() and any(p.is_file() for p in plots.iterdir()):
        client.log_artifacts(run_id, str(plots), "plots")
    if not damage:  # else made again by the next export, from a history mended by then
        client.set_tag(run_id, COMPLETE_TAG, "true")  # last: the run is whole
    client.set_terminated(run_id, RUN_STATUS[o.state], end_time=last or None)
    return damage


def _epochs(history: Path, start: int, trained: int | None
            ) -> tuple[list[tuple[int, int, str, float]], str]:
    """(step, timestamp, metric, value) of every epoch of a history.csv, the timestamp
    the trial's start plus the epochs' seconds so far; and what is wrong with the file
    ("" if nothing; its absence is wrong only for a trial that trained epochs)."""
    try:
        rows = read_history(history, trained)
    except FileNotFoundError:
        return [], "missing" if trained else ""
    except ValueError as exc:
        return [], str(exc).removeprefix(f"{history}: ")
    except OSError as exc:
        return [], f"unreadable ({os_error_text(exc)})"
    found, elapsed = [], 0.0
    for row in rows:
        elapsed += row.get("seconds", 0.0)
        stamp = start + int(elapsed * 1000)
        found += [(int(row["epoch"]), stamp, name, row[column])
                  for column, name in EPOCH_METRICS.items() if column in row]
    return found, ""


def _log(client: MlflowClient, run_id: str, metrics: Sequence[Any] = (),
         params: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> None:
    """``log_batch`` in pieces MLflow takes: 1000 metrics, 100 params, 100 tags a call."""
    from mlflow.entities import Param, RunTag

    params_list = [Param(k, v) for k, v in (params or {}).items()]
    tags_list = [RunTag(k, v) for k, v in (tags or {}).items()]
    for i in range(0, len(metrics), BATCH):
        client.log_batch(run_id, metrics=list(metrics[i:i + BATCH]))
    for i in range(0, len(params_list), 100):
        client.log_batch(run_id, params=params_list[i:i + 100])
    for i in range(0, len(tags_list), 100):
        client.log_batch(run_id, tags=tags_list[i:i + 100])


def _millis(when: Any) -> int | None:
    return int(when.timestamp() * 1000) if when is not None else None


def _text(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return str(value)
