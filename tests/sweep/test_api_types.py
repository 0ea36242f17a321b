"""Hostile tests: wrong types through the Python API (`sweep.load`, `StudyResults`).
The API's promise (README): instead of exit codes it raises `sweep.UsageError` or
`sweep.StudyError`; bad values never slip through as a bare TypeError or a wrong answer."""

from __future__ import annotations

import pytest

import sweep
from tests.sweep.studies import finished_study


@pytest.fixture
def results(tmp_path):
    finished_study(tmp_path / "studies", "done", trials=3)
    return sweep.load("done", studies_dir=tmp_path / "studies")


def test_load_with_a_studies_dir_of_the_wrong_type_is_a_usage_error(tmp_path):
    """Before: TypeError: expected str, bytes or os.PathLike object, not int."""
    with pytest.raises(sweep.UsageError, match="studies_dir"):
        sweep.load("done", studies_dir=5)


def test_load_checks_its_arguments_as_the_reading_commands_do(tmp_path):
    """Hostile tester 15: a studies_dir that is a file was "no study named 'base' in
    /etc/passwd" (a StudyError), and storage="" was taken for no storage, where the
    commands and `sweep.run` refuse both."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(sweep.UsageError, match=r"^studies_dir='.*afile': .*afile is not a "
                                               "folder$"):
        sweep.load("base", studies_dir=afile)
    with pytest.raises(sweep.UsageError, match=r"^storage='': expected text$"):
        sweep.load("base", studies_dir=tmp_path, storage="")


def test_load_of_a_name_that_is_not_text_names_the_keyword(tmp_path):
    """Before (hostile tester 3): "--study 3: ...", a flag the API does not have."""
    with pytest.raises(sweep.UsageError, match=r"^study=3: a study name is"):
        sweep.load(3, studies_dir=tmp_path)


def test_best_of_a_string_is_a_usage_error(results):
    """Before: TypeError: slice indices must be integers or None ..."""
    with pytest.raises(sweep.UsageError):
        results.best("x")


def test_best_of_a_negative_count_is_refused(results):
    """`sweep best --top -1` is refused ("must be >= 1"), but `results.best(-1)` returned
    every completed trial but the worst (a slice [:-1]), silently."""
    with pytest.raises(sweep.UsageError):
        results.best(-1)


def test_history_of_a_trial_number_given_as_text(results):
    """`results.history("0")` returned None (as for a trial with no history), although
    trial 0 has one: either its history or a UsageError, never a silent None."""
    assert results.history(0) is not None  # trial 0 has a history
    try:
        h = results.history("0")
    except sweep.UsageError:
        return
    assert h is not None and len(h) == 2


@pytest.mark.parametrize("spoil", ["torn", "text"])
def test_history_of_a_damaged_file_is_none_not_made_up_numbers(results, spoil):
    """Hostile tester 17: a row cut short (a copy or write stopped mid-line) came back
    as a row of NaN, as if the epoch had been trained and measured nothing. A damaged
    history is None, as the docstring says of an unreadable one."""
    path = results.trial_dir(1) / "history.csv"
    text = path.read_text()
    assert results.history(1) is not None
    if spoil == "torn":
        path.write_text(text[: text.rindex(",", 0, len(text) - 10)])
    else:
        path.write_text(text.replace(text.splitlines()[-1].split(",")[2], "zz", 1))
    assert results.history(1) is None
    assert 1 not in results.histories() and 0 in results.histories()


def test_history_of_a_pipe_is_none_at_once(results):
    """Hostile tester 18: a named pipe at history.csv kept history() waiting for ever."""
    import os

    path = results.trial_dir(1) / "history.csv"
    path.unlink()
    os.mkfifo(path)
    assert results.history(1) is None
