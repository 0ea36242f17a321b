"""A study's settings (sweep/study/settings.py, and how a run's options fill them in:
sweep/execution/session.py `settings_for`), in process on studies written through
Optuna: options left out on a resumed study keep the stored values, a different value
is refused naming it, and every value the space may sample must fit the rest.
(A real resumed run: execution/test_session.py.)"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from sweep.commands.cli import build_parser
from sweep.errors import StudyError, UsageError
from sweep.execution.request import RunRequest
from sweep.execution.session import settings_for
from sweep.options import build, from_namespace
from sweep.study.paths import StudyPaths
from sweep.study.samplers import DEFAULT_PRUNER, PRUNERS
from sweep.study.settings import Settings, create_or_check, stored_settings
from sweep.study.storage import open_storage


def request(*argv: object) -> RunRequest:
    args = build_parser("run").parse_args(["run", "--trials", "8", *map(str, argv)])
    return build(RunRequest, from_namespace(args, RunRequest), cli=True)


def opened(root: Path) -> tuple[StudyPaths, optuna.storages.BaseStorage, Settings]:
    paths = StudyPaths(root)
    storage = open_storage(paths.journal)
    study = optuna.load_study(study_name=paths.name, storage=storage)
    return paths, storage, stored_settings(study)


def resumed(root: Path, *argv: object) -> Settings:
    """What a run given ``argv`` makes of the study at ``root``: its settings, checked
    against the stored ones as the run checks them (no worker, no data)."""
    paths, storage, stored = opened(root)
    settings = settings_for(request(*argv), stored, cli=True)
    create_or_check(paths, storage, settings, None)
    return settings


def test_options_left_out_keep_the_stored_values(made_study):
    _, _, stored = opened(made_study)
    settings = resumed(made_study)
    assert settings == stored
    assert settings.config.training.epochs == 2 and settings.space.param("hidden_size").high == 48


def test_the_same_options_again_are_accepted(made_study, tmp_path):
    space = tmp_path / "space.toml"
    space.write_text("[params.hidden_size]\nlow = 16\nhigh = 48\n")
    settings = resumed(made_study, "--epochs", 2, "--dataset", "idx", "--space", space,
                       "--sampler", "tpe", "--pruner", DEFAULT_PRUNER, "--seed", 0, "--lag", 4)
    assert settings == opened(made_study)[2]


@pytest.mark.parametrize(("option", "needles"), [
    (["--space", "SPACE"], ["hidden_size", "48", "512", "--study", "space"]),
    (["--epochs", "3"], ["epochs"]),
    (["--sampler", "random"], ["sampler"]),
    # a pruner other than the default, which the study was created with
    (["--pruner", next(p for p in PRUNERS if p != DEFAULT_PRUNER)], ["pruner"]),
    (["--seed", "7"], ["seed"]),
    (["--lag", "3"], ["lag"]),
    (["--lag", "off"], ["lag"]),
])
def test_a_changed_setting_of_an_existing_study_is_refused(option, needles, made_study,
                                                            tmp_path):
    space = tmp_path / "space.toml"
    space.write_text("[params.hidden_size]\nhigh = 512\n")
    journal = (made_study / "journal.log").read_bytes()
    meta = (made_study / "study.json").read_text()
    with pytest.raises(UsageError) as caught:
        resumed(made_study, *[space if o == "SPACE" else o for o in option])
    message = str(caught.value)
    assert "exists with other settings" in message and "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)
    assert (made_study / "journal.log").read_bytes() == journal
    assert (made_study / "study.json").read_text() == meta


def test_the_lag_is_a_setting_of_the_study(tmp_path):
    paths = StudyPaths(tmp_path / "s")
    storage = open_storage(paths.journal)
    settings = settings_for(request("--lag", "off", "--epochs", 1), None, cli=True)
    assert settings.lag is None
    create_or_check(paths, storage, settings, None)
    assert resumed(paths.root).lag is None  # left out: the stored one
    with pytest.raises(UsageError, match="lag"):
        resumed(paths.root, "--lag", 3)
    assert settings_for(request(), None, cli=True).lag == 4  # the default of a new study


@pytest.mark.parametrize(("space", "argv", "needles"), [
    ("[fixed]\nepochs = 2\n[params.warmup_epochs]\ntype = \"int\"\nlow = 0\nhigh = 5\n", [],
     ["warmup_epochs", "5"]),
    ("[params.warmup_epochs]\ntype = \"int\"\nlow = 0\nhigh = 5\n", ["--epochs", 3],
     ["warmup_epochs", "5"]),
])
def test_every_value_the_space_may_sample_must_fit_the_study(space, argv, needles, tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(space)
    with pytest.raises(UsageError) as caught:
        settings_for(request("--space", path, *argv), None, cli=True)
    for needle in needles:
        assert needle in str(caught.value), (needle, str(caught.value))


def test_a_relative_data_dir_is_stored_resolved(tmp_path, monkeypatch):
    """So that the study resumes the same from any working directory."""
    (tmp_path / "a" / "data").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    settings = settings_for(request("--dataset", "idx", "--data-dir", "data"), None, cli=True)
    assert settings.config.data.data_dir == str(tmp_path / "a" / "data")
    monkeypatch.chdir(tmp_path)
    again = settings_for(request(), settings, cli=True)  # no --data-dir: the stored one
    assert again.config.data.data_dir == str(tmp_path / "a" / "data")
    absolute = settings_for(request("--data-dir", tmp_path / "a" / "data"), settings, cli=True)
    assert absolute == settings


def test_settings_round_trip_through_their_stored_form(made_study):
    _, _, stored = opened(made_study)
    assert Settings.from_dict(stored.to_dict()) == stored


def test_a_study_not_made_by_sweep_is_named(tmp_path):
    storage = open_storage(tmp_path / "journal.log")
    study = optuna.create_study(study_name="foreign", storage=storage)
    with pytest.raises(StudyError, match="not created by sweep"):
        stored_settings(study)
    study.set_user_attr("settings", {"config": 5})
    with pytest.raises(StudyError, match="stored settings are unreadable"):
        stored_settings(study)
