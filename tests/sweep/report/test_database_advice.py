"""The commands a report advises about a database study. Hostile tester 10: the advice
was `python -m sweep confirm --study q --studies-dir ...`, which stops at once ("pass
--storage with its password"). The harness never keeps the password, so the advice
names the storage with PASSWORD where it goes."""

from __future__ import annotations

import re
import shlex
from urllib.parse import urlsplit

import pytest


@pytest.mark.slow  # a real server and a real run
def test_the_confirm_command_a_database_studys_report_advises_finds_the_study(
        postgres, run_args, tmp_path, sweep_cli):
    url = postgres.new_database()
    password = urlsplit(url).password
    assert password
    studies = tmp_path / "studies"
    args = [a for a in run_args(studies, "q", trials=3, jobs=2) if a != "--no-report"]
    proc = sweep_cli(*args, "--storage", url, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = (studies / "q" / "report" / "report.md").read_text()
    assert password not in text
    advised = re.findall(r"`(python -m sweep confirm [^`]*)`", text)
    assert advised, text
    command = shlex.split(advised[0])[3:]  # after "python -m sweep"
    storage = command[command.index("--storage") + 1]
    assert "PASSWORD" in storage, advised[0]
    command[command.index("--storage") + 1] = storage.replace("PASSWORD", password)
    ran = sweep_cli(*command, "--max-candidates", "2", cwd=tmp_path, timeout=600)
    assert ran.returncode == 0, (advised[0], ran.stderr)
