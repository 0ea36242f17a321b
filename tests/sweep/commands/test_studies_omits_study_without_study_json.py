"""`studies` leaves out a study that every other command reads and resumes.

What happened: a study folder with its journal.log and trials/ but no study.json (what a
first run killed before it wrote study.json leaves; the code itself calls such a folder
a study: `is_study_folder`) is read by `best`, `trials`, `report` and resumed by
`run --study b` (which does not write the study.json back), yet

    $ python -m sweep studies --studies-dir S
    name  finished  complete ...
    a            3         3 ...

lists only `a`: the study `b` and its finished trials are missing from the listing, so
the two commands disagree on what the studies folder holds.
"""

from __future__ import annotations

from tests.sweep.studies import finished_study


def test_studies_lists_every_study_best_reads(cli, tmp_path):
    studies = tmp_path / "studies"
    finished_study(studies, "a", trials=3)
    b = finished_study(studies, "b", trials=3)
    (b / "study.json").unlink()

    best = cli("best", "--studies-dir", studies, "--study", "b", "-f", "csv")
    assert best.returncode == 0, best.stderr

    listed = cli("studies", "--studies-dir", studies, "-f", "csv")
    assert listed.returncode == 0, listed.stderr
    names = [line.split(",")[0] for line in listed.stdout.splitlines()[1:]]
    assert "b" in names, listed.stdout
