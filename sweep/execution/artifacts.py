"""A trial's figures and best checkpoint as Optuna artifacts, so optuna-dashboard shows them.

The artifact store is a folder of the study, ``studies/<study>/artifacts/`` (Optuna's
file-system store: one file per artifact, named by its id); the storage holds which
artifacts belong to which trial, as Optuna's own ``upload_artifact`` records them.
A worker uploads when its trial has trained, before it tells the storage the result,
because Optuna accepts a trial's attributes only while the trial is running.

A trial that has finished cannot take artifacts any more: Optuna records an artifact
as a system attribute of its trial, and Optuna 5.1 refuses to change a finished trial
(a database storage raises UpdateFinishedTrialError before writing; a journal appends
the record, then refuses it when replaying, and the line stays in the journal as
dead weight). So the figures ``sweep plots --trial N`` draws later are uploaded as
artifacts of the study, named ``trial-NNNN-<file>`` (`upload_later`): optuna-dashboard
lists them on the study's page, and ``optuna.artifacts.get_all_artifact_meta(study)``
returns them. A figure already there with the same name and bytes is not uploaded
again.

Files land whole (a temporary name, then a rename) and, where the file system allows,
as hard links to the trial's own files rather than copies: a checkpoint is then not
stored twice. An upload that fails (a full disk) is noted in the worker's log and
costs the trial nothing: its experiment directory has every file anyway.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO

import optuna
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta, upload_artifact

from ..study.paths import ARTIFACTS_FOLDER

FIGURES = "plots/*.png"
CHECKPOINT = "checkpoints/best.npz"


class StudyArtifactStore(FileSystemArtifactStore):
    """Optuna's file-system store, writing each artifact whole (or as a hard link)."""

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        target = self._get_filepath(artifact_id)
        source = getattr(content_body, "name", None)
        if isinstance(source, str) and os.path.isfile(source):
            try:
                os.link(source, target)
                return
            except OSError:
                pass  # another file system, or links not allowed: copy instead
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{artifact_id}.")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(content_body, out)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def artifact_store(study_root: Path) -> StudyArtifactStore:
    folder = study_root / ARTIFACTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return StudyArtifactStore(folder)


def trial_files(trial_dir: Path) -> list[Path]:
    """What a trial shows in the dashboard: its figures, then its best checkpoint."""
    found = sorted(trial_dir.glob(FIGURES))
    if (trial_dir / CHECKPOINT).is_file():
        found.append(trial_dir / CHECKPOINT)
    return found


def upload_trial_files(trial: optuna.Trial, study_root: Path, trial_dir: Path) -> list[str]:
    """Upload the trial's figures and best checkpoint; their artifact ids."""
    ids = []
    try:
        store = artifact_store(study_root)
        for path in trial_files(trial_dir):
            ids.append(upload_artifact(artifact_store=store, file_path=str(path),
                                       study_or_trial=trial))
    except Exception as exc:  # noqa: BLE001  (the trial's result matters more than its copies)
        print(f"trial {trial.number}: artifacts not uploaded: {type(exc).__name__}: {exc}",
              file=sys.stderr)
    return ids


def later_name(number: int, path: Path) -> str:
    """The name of a finished trial's file uploaded to the study: trial-0007-<file>."""
    return f"trial-{number:04d}-{path.name}"


def upload_later(study: optuna.Study, trial: optuna.trial.FrozenTrial, study_root: Path,
                 files: list[Path]) -> list[str]:
    """Upload a finished trial's ``files`` as artifacts of the study, named
    `later_name`; the ids of those uploaded. A file already uploaded with the same
    bytes, by the run (to the trial, under its own name) or by an earlier call, is
    skipped. Unlike `upload_trial_files`, a failure is the caller's: the user asked
    for this upload."""
    store = artifact_store(study_root)
    there = [(meta.filename, meta.artifact_id) for meta in get_all_artifact_meta(study)]
    there += [(later_name(trial.number, Path(meta.filename)), meta.artifact_id)
              for meta in get_all_artifact_meta(trial, storage=study._storage)]
    ids = []
    for path in files:
        name = later_name(trial.number, path)
        if any(old == name and _same(store, artifact_id, path) for old, artifact_id in there):
            continue
        # the store names the file by its id; the upload records the name it was given
        with tempfile.TemporaryDirectory(prefix="sweep-upload-") as scratch:
            named = Path(scratch) / name
            try:
                os.link(path, named)
            except OSError:
                shutil.copyfile(path, named)
            ids.append(upload_artifact(artifact_store=store, file_path=str(named),
                                       study_or_trial=study))
    return ids


def _same(store: StudyArtifactStore, artifact_id: str, path: Path) -> bool:
    stored = store._get_filepath(artifact_id)  # Optuna's own path of an artifact's file
    try:
        return filecmp.cmp(stored, path, shallow=False)
    except OSError:
        return False
