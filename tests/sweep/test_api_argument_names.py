"""Hostile tester 6: the Python API raises `sweep.UsageError` for bad arguments and names
them as the API spells them (sweep/api.py, `api_errors`): `sweep.load` with a storage
that is not text raised AttributeError, its errors named --storage and --study, and
`sweep.run` raised mlp's DataError for a missing data folder and blamed --space."""

from __future__ import annotations

import pytest

import sweep


def test_a_storage_that_is_not_text_is_a_usage_error(made_study):
    with pytest.raises(sweep.UsageError):
        sweep.load("done", studies_dir=made_study.parent, storage=5)


def test_load_names_its_own_arguments(made_study):
    with pytest.raises(sweep.UsageError) as bad_name:
        sweep.load("../x", studies_dir=made_study.parent)
    assert "--study" not in str(bad_name.value), bad_name.value
    with pytest.raises(sweep.UsageError) as other:
        sweep.load("done", studies_dir=made_study.parent,
                   storage=f"sqlite:///{made_study.parent}/other.db")
    assert "--storage" not in str(other.value), other.value
def _base(tmp_path):
    return dict(trials=1, jobs=1, epochs=1, dataset="idx", pruner="none",
                studies_dir=str(tmp_path / "studies"), report=False, quiet=True)


def test_a_missing_data_folder_raises_a_sweep_error(tmp_path):
    with pytest.raises((sweep.UsageError, sweep.StudyError)):
        sweep.run("nodata", **_base(tmp_path), data_dir=str(tmp_path / "nowhere"))


def test_a_missing_space_file_is_named_as_the_argument(tmp_path):
    with pytest.raises(sweep.UsageError) as err:
        sweep.run("nospace", **_base(tmp_path), data_dir=str(tmp_path),
                  space=str(tmp_path / "none.toml"))
    assert "--space" not in str(err.value) and "space" in str(err.value), err.value
