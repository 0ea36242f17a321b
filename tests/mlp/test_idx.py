"""IDX reading and writing, and the errors a damaged file must produce."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from mlp import data
from mlp.idx import DataError, read_idx, write_idx

rng = np.random.default_rng(0)
IMAGES = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
LABELS = rng.integers(0, 10, size=7, dtype=np.uint8)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, suffix):
    images = write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", IMAGES)
    labels = write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", LABELS)
    got_images, got_labels = read_idx(images), read_idx(labels)
    assert got_images.dtype == np.uint8 and got_images.shape == (7, 28, 28)
    np.testing.assert_array_equal(got_images, IMAGES)
    np.testing.assert_array_equal(got_labels, LABELS)
    assert not got_images.flags.writeable


def test_raw_file_layout_and_memory_map(tmp_path):
    path = write_idx(tmp_path / "x-idx3-ubyte", IMAGES[:2, :3, :4])
    raw = path.read_bytes()
    assert raw[:16] == bytes.fromhex("00000803 00000002 00000003 00000004")
    assert raw[16:] == IMAGES[:2, :3, :4].tobytes()
    assert isinstance(read_idx(path), np.memmap)


def test_gz_file_is_gzip(tmp_path):
    path = write_idx(tmp_path / "y-idx1-ubyte.gz", LABELS)
    assert gzip.decompress(path.read_bytes())[:8] == bytes.fromhex("00000801 00000007")


def test_bad_magic_names_file_and_expected_magic(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes.fromhex("00000802 00000001") + b"\0"))
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(e.value) == ("train-images-idx3-ubyte.gz: bad magic number 0x00000802 "
                            "(expected 0x00000803)")


def test_labels_file_read_as_images_is_refused(tmp_path):
    path = write_idx(tmp_path / "labels", LABELS)
    expected = r"labels: bad magic number 0x00000801 \(expected 0x00000803\)"
    with pytest.raises(DataError, match=expected):
        read_idx(path, ndim=3)


def test_truncated_raw_file(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", IMAGES)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(e.value) == ("train-images-idx3-ubyte: truncated: expected "
                            f"{16 + IMAGES.size} bytes, got 1000")


def test_trailing_bytes_are_refused(tmp_path):
    path = write_idx(tmp_path / "t10k-labels-idx1-ubyte", LABELS)
    path.write_bytes(path.read_bytes() + b"xx")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: wrong length: expected 15 bytes, "
                                        "got 17"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(bytes.fromhex("00000803 0000"))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: truncated: header needs 16"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", IMAGES)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match=r"^train-images-idx3-ubyte\.gz: corrupt gzip stream"):
        read_idx(path)


def test_not_gzip_at_all(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match=r"^train-labels-idx1-ubyte\.gz: corrupt gzip stream"):
        read_idx(path)


def test_gzip_of_truncated_idx(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(bytes.fromhex("00000801 0000000a") + b"\1\2\3"))
    with pytest.raises(DataError, match="truncated: expected 18 bytes, got 11"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope-idx1-ubyte: no such file"):
        read_idx(tmp_path / "nope-idx1-ubyte")


@pytest.mark.parametrize("array", [np.zeros((2, 3), np.uint8), np.zeros(3, np.float32)])
def test_write_refuses_what_the_reader_cannot_read(tmp_path, array):
    with pytest.raises(ValueError, match="uint8 array of 1 or 3 dimensions"):
        write_idx(tmp_path / "x", array)
    assert list(tmp_path.iterdir()) == []


def test_data_error_is_a_value_error_and_re_exported():
    assert issubclass(DataError, ValueError)
    assert data.DataError is DataError
