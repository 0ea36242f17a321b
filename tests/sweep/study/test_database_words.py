"""A database that cannot be opened is said in words: no "[Errno -2]" copied from the
OS's error by the driver (hostile tester 19: "failed to resolve host 'h': [Errno -2]
Name or service not known")."""

from __future__ import annotations

import pytest

from tests.sweep.conftest import one_clear_line
from tests.sweep.faults.harness import sweep

pytestmark = pytest.mark.slow

URL = "postgresql://u:pw@nosuchhost.invalid:5432/db"  # .invalid never resolves (RFC 2606)


@pytest.mark.parametrize("command", [("trials",), ("run", "--trials", "1")])
def test_a_host_name_that_does_not_resolve_is_said_in_words(command, tmp_path):
    proc = sweep(*command, "--study", "x", "--studies-dir", tmp_path, "--storage", URL,
                 cwd=tmp_path, timeout=120)
    line = one_clear_line(proc, "nosuchhost.invalid", "Name or service not known")
    assert "pw" not in line.replace("postgresql", ""), line
    assert not (tmp_path / "x").exists()  # nothing made for a storage never opened
