"""No command, error path or message prints a storage password, whatever the arguments."""

from __future__ import annotations

import pytest

from sweep.commands.cli import COMMANDS, main

SECRET = "Sup3rSecret"
URL = f"postgresql://user:{SECRET}@db.example/x"


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own exits
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("spelling", [
    ["--storgae", URL], [f"--storgae={URL}"], ["--storag", URL], [f"--storag={URL}"],
    ["--stora", URL], [URL], ["--trials", "2", "--bogus", URL],
])
def test_a_misspelt_option_beside_a_password_never_echoes_it(capsys, command, spelling):
    code, text = _run(capsys, [command, *spelling])
    assert code == 2, text
    assert SECRET not in text, text
    assert len([line for line in text.splitlines() if "error" in line]) == 1, text


@pytest.mark.parametrize("command", [
    # `run` starts its workers before it opens the storage: worker processes
    pytest.param(c, marks=pytest.mark.slow) if c == "run" else c
    for c in COMMANDS if c not in ("train", "predict", "data")])
def test_a_bad_storage_url_is_named_masked(capsys, tmp_path, command):
    extra = {"run": ["--trials", "1"], "plots": ["--trial", "0"],
             "rerun": ["--trial", "0"]}.get(command, [])
    code, text = _run(capsys, [command, "--studies-dir", str(tmp_path), "--storage",
                               f"postgresql://user:{SECRET}@127.0.0.1:1/x?connect_timeout=1",
                               *extra])
    assert code in (1, 2), text
    assert SECRET not in text, text
