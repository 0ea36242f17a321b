"""IDX reading and writing, and the errors a damaged file must produce."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

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


# ------------------------------------------- sizes in Python ints; gzip read only as promised

def _header(magic: int, *dims: int) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)


@pytest.mark.parametrize("dims", [(2**31, 2**31, 4), (2**31, 2**31, 3), (2**32 - 1,) * 3],
                         ids=["wraps-to-zero", "wraps-negative", "largest"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_header_dimensions_that_overflow_int64_are_refused(tmp_path, dims, suffix):
    path = tmp_path / f"train-images-idx3-ubyte{suffix}"
    payload = _header(0x803, *dims) + bytes(64)
    path.write_bytes(gzip.compress(payload) if suffix else payload)
    with pytest.raises(DataError) as e:
        read_idx(path)
    message = str(e.value)
    assert message.startswith(f"{path.name}: truncated") and "\n" not in message, message
    assert str(4 + 12 + dims[0] * dims[1] * dims[2]) in message  # the true size, unwrapped


def test_gzip_that_inflates_past_its_header_is_refused_without_inflating_it(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    stream = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip framing
    with open(path, "wb") as f:
        f.write(stream.compress(_header(0x801, 10) + bytes(10)))
        block = bytes(1 << 24)
        for _ in range(16):  # 256 MiB of zeros after the 10 promised labels
            f.write(stream.compress(block))
        f.write(stream.flush())
    assert path.stat().st_size < 4 * 2**20  # a few MB on disk
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="wrong length: expected 18 bytes, got more"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB allocated to refuse it"


def test_a_header_promising_more_than_deflate_can_hold_is_refused_up_front(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_header(0x803, 60000, 4000, 4000) + bytes(1000)))
    with pytest.raises(DataError, match="more than a gzip file of"):
        read_idx(path)
