"""The config: frozen sections, type-checked overrides, and a lossless JSON form."""

import dataclasses
import json

import pytest

from mlp.config import Config, ConfigError, resolve_key


def test_defaults_are_the_classic_network():
    c = Config()
    assert (c.model.hidden_size, c.model.hidden_layers) == (512, 1)
    assert c.model.dropout == 0.3 and c.model.batch_norm is True
    assert c.training.batch_size == 128 and c.training.l2 == 1e-4


def test_config_is_frozen_and_overrides_make_a_copy():
    base = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.training.lr = 0.5  # type: ignore[misc]
    changed = base.with_overrides({"lr": 0.5, "model.hidden_size": 64})
    assert changed.training.lr == 0.5 and changed.model.hidden_size == 64
    assert base.training.lr == 0.1 and base.model.hidden_size == 512


@pytest.mark.parametrize("key, value", [
    ("lr", "abc"), ("training.lr", "abc"), ("lr", [0.1]), ("lr", True),
])
def test_non_numeric_lr_is_rejected_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=r"^training\.lr: expected float"):
        Config().with_overrides({key: value})


@pytest.mark.parametrize("value", [1.5, "1.5", 2.0, True, "two"])
def test_epochs_must_be_an_int(value):
    with pytest.raises(ConfigError, match=r"^training\.epochs: expected int"):
        Config().with_overrides({"epochs": value})


def test_strings_from_a_command_line_are_converted():
    c = Config().with_overrides({"epochs": " 7 ", "lr": "1e-2", "dataset": "idx",
                                 "data_dir": "/tmp/x", "train_limit": "none"})
    assert c.training.epochs == 7 and type(c.training.epochs) is int
    assert c.training.lr == 0.01 and type(c.training.lr) is float
    assert c.data.train_limit is None
    assert Config().with_overrides({"train_limit": "100"}).data.train_limit == 100


@pytest.mark.parametrize("text, expected", [
    ("true", True), ("True", True), ("1", True), ("yes", True), ("on", True),
    ("false", False), ("FALSE", False), ("0", False), ("no", False), ("off", False),
])
def test_bool_strings(text, expected):
    c = Config().with_overrides({"batch_norm": text, "nesterov": text})
    assert c.model.batch_norm is expected and c.training.nesterov is expected


@pytest.mark.parametrize("value", ["maybe", "2", "", 1, 0, 1.0])
def test_bool_rejects_anything_else(value):
    with pytest.raises(ConfigError, match=r"^model\.batch_norm: expected bool"):
        Config().with_overrides({"batch_norm": value})


@pytest.mark.parametrize("key", ["foo", "training.foo", "model.lr", "nope.lr", "training."])
def test_unknown_keys_are_errors(key):
    with pytest.raises(ConfigError, match="unknown config key"):
        Config().with_overrides({key: 1})


def test_resolve_key():
    assert resolve_key("lr") == ("training", "lr")
    assert resolve_key("dropout") == ("model", "dropout")
    assert resolve_key("data.augment") == ("data", "augment")


@pytest.mark.parametrize("key, value, name", [
    ("epochs", 0, "training.epochs"),
    ("dropout", 1.0, "model.dropout"),
    ("dropout", -0.1, "model.dropout"),
    ("lr", 0, "training.lr"),
    ("lr", "inf", "training.lr"),
    ("lr", "nan", "training.lr"),
    ("momentum", 1.0, "training.momentum"),
    ("hidden_size", 0, "model.hidden_size"),
    ("batch_size", 0, "training.batch_size"),
    ("schedule", "linear", "training.schedule"),
    ("dataset", "nope", "data.dataset"),
    ("shift", 9, "data.shift"),
    ("train_limit", 0, "data.train_limit"),
    ("seed", -1, "training.seed"),
    ("seed", 2**32, "training.seed"),
    ("l2", -1e-4, "training.l2"),
    ("warmup_epochs", 20, "training.warmup_epochs"),
    ("step_gamma", 0, "training.step_gamma"),
])
def test_out_of_range_values_name_the_key(key, value, name):
    with pytest.raises(ConfigError) as info:
        Config().with_overrides({key: value})
    assert str(info.value).startswith(f"{name}:"), str(info.value)


def test_idx_dataset_needs_a_directory():
    with pytest.raises(ConfigError, match=r"^data\.data_dir"):
        Config().with_overrides({"dataset": "idx"})


def test_null_only_where_optional():
    with pytest.raises(ConfigError, match=r"^training\.lr: must not be null"):
        Config().with_overrides({"lr": None})
    assert Config().with_overrides({"train_limit": None}).data.train_limit is None


def test_dict_round_trip_through_json():
    c = Config().with_overrides({"lr": 0.05, "hidden_layers": 2, "batch_norm": False,
                                 "augment": True, "train_limit": 123, "schedule": "step",
                                 "seed": 42, "dataset": "idx", "data_dir": "/d"})
    assert Config.from_dict(c.to_dict()) == c
    again = Config.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c
    assert again.to_dict() == c.to_dict()
    assert Config.from_dict(Config().to_dict()) == Config()


def test_json_ints_are_accepted_for_floats():
    c = Config.from_dict({"training": {"lr": 1, "l2": 0, "momentum": 0},
                          "model": {"dropout": 0}})
    assert c.training.lr == 1.0 and type(c.training.lr) is float
    assert type(c.training.l2) is float and type(c.model.dropout) is float
    assert c == Config().with_overrides({"lr": 1.0, "l2": 0.0, "momentum": 0.0, "dropout": 0.0})


def test_from_dict_sections_may_be_partial():
    c = Config.from_dict({"model": {"hidden_size": 64}})
    assert c.model.hidden_size == 64 and c.training == Config().training


@pytest.mark.parametrize("raw, match", [
    ({"training": {"lr": 0.1, "foo": 1}}, r"training\.foo"),
    ({"optimizer": {}}, "unknown section 'optimizer'"),
    ({"training": [1, 2]}, "training: expected an object"),
    ([], "expected a JSON object"),
    ({"training": {"epochs": 2.0}}, r"training\.epochs: expected int"),
    ({"model": {"batch_norm": 1}}, r"model\.batch_norm: expected bool"),
    ({"data": {"dataset": 3}}, r"data\.dataset: expected str"),
])
def test_from_dict_rejects_bad_documents(raw, match):
    with pytest.raises(ConfigError, match=match):
        Config.from_dict(raw)
