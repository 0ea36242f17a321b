"""`export --mlflow http://HOST:PORT` with no server there prints raw OS error text.

What happened (nothing listening on 127.0.0.1:1):

    $ python -m sweep export --studies-dir S --study a --mlflow http://127.0.0.1:1
    sweep export: error: --mlflow http://127.0.0.1:1: cannot reach it:
        [Errno 111] Connection refused

One line naming the culprit, but with "[Errno 111] ..." in it, which the project's own
rule for a refused command forbids (`one_clear_line`).
"""

from __future__ import annotations

import socket

import pytest

from tests.sweep.conftest import one_clear_line

pytest.importorskip("mlflow")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_export_to_a_closed_port_is_one_clear_line(cli, made_study):
    uri = f"http://127.0.0.1:{closed_port()}"
    proc = cli("export", "--studies-dir", made_study.parent, "--study", made_study.name,
               "--mlflow", uri, cwd=made_study.parent.parent)
    one_clear_line(proc, uri)
