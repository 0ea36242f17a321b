"""Checkpoints are plain .npz files; anything that does not fit the network is refused."""

import pickle
import re
import zipfile

import numpy as np
import pytest
from numpy.lib import format

from mlp.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mlp.network import MLP


def make_model(seed: int = 0, **kw) -> MLP:
    kw = {"hidden_size": 16, "hidden_layers": 2, "batch_norm": True, **kw}
    return MLP(20, 4, rng=np.random.default_rng(seed), **kw)


def trained_state(seed: int = 1) -> dict[str, np.ndarray]:
    """A state that differs from a fresh model's in every array, buffers included."""
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v.shape).astype(v.dtype) + (2.0 if k.startswith("var") else 0)
            for k, v in make_model().state().items()}


def assert_names(exc: pytest.ExceptionInfo, path, key: str | None = None) -> None:
    msg = str(exc.value)
    assert str(path) in msg, msg
    if key is not None:
        assert repr(key) in msg, msg
    assert "\n" not in msg


def test_round_trip_restores_every_array(tmp_path):
    state = trained_state()
    path = save_checkpoint(tmp_path / "ck" / "best.npz", state)
    assert path.is_file()
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(state)
    model = load_checkpoint(path, make_model(seed=5))
    got = model.state()
    assert sorted(got) == sorted(state)
    for k in state:
        np.testing.assert_array_equal(got[k], state[k], err_msg=k)
        assert got[k].dtype == state[k].dtype


def test_round_trip_gives_identical_predictions(tmp_path):
    a = make_model(seed=3)
    x = np.random.default_rng(0).random((7, 20), dtype=np.float32)
    path = save_checkpoint(tmp_path / "a.npz", a.state())
    b = load_checkpoint(path, make_model(seed=4))
    np.testing.assert_array_equal(a(x), b(x))


def test_missing_file(tmp_path):
    path = tmp_path / "nothing.npz"
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, make_model())
    assert_names(info, path)


@pytest.mark.parametrize("key", ["W0", "gamma1", "mean0", "b2"])
def test_missing_key(tmp_path, key):
    state = trained_state()
    del state[key]
    path = save_checkpoint(tmp_path / "partial.npz", state)
    model = make_model()
    before = model.state()
    with pytest.raises(CheckpointError, match="missing") as info:
        load_checkpoint(path, model)
    assert_names(info, path, key)
    for k, v in model.state().items():  # a refused checkpoint leaves the model alone
        np.testing.assert_array_equal(v, before[k])


def test_extra_key(tmp_path):
    state = trained_state()
    state["b0"] = np.zeros(16, np.float32)  # a bias that a batch-norm layer does not have
    path = save_checkpoint(tmp_path / "extra.npz", state)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, make_model())
    assert_names(info, path, "b0")


@pytest.mark.parametrize("key, shape", [("W1", (16, 17)), ("W0", (16, 20)), ("var1", (15,)),
                                        ("b2", (4, 1))])
def test_wrong_shape(tmp_path, key, shape):
    state = trained_state()
    state[key] = np.zeros(shape, np.float32)
    path = save_checkpoint(tmp_path / "shape.npz", state)
    with pytest.raises(CheckpointError, match="shape") as info:
        load_checkpoint(path, make_model())
    assert_names(info, path, key)
    assert str(shape) in str(info.value)


def test_checkpoint_of_another_architecture(tmp_path):
    path = save_checkpoint(tmp_path / "wide.npz", make_model(hidden_size=32).state())
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, make_model())
    assert_names(info, path, "W0")
    path = save_checkpoint(tmp_path / "nobn.npz", make_model(batch_norm=False).state())
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, make_model())
    assert_names(info, path)
    assert re.search(r"'(b0|b1|beta0|beta1|gamma0|gamma1|mean0|mean1|var0|var1)'",
                     str(info.value))


def test_non_finite_values(tmp_path):
    state = trained_state()
    state["W1"][3, 2] = np.nan
    path = save_checkpoint(tmp_path / "nan.npz", state)
    with pytest.raises(CheckpointError, match="non-finite") as info:
        load_checkpoint(path, make_model())
    assert_names(info, path, "W1")


@pytest.mark.parametrize("content", [b"", b"this is not a zip file at all", b"PK\x03\x04junk"])
def test_not_a_zip(tmp_path, content):
    path = tmp_path / "garbage.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable checkpoint") as info:
        load_checkpoint(path, make_model())
    assert_names(info, path)
    # hostile tester 21: zipfile's words, "File is not a zip file"
    assert "zip file" not in str(info.value), info.value


def test_truncated_zip(tmp_path):
    good = save_checkpoint(tmp_path / "good.npz", trained_state())
    path = tmp_path / "cut.npz"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, make_model())
    assert_names(info, path)


def test_a_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path, make_model())
    assert_names(info, tmp_path)


class Boom:
    """Unpickling this would run code: a loader that allows pickle would raise RuntimeError."""

    def __reduce__(self):
        return (_explode, ())


def _explode():
    raise RuntimeError("pickle was loaded")


def test_object_arrays_are_not_unpickled(tmp_path):
    state: dict = trained_state()
    obj = np.empty(1, dtype=object)
    obj[0] = Boom()
    state["W1"] = obj
    path = tmp_path / "pickled.npz"
    np.savez(path, **state)  # savez pickles object arrays
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, make_model())
    assert_names(info, path)


def test_a_raw_pickle_is_refused(tmp_path):
    path = tmp_path / "state.npz"
    path.write_bytes(pickle.dumps(trained_state()))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, make_model())
    assert_names(info, path)


def test_saved_file_is_a_plain_zip_of_npy(tmp_path):
    path = save_checkpoint(tmp_path / "plain.npz", trained_state())
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    assert all(n.endswith(".npy") for n in names)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temp file


# ------------------------------------------------- headers checked before any data is read

def _write_member(zf: zipfile.ZipFile, name: str, header: dict, data: bytes = b"") -> None:
    """A zip member that is an .npy header (which may promise anything) and ``data``."""
    with zf.open(name, "w", force_zip64=True) as f:
        format.write_array_header_2_0(f, header)
        f.write(data)


def _with_member(tmp_path, name: str, header: dict, data: bytes = b"", drop: str | None = None):
    state = trained_state()
    path = tmp_path / "doctored.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in state.items():
            if f"{key}.npy" not in (name, drop):
                with zf.open(f"{key}.npy", "w") as f:
                    format.write_array(f, value, allow_pickle=False)
        _write_member(zf, name, header, data)
    return path


def _refused_untouched(path, model: MLP, *needles: str) -> str:
    before = model.state()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, (needle, msg)
    for k, v in model.state().items():
        np.testing.assert_array_equal(v, before[k])
    return msg


def test_extra_member_declaring_ten_trillion_values_is_refused_by_name(tmp_path):
    path = _with_member(tmp_path, "extra.npy",
                        {"descr": "<f4", "fortran_order": False, "shape": (10**13,)}, bytes(64))
    _refused_untouched(path, make_model(), "'extra'", "does not belong")


def test_known_member_declaring_ten_trillion_values_is_a_shape_error(tmp_path):
    path = _with_member(tmp_path, "W0.npy",
                        {"descr": "<f4", "fortran_order": False, "shape": (10**13,)}, bytes(64))
    _refused_untouched(path, make_model(), "'W0'", "(10000000000000,)", "(20, 16)")


@pytest.mark.parametrize("descr", ["<U5", "|S8", "|b1", "<c8", [("a", "<f4")]],
                         ids=["str", "bytes", "bool", "complex", "struct"])
def test_non_numeric_member_of_the_right_shape_is_refused(tmp_path, descr):
    value = np.zeros((20, 16), dtype=np.dtype(descr))
    path = tmp_path / "typed.npz"
    state: dict = trained_state()
    state["W0"] = value
    np.savez(path, **state)
    _refused_untouched(path, make_model(), "'W0'", "not numbers")


def test_a_member_that_is_not_npy_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "notes.npz", trained_state())
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("README", "hello")
    _refused_untouched(path, make_model(), "'README'")


def test_a_member_twice_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "twice.npz", trained_state())
    with zipfile.ZipFile(path, "a") as zf, pytest.warns(UserWarning, match="Duplicate"):
        with zf.open("W1.npy", "w") as f:
            format.write_array(f, np.zeros((16, 16), np.float32))
    _refused_untouched(path, make_model(), "'W1.npy'", "twice")


def test_a_member_shorter_than_its_header_is_refused(tmp_path):
    path = _with_member(tmp_path, "W0.npy",
                        {"descr": "<f4", "fortran_order": False, "shape": (20, 16)}, bytes(40))
    _refused_untouched(path, make_model(), "not a readable checkpoint")


def test_other_numeric_dtypes_load_as_the_models_own(tmp_path):
    state = {k: v.astype(">f8") for k, v in trained_state().items()}  # big-endian float64
    model = load_checkpoint(save_checkpoint(tmp_path / "f8.npz", state), make_model())
    for k, v in model.state().items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, state[k].astype(np.float32))
