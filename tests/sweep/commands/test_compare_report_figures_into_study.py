"""`compare --report-dir DIR` writes its figures into DIR/figures/ without checking that
DIR/figures is a study folder.

What happened: with a studies folder S holding studies `a`, `b` and a study named
`figures`, `python -m sweep compare a b --studies-dir S --report-dir S` (a folder that
is not inside any study folder, so it is accepted) wrote `best_so_far.png`, `edf.png`
... into S/figures, the folder of the study `figures`, next to its journal.log. The
same check that refuses `--report-dir S/a` ("inside the study folder ...; write it
elsewhere") is not made for the `figures/` subfolder it writes into.
"""

from __future__ import annotations

from tests.sweep.studies import finished_study


def test_compare_does_not_write_into_a_study_named_figures(cli, tmp_path):
    studies = tmp_path / "studies"
    finished_study(studies, "a", trials=3)
    finished_study(studies, "b", trials=3)
    figures_study = finished_study(studies, "figures", trials=3)
    before = {p.name for p in figures_study.iterdir()}

    proc = cli("compare", "a", "b", "--studies-dir", studies, "--report-dir", studies)

    after = {p.name for p in figures_study.iterdir()}
    assert after == before, (proc.returncode, proc.stderr, sorted(after - before))
