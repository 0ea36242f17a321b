"""Hostile tester 23: a --scheduler whose port is not a number shows Python's own
exception text: "not a scheduler address, such as tcp://HOST:8786 (invalid literal for
int() with base 10: 'abc')"."""

from __future__ import annotations

import pytest

from tests.sweep.conftest import one_clear_line


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:abc", "127.0.0.1:8786x"])
def test_a_port_that_is_not_a_number_is_said_in_words(address, cli, tmp_path):
    pytest.importorskip("distributed")
    proc = cli("run", "--backend", "dask", "--scheduler", address, "--trials", 1,
               "--studies-dir", tmp_path / "studies", "--study", "d", "--epochs", 1)
    line = one_clear_line(proc, address)
    assert proc.returncode == 2
    assert "invalid literal" not in line and "int()" not in line, line
    assert not (tmp_path / "studies").exists()


def test_a_host_that_has_no_address_is_said_so_not_called_a_time_out(cli, tmp_path):
    """Hostile tester 24 (unsure): an unknown host name was "cannot reach the Dask
    scheduler (Timed out trying to connect ... after 5 s)", Dask's words for it."""
    pytest.importorskip("distributed")
    proc = cli("run", "--backend", "dask", "--scheduler", "tcp://nohost.invalid:8786",
               "--trials", 1, "--studies-dir", tmp_path / "studies", "--study", "d")
    line = one_clear_line(proc, "tcp://nohost.invalid:8786: its host 'nohost.invalid' has "
                                "no address (no such name is known)")
    assert proc.returncode == 2, line
    assert not (tmp_path / "studies").exists()
