"""A trial's figures and best checkpoint as Optuna artifacts, so optuna-dashboard shows them.

The artifact store is a folder of the study, ``studies/<study>/artifacts/`` (Optuna's
file-system store: one file per artifact, named by its id); the storage holds which
artifacts belong to which trial, as Optuna's own ``upload_artifact`` records them.
A worker uploads when its trial has trained, before it tells the storage the result,
because Optuna accepts a trial's attributes only while the trial is running.

Files land whole (a temporary name, then a rename) and, where the file system allows,
as hard links to the trial's own files rather than copies: a checkpoint is then not
stored twice. An upload that fails (a full disk) is noted in the worker's log and
costs the trial nothing: its experiment directory has every file anyway.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

ARTIFACTS_FOLDER = "artifacts"
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
