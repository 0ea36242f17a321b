"""The search space (sweep/study/space.py), in process: the mission's defaults, TOML space
files and their one-line errors; one real study samples a space file's space."""

from __future__ import annotations

import json

import pytest

from sweep.errors import UsageError
from sweep.study.settings import stored_settings
from sweep.study.space import default_space, load_space


def _space(tmp_path, text: str | bytes, name: str = "space.toml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _by_name(space):
    return {p.name: p for p in space.params}


# ------------------------------------------------------------------ defaults

def test_default_space_is_the_missions():
    params = _by_name(default_space())
    assert list(params) == ["hidden_size", "dropout", "l2", "lr", "batch_size"]
    h = params["hidden_size"]
    assert (h.type, h.low, h.high, h.log) == ("int", 32, 2048, True)
    d = params["dropout"]
    assert (d.type, d.low, d.high, d.log) == ("float", 0.0, 0.7, False)
    l2 = params["l2"]
    assert (l2.type, l2.low, l2.high, l2.log) == ("float", 1e-6, 1e-2, True)
    lr = params["lr"]
    assert (lr.type, lr.low, lr.high, lr.log) == ("float", 1e-3, 1.0, True)
    b = params["batch_size"]
    assert b.type == "categorical" and list(b.choices) == [32, 64, 128, 256, 512]
    assert default_space().fixed == ()
    assert load_space(None) == default_space()


def test_default_space_keys_are_config_keys():
    assert [p.key for p in default_space().params] == [
        "model.hidden_size", "model.dropout", "training.l2", "training.lr",
        "training.batch_size"]


def test_classic_values_all_fit_the_default_space():
    assert default_space().classic_params() == {
        "hidden_size": 512, "dropout": 0.3, "l2": 1e-4, "lr": 0.1, "batch_size": 128}


# ------------------------------------------------------------------ space files

def test_a_file_changes_one_range_and_keeps_the_rest(tmp_path):
    space = load_space(_space(tmp_path, "[params.lr]\nlow = 0.01\nhigh = 0.5\n"))
    params = _by_name(space)
    lr = params["lr"]
    assert (lr.type, lr.low, lr.high, lr.log) == ("float", 0.01, 0.5, True)  # log kept
    default = _by_name(default_space())
    for name in ("hidden_size", "dropout", "l2", "batch_size"):
        assert params[name] == default[name]


def test_a_file_can_turn_log_off_and_use_dotted_names(tmp_path):
    space = load_space(_space(tmp_path, '[params."training.lr"]\nlog = false\n'))
    lr = _by_name(space)["lr"]
    assert (lr.low, lr.high, lr.log) == (1e-3, 1.0, False)


def test_a_file_fixes_a_setting(tmp_path):
    space = load_space(_space(tmp_path, "[fixed]\ndropout = 0.2\nepochs = 10\n"))
    assert "dropout" not in space.names
    assert space.fixed_overrides() == {"model.dropout": 0.2, "training.epochs": 10}
    assert "dropout" not in space.classic_params()


def test_a_file_adds_momentum(tmp_path):
    space = load_space(_space(tmp_path, '[params.momentum]\ntype = "float"\n'
                                        "low = 0.8\nhigh = 0.99\n"))
    m = _by_name(space)["momentum"]
    assert (m.type, m.low, m.high, m.key) == ("float", 0.8, 0.99, "training.momentum")
    assert len(space.params) == 6


def test_a_file_replaces_the_choices(tmp_path):
    space = load_space(_space(tmp_path, "[params.batch_size]\nchoices = [64, 128]\n"))
    assert _by_name(space)["batch_size"].choices == (64, 128)
    assert space.classic_params()["batch_size"] == 128


def test_narrowed_space_leaves_out_classic_values_outside_it(tmp_path):
    space = load_space(_space(tmp_path, "[params.hidden_size]\nhigh = 64\n"))
    assert space.classic_params() == {"dropout": 0.3, "l2": 1e-4, "lr": 0.1, "batch_size": 128}


def test_space_round_trips_through_its_stored_form(tmp_path):
    space = load_space(_space(tmp_path, '[params.momentum]\ntype = "float"\nlow = 0.8\n'
                                        'high = 0.99\n[fixed]\ndropout = 0.2\n'))
    from sweep.study.space import Space

    assert Space.from_dict(space.to_dict()) == space


BAD_SPACES = [
    pytest.param("[params.lr\nlow = 0.1\n", ["not valid TOML"], id="malformed-toml"),
    # hostile tester 20: the codec's words ("'utf-8' codec can't decode byte 0xff ...")
    pytest.param(b"[params.lr]\nlow = 0.1\n\xff\xfe\n", ["line 3 is not UTF-8 text"],
                 id="not-utf8"),
    pytest.param("[params.lr]\nlow = 0.5\nhigh = 0.1\n", ["params.lr", "above high"],
                 id="low-above-high"),
    pytest.param("[params.lr]\nlow = 0.0\n", ["params.lr", "positive"], id="log-zero-low"),
    pytest.param("[params.l2]\nlow = -1e-3\n", ["params.l2", "positive"], id="log-negative"),
    pytest.param("[params.dropout]\nlog = true\n", ["params.dropout", "positive"],
                 id="log-added-to-zero-low"),
    pytest.param('[params.foo]\ntype = "float"\nlow = 0\nhigh = 1\n', ["'foo'"],
                 id="unknown-setting"),
    pytest.param("[fixed]\nbogus = 1\n", ["'bogus'"], id="unknown-fixed-setting"),
    pytest.param('[params.lr]\nlow = "small"\n', ["params.lr", "low", "number"],
                 id="string-bound"),
    pytest.param("[params.lr]\nhigh = true\n", ["params.lr", "high", "number"],
                 id="bool-bound"),
    pytest.param("[params.hidden_size]\nlow = 40.5\n", ["params.hidden_size", "integer"],
                 id="fractional-int-bound"),
    pytest.param('[params.lr]\ntype = "double"\nlow = 0.1\nhigh = 1.0\n',
                 ["params.lr", "type"], id="unknown-type"),
    pytest.param("[params.lr]\nstep = 2\n", ["params.lr", "'step'"], id="unknown-key"),
    pytest.param("[params.batch_size]\nchoices = []\n", ["params.batch_size", "choices"],
                 id="no-choices"),
    pytest.param("[params.dropout]\nhigh = 1.5\n", ["params.dropout", "model.dropout"],
                 id="outside-config-range"),
    pytest.param('[fixed]\ndropout = "high"\n', ["dropout"], id="fixed-wrong-type"),
    pytest.param("[params.momentum]\nlow = 0.8\nhigh = 0.99\n", ["params.momentum", "type"],
                 id="new-setting-without-type"),
    pytest.param("[search]\nx = 1\n", ["[search]"], id="unknown-table"),
    pytest.param('params = "lr"\n', ["[params]"], id="params-not-a-table"),
]


@pytest.mark.parametrize(("text", "needles"), BAD_SPACES)
def test_bad_space_files_are_one_line_errors(tmp_path, text, needles):
    path = _space(tmp_path, text)
    with pytest.raises(UsageError) as err:
        load_space(path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    for needle in needles:
        assert needle in message, (needle, message)


def test_missing_space_file(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        load_space(tmp_path / "nope.toml")


# ------------------------------------------------------------------ reading the file

def test_a_space_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "space.toml"
    path.write_bytes(b"\xef\xbb\xbf[params.hidden_size]\nlow = 16\nhigh = 32\n")
    assert _by_name(load_space(path))["hidden_size"].high == 32


def test_a_space_file_that_is_not_a_regular_file_or_too_large_is_refused(tmp_path):
    with pytest.raises(UsageError, match="/dev/zero: not a regular file"):
        load_space("/dev/zero")  # read whole, it would never end
    with pytest.raises(UsageError, match="not a regular file"):
        load_space(tmp_path)
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")
    with pytest.raises(UsageError, match="KiB"):
        load_space(huge)


@pytest.mark.parametrize(("text", "needles"), [
    ("[fixed]\nlr = 0.1\n\"training.lr\" = 0.2\n", ["lr", "twice"]),
    ("[fixed]\nseed = 3\n", ["seed", "--seed"]),
    ("[params.seed]\ntype = \"int\"\nlow = 1\nhigh = 100\n", ["params.seed", "--seed"]),
    ("[params.lr]\nlow = 0.01\nhigh = 0.1\n[fixed]\nlr = 0.05\n", ["lr"]),
    ("[params.hidden_size]\nchoices = [64, 128, 64]\n", ["params.hidden_size", "64", "twice"]),
], ids=["fixed-twice", "fixed-seed", "sampled-seed", "sampled-and-fixed", "choice-twice"])
def test_a_setting_named_twice_or_the_seed_is_refused(text, needles, tmp_path):
    with pytest.raises(UsageError) as caught:
        load_space(_space(tmp_path, text))
    for needle in needles:
        assert needle in str(caught.value), (needle, str(caught.value))


# ------------------------------------------------------------------ a real study of a space file

@pytest.mark.slow
def test_a_space_file_study_samples_its_space(sweep_cli, data_args, tmp_path, open_optuna):
    path = _space(tmp_path, "[params.hidden_size]\nhigh = 64\n"
                            "[params.lr]\nlow = 0.01\nhigh = 0.5\n"
                            '[params.momentum]\ntype = "float"\nlow = 0.8\nhigh = 0.99\n'
                            "[fixed]\ndropout = 0.2\n")
    proc = sweep_cli("run", "--trials", 2, "--jobs", 1, "--epochs", 1, *data_args,
                     "--train-limit", 300, "--space", path, "--studies-dir", tmp_path / "s",
                     "--study", "spaced", "--no-report", "--no-plots", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    study = open_optuna(tmp_path / "s", "spaced")
    settings = stored_settings(study)
    assert set(settings.space.names) == {"hidden_size", "l2", "lr", "batch_size", "momentum"}
    assert dict(settings.space.fixed) == {"dropout": 0.2}
    assert settings.config.model.dropout == 0.2
    trials = study.get_trials()
    # trial 0: the classic values that fit (l2, lr, batch_size); the rest sampled
    assert trials[0].user_attrs.get("classic") is True
    assert {k: trials[0].params[k] for k in ("l2", "lr", "batch_size")} == {
        "l2": 1e-4, "lr": 0.1, "batch_size": 128}
    for t in trials:
        assert set(t.params) == {"hidden_size", "l2", "lr", "batch_size", "momentum"}
        assert 0.01 <= t.params["lr"] <= 0.5
        assert 0.8 <= t.params["momentum"] <= 0.99
        assert 32 <= t.params["hidden_size"] <= 64
        config = json.loads((tmp_path / "s" / "spaced" / "trials" / f"{t.number:04d}"
                             / "config.json").read_text())
        assert config["model"]["dropout"] == 0.2
        assert config["training"]["momentum"] == t.params["momentum"]
        assert config["training"]["lr"] == t.params["lr"]
