"""A command that writes where the user (or its default) says never writes into a study
folder or an experiment directory: the compare page's default folder may be a study
named compare-A-vs-B, predict's --out may name a trial's own figure, and --studies-dir
may name a study's folder. Each is refused in one line naming the option, with nothing
written (found by the twelfth hostile pass)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.sweep.studies import finished_study


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_the_compare_page_never_lands_in_a_study_named_as_its_default_folder(
        tmp_path, cli, check_error):
    """Before: exit 0, index.html, report.md and figures/ written into the study
    compare-a-vs-b's folder (an explicit --report-dir there was refused)."""
    studies = tmp_path / "studies"
    for name in ("a", "b", "compare-a-vs-b"):
        finished_study(studies, name, trials=3)
    before = _files(studies / "compare-a-vs-b")
    proc = cli("compare", "a", "b", "--studies-dir", studies)
    check_error(proc, 2, "--report-dir", "compare-a-vs-b", "study folder")
    assert _files(studies / "compare-a-vs-b") == before


def test_predict_out_never_overwrites_an_experiments_or_a_studys_files(
        experiment, tmp_path, cli, check_error):
    """Before: --out onto trials/0001/plots/learning_curves.png replaced the trial's
    figure with the prediction."""
    exp = tmp_path / "exp"
    shutil.copytree(experiment, exp)
    figure = exp / "plots" / "learning_curves.png"
    figure.parent.mkdir()
    figure.write_bytes(b"the trial's own figure")
    proc = cli("predict", "--experiment", exp, "--index", "0", "--out", figure, cwd=tmp_path)
    check_error(proc, 2, "--out", "experiment directory")
    assert figure.read_bytes() == b"the trial's own figure"

    study = finished_study(tmp_path / "studies", "s", trials=2)
    before = _files(study)
    into = study / "trials" / "0001" / "prediction.png"
    proc = cli("predict", "--experiment", exp, "--index", "0", "--out", into, cwd=tmp_path)
    check_error(proc, 2, "--out", "study folder")
    assert _files(study) == before and not into.exists()

    elsewhere = tmp_path / "mine.png"  # and a place of the user's own still takes it
    proc = cli("predict", "--experiment", exp, "--index", "0", "--out", elsewhere,
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert elsewhere.read_bytes()[:4] == b"\x89PNG"


def test_a_studies_dir_inside_a_study_is_refused(made_study, tmp_path, cli, check_error):
    """Before: a study 'inner' made in studies/done/inner (or in its trials folder),
    mixed into the study 'done'."""
    before = _files(made_study)
    for inside in (made_study, made_study / "trials", made_study / "trials" / "0000"):
        proc = cli("run", "--trials", 1, "--studies-dir", inside, "--study", "inner",
                   cwd=tmp_path)
        check_error(proc, 2, "--studies-dir", "inside the study folder")
    assert _files(made_study) == before
    assert not list(made_study.rglob("inner"))
