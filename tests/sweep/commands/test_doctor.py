"""``sweep doctor`` (sweep/commands/doctor.py), in process: it names each damaged line of a
journal, keeps a copy, drops exactly those lines, and replaces the journal only if the
rest loads; ``--check`` only reports. One real-process test does the fault table's row
end to end: a damaged journal stops ``sweep run``, doctor repairs it, the run resumes.
(How damage is found: study/test_storage.py.)"""

from __future__ import annotations

import pytest

from tests.sweep.conftest import error_lines
from tests.sweep.faults.harness import check_study, sweep
from tests.sweep.studies import DAMAGE, damage, finished_study, resume


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_doctor_names_the_damage_then_repairs_it_keeping_a_copy(kind, made_study, cli):
    journal = made_study / "journal.log"
    where = ["--studies-dir", made_study.parent, "--study", "done"]
    before, line = damage(journal, kind)
    damaged = journal.read_bytes()
    check = cli("doctor", "--check", *where)
    assert check.returncode == 1 and f"{journal}: line {line}: " in check.stdout, check.stdout
    assert "1 damaged line; run without --check to repair" in check.stdout
    assert journal.read_bytes() == damaged
    fix = cli("doctor", *where)
    assert fix.returncode == 0, fix.stdout + fix.stderr
    assert journal.read_bytes() == before
    backups = list(journal.parent.glob("journal.log.damaged-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == damaged
    assert f"the journal as it was is kept in {backups[0]}" in fix.stdout
    again = cli("doctor", *where)
    assert again.returncode == 0 and "no damage" in again.stdout, again.stdout
    assert cli("best", *where).returncode == 0


def test_a_torn_last_line_is_dropped(made_study, cli):
    journal = made_study / "journal.log"
    before = journal.read_bytes()
    journal.write_bytes(before + b'{"op_code": 5')
    fix = cli("doctor", "--studies-dir", made_study.parent, "--study", "done")
    assert fix.returncode == 0 and "torn" not in fix.stderr, fix.stdout + fix.stderr
    assert journal.read_bytes() == before


def test_doctor_refuses_a_repair_that_would_not_load(made_study, cli):
    journal = made_study / "journal.log"
    lines = journal.read_bytes().splitlines(keepends=True)
    damaged = [b"not the study's creation\n"] + lines[1:]  # the create_study record is gone
    journal.write_bytes(b"".join(damaged))
    proc = cli("doctor", "--studies-dir", made_study.parent, "--study", "done")
    assert proc.returncode == 1 and "nothing was changed" in proc.stderr, proc.stderr
    assert len(error_lines(proc.stderr)) == 1
    assert journal.read_bytes() == b"".join(damaged)
    assert not list(journal.parent.glob("journal.log.damaged-*"))
    assert not list(journal.parent.glob(".journal.log.repaired"))


def test_doctor_repairs_journals_only(made_study, tmp_path, cli, check_error):
    where = ["--studies-dir", made_study.parent]
    check_error(cli("doctor", *where, "--study", "done", "--storage",
                    f"sqlite:///{tmp_path / 'x.db'}"), 2, "--storage", "journal files")
    check_error(cli("doctor", *where, "--study", "nope"), 1, "no study journal")


@pytest.mark.slow
def test_a_damaged_journal_stops_the_run_until_doctor_repairs_it(tmp_path, tiny_idx_dir):
    """The fault table's row, for real: ``sweep run`` on a study whose journal has a line
    that is not UTF-8 stops with one line naming the file and line and writes nothing;
    ``sweep doctor`` repairs it; the same run then reaches its total."""
    root = finished_study(tmp_path / "studies", "done", trials=3, data_dir=tiny_idx_dir)
    journal = root / "journal.log"
    before, line = damage(journal, "not-utf8-inside")
    damaged = journal.read_bytes()
    run = resume(root.parent, "done", 5)
    proc = sweep(*run, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and str(journal) in lines[0] and f"line {line}" in lines[0], \
        proc.stderr
    assert "doctor" in lines[0] and "Traceback" not in proc.stderr
    assert journal.read_bytes() == damaged, "the run wrote to a damaged journal"
    fix = sweep("doctor", "--studies-dir", root.parent, "--study", "done", cwd=tmp_path)
    assert fix.returncode == 0 and journal.read_bytes() == before, fix.stdout + fix.stderr
    again = sweep(*run, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    check_study(root, finished=5, unwritten=lambda t: t.number < 3)  # 0-2: written here


@pytest.mark.slow
@pytest.mark.parametrize("room", ["none", "repaired-copy-only"])
def test_a_repair_on_a_full_disk_names_the_journal_and_leaves_it_alone(tmp_path, room,
                                                                        mounts):
    """Hostile tester 19: doctor on a full disk named its own temporary file
    (".journal.log.repaired: No space left on device"), which the user never made; a
    disk with room for the repaired copy but not the kept one could leave a cut copy
    that passes for the journal as it was."""
    import shutil

    disk = tmp_path / "disk"
    disk.mkdir()
    mounts("-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk))
    made = finished_study(tmp_path / "made", "done", trials=3)
    studies = disk / "studies"
    shutil.copytree(made, studies / "done", ignore=shutil.ignore_patterns("trials"))
    journal = studies / "done" / "journal.log"
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[-1] = b"GARBAGE{{{\n"  # the last record's line: no trial's creation
    journal.write_bytes(b"".join(lines))
    before = journal.read_bytes()
    pages = -(-len(before) // 4096)
    leave = 0 if room == "none" else (pages + 1) * 4096  # the copy fits, the backup not
    free = shutil.disk_usage(disk).free
    with open(disk / "filler", "wb") as f:
        f.write(b"\0" * (free - leave))
    proc = sweep("doctor", "--study", "done", "--studies-dir", studies, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = error_lines(proc.stderr)
    assert lines == [f"sweep doctor: error: {journal}: cannot repair it (No space left on "
                     "device); nothing was changed"], proc.stderr
    assert journal.read_bytes() == before
    assert sorted(p.name for p in journal.parent.iterdir() if "journal" in p.name) == \
        ["journal.log", "journal.log.flock"]


def test_doctor_refuses_to_drop_the_line_holding_the_studys_settings(made_study, cli):
    """Hostile tester 21: junk where the settings record was: doctor dropped the line,
    said "replaced", exit 0, and every command then refused the study as "not created
    by sweep". A repair that loses the settings changes nothing."""
    journal = made_study / "journal.log"
    lines = journal.read_bytes().splitlines(keepends=True)
    (k,) = [i for i, line in enumerate(lines) if b'"sweep:settings"' in line]
    lines[k] = b"xx\n"
    journal.write_bytes(b"".join(lines))
    damaged = journal.read_bytes()
    fix = cli("doctor", "--studies-dir", made_study.parent, "--study", "done")
    assert fix.returncode == 1, fix.stdout + fix.stderr
    assert "does not load (the study's settings were on a damaged line); nothing was " \
        "changed" in fix.stderr, fix.stderr
    assert journal.read_bytes() == damaged
    assert not list(made_study.glob("journal.log.damaged-*"))
