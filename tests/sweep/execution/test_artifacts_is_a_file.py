"""A file where the study's artifacts folder goes.

Before: ``sweep run`` on such a study exited 0 and said nothing on the terminal, while
every trial wrote "artifacts not uploaded: FileExistsError: [Errno 17] File exists:
'.../artifacts'" into workers.log (the figures and checkpoints never became artifacts);
``sweep plots --trial 5`` ended in ``sweep plots: error: [Errno 17] File exists:
'.../artifacts'``. A file where ``trials`` or ``report`` go is refused in words before
any trial is trained."""

from __future__ import annotations

import pytest

from tests.sweep.conftest import one_clear_line

pytestmark = pytest.mark.slow


@pytest.fixture
def study(tiny_run, tmp_path):
    assert tiny_run("f", 1).returncode == 0
    root = tmp_path / "studies" / "f"
    for path in sorted((root / "artifacts").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (root / "artifacts").rmdir()
    (root / "artifacts").write_text("a user's file")
    return root


def test_plots_names_the_artifacts_file_in_words(study, sweep_cli, tmp_path):
    proc = sweep_cli("plots", "--trial", 0, "--studies-dir", study.parent, "--study", "f",
                     cwd=tmp_path)
    one_clear_line(proc, str(study / "artifacts"))
    assert (study / "artifacts").read_text() == "a user's file"


def test_run_does_not_train_into_an_artifacts_file_in_silence(study, tiny_run):
    proc = tiny_run("f", 2)
    one_clear_line(proc, str(study / "artifacts"))
    assert (study / "artifacts").read_text() == "a user's file"
