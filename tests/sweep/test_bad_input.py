"""Bad input to every command: one clear error line, the right exit code, nothing written.

Usage errors (bad options, space files, data, storage URLs, study names, checkpoints)
exit 2; a study that does not exist exits 1. Afterwards the studies folder, the
``--out`` folder or the experiment directory is as it was before. Also the security
checks: passwords in storage URLs are masked, study names cannot climb out of the
studies folder, and checkpoints are read without unpickling anything.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from faults.harness import Running, sweep, sweep_env, wait_for

from mlp.checkpoint import CheckpointError, load_checkpoint
from mlp.network import MLP
from sweep.commands.cli import build_parser

SECRET = "s3cret"
PG_URL = f"postgresql://u:{SECRET}@127.0.0.1:1/db"

SPACES = {
    "low-above-high": "[params.lr]\nlow = 1.0\nhigh = 0.1\n",
    "log-nonpositive": "[params.lr]\nlow = 0.0\nhigh = 0.1\nlog = true\n",
    "unknown-setting": "[params.nosuch]\nlow = 1\nhigh = 2\n",
    "wrong-type": '[params.hidden_size]\nlow = "big"\n',
    "wrong-type-fixed": '[fixed]\nepochs = "ten"\n',
    "bad-toml": "[params.lr\nlow = 1\n",
    "out-of-range": "[params.dropout]\nlow = 0.0\nhigh = 1.5\n",
    "sampled-and-fixed": "[params.lr]\nlow = 0.01\nhigh = 0.1\n[fixed]\nlr = 0.05\n",
}


class Evil:
    """Unpickling this creates a marker file: proof that pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.mkdir, (self.marker,))


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if ": error: " in line]


def check_error(proc: subprocess.CompletedProcess, code: int, needles: list[str]) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, (proc.returncode, out)
    assert "Traceback" not in out, out
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, f"expected one error line:\n{proc.stderr}"
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert SECRET not in out, f"password shown: {out}"


def snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(folder.rglob("*"))}


# ---------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_idx_dir) -> dict[str, Path]:
    """Broken data folders and bad space files, by name."""
    base = tmp_path_factory.mktemp("bad-inputs")
    made: dict[str, Path] = {}

    def copy(name: str) -> Path:
        folder = base / name
        shutil.copytree(tiny_idx_dir, folder)
        made[f"DATA:{name}"] = folder
        return folder

    (copy("missing") / "t10k-labels-idx1-ubyte.gz").unlink()
    (copy("corrupt") / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"junk" * 50)
    raw = gzip.decompress((tiny_idx_dir / "train-images-idx3-ubyte.gz").read_bytes())
    (copy("truncated") / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(raw[:len(raw) // 2]))
    packed = (tiny_idx_dir / "t10k-images-idx3-ubyte.gz").read_bytes()
    (copy("cut") / "t10k-images-idx3-ubyte.gz").write_bytes(packed[:len(packed) // 2])
    overflow = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big")
                                                     for d in (2**31, 2**31, 4))
    (copy("overflow") / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(overflow))
    for name, text in SPACES.items():
        path = base / f"{name}.toml"
        path.write_text(text)
        made[f"SPACE:{name}"] = path
    made["SPACE:missing"] = base / "no-such-space.toml"
    made["TINY"] = tiny_idx_dir
    return made


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, tiny_idx_dir) -> Path:
    """A trained experiment directory (1 epoch, 16 hidden units)."""
    work = tmp_path_factory.mktemp("bad-predict")
    proc = sweep("train", "--dataset", "idx", "--data-dir", tiny_idx_dir, "--epochs", 1,
                 "--hidden-size", 16, "--out", work / "exp", "--no-plots", "--quiet", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return work / "exp"


# ---------------------------------------------------------------------------- run

RUN = {"--trials": 2, "--jobs": 1, "--epochs": 1, "--dataset": "idx", "--data-dir": "TINY",
       "--study": "bad"}

RUN_CASES = [
    ("unknown-dataset", {"--dataset": "nope", "--data-dir": None}, ["nope"]),
    ("unknown-sampler", {"--sampler": "nope"}, ["--sampler", "nope"]),
    ("unknown-pruner", {"--pruner": "nope"}, ["--pruner", "nope"]),
    ("trials-zero", {"--trials": 0}, ["--trials"]),
    ("trials-negative", {"--trials": -3}, ["--trials"]),
    ("jobs-zero", {"--jobs": 0}, ["--jobs"]),
    ("jobs-negative", {"--jobs": -1}, ["--jobs"]),
    ("jobs-word", {"--jobs": "many"}, ["--jobs", "many", "auto"]),
    ("jobs-fraction", {"--jobs": "1.5"}, ["--jobs", "1.5"]),
    ("threads-zero", {"--threads": 0}, ["--threads", "0"]),
    ("threads-word", {"--threads": "all"}, ["--threads", "all"]),
    ("plots-contradicts-no-plots", {"--plots": "all"}, ["--no-plots", "--plots all"]),
    ("plots-unknown", {"--plots": "some"}, ["--plots", "some"]),
    ("epochs-zero", {"--epochs": 0}, ["--epochs"]),
    ("epochs-negative", {"--epochs": -2}, ["--epochs"]),
    ("space-low-above-high", {"--space": "SPACE:low-above-high"}, ["params.lr", "above"]),
    ("space-log-nonpositive", {"--space": "SPACE:log-nonpositive"}, ["params.lr", "log"]),
    ("space-unknown-setting", {"--space": "SPACE:unknown-setting"}, ["nosuch"]),
    ("space-wrong-type", {"--space": "SPACE:wrong-type"}, ["hidden_size", "number"]),
    ("space-wrong-type-fixed", {"--space": "SPACE:wrong-type-fixed"}, ["epochs", "ten"]),
    ("space-bad-toml", {"--space": "SPACE:bad-toml"}, ["--space", "TOML"]),
    ("space-out-of-range", {"--space": "SPACE:out-of-range"}, ["dropout"]),
    ("space-missing-file", {"--space": "SPACE:missing"}, ["no-such-space.toml"]),
    ("data-missing-file", {"--data-dir": "DATA:missing"}, ["t10k-labels-idx1-ubyte"]),
    ("data-corrupt", {"--data-dir": "DATA:corrupt"}, ["train-images-idx3-ubyte", "corrupt"]),
    ("data-truncated", {"--data-dir": "DATA:truncated"}, ["train-images", "truncated"]),
    ("data-cut-gzip", {"--data-dir": "DATA:cut"}, ["t10k-images-idx3-ubyte"]),
    ("digest-mismatch", {"--dataset": "mnist"}, ["sha256 mismatch"]),
    ("storage-malformed", {"--storage": "notaurl"}, ["--storage", "notaurl"]),
    ("storage-unreachable", {"--storage": "sqlite:////nonexistent/dir/x.db"},
     ["--storage", "cannot open"]),
    ("storage-password", {"--storage": PG_URL}, ["--storage", "u:***@127.0.0.1"]),
    ("study-dotdot", {"--study": "../../etc"}, ["--study", "../../etc"]),
    ("study-slash", {"--study": "a/b"}, ["--study"]),
    ("study-hidden", {"--study": ".hidden"}, ["--study"]),
]


def run_argv(changes: dict[str, object], inputs: dict[str, Path], studies: Path) -> list:
    opts = RUN | changes
    argv: list[object] = ["run"]
    for key, value in opts.items():
        if value is not None:
            argv += [key, inputs.get(value, value) if isinstance(value, str) else value]
    return argv + ["--studies-dir", studies, "--no-report", "--no-plots", "--quiet"]


@pytest.mark.parametrize("changes, needles", [c[1:] for c in RUN_CASES],
                         ids=[c[0] for c in RUN_CASES])
def test_run_refuses_bad_input(tmp_path, inputs, changes, needles):
    studies = tmp_path / "studies"
    studies.mkdir()
    proc = sweep(*run_argv(changes, inputs, studies), cwd=tmp_path)
    check_error(proc, 2, needles)
    assert snapshot(studies) == {}, f"written: {snapshot(studies)}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["studies"]


def test_space_both_sampled_and_fixed_is_refused(tmp_path, inputs):
    studies = tmp_path / "studies"
    studies.mkdir()
    proc = sweep(*run_argv({"--space": "SPACE:sampled-and-fixed", "--trials": 1}, inputs,
                           studies), cwd=tmp_path)
    assert proc.returncode == 2, (
        "regressed: sweep/space.py load_space: a setting both in [params] and in [fixed] (lr) is "
        "accepted and the [fixed] value silently wins; refuse it with a UsageError "
        f"('lr is both sampled and fixed'). Output:\n{proc.stdout}{proc.stderr}")
    check_error(proc, 2, ["lr"])


def test_rejected_first_run_leaves_no_studies_dir(tmp_path, inputs):
    problems = []
    for changes in ({"--sampler": "nope"}, {"--dataset": "mnist"},
                    {"--data-dir": "DATA:missing"}):
        studies = tmp_path / "studies"
        proc = sweep(*run_argv(changes, inputs, studies), cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        if studies.exists():
            problems.append(f"{changes}: left {studies} ({snapshot(studies)})")
            shutil.rmtree(studies)
    assert not problems, (
        "regressed: sweep/commands.py cmd_run: a rejected first run removes the study folder but "
        "leaves the --studies-dir it created (open_storage -> mkdir(parents=True)); remove "
        "it too when it did not exist before and is empty:\n" + "\n".join(problems))


def test_password_from_environment_is_masked(tmp_path, inputs):
    studies = tmp_path / "studies"
    proc = sweep(*run_argv({}, inputs, studies), cwd=tmp_path, env={"SWEEP_STORAGE": PG_URL})
    check_error(proc, 2, ["u:***@127.0.0.1"])
    assert snapshot(studies) == {}


# ---------------------------------------------------------------------------- train

TRAIN_CASES = [
    ("missing-file", ["--dataset", "idx", "--data-dir", "DATA:missing"],
     ["t10k-labels-idx1-ubyte"]),
    ("corrupt", ["--dataset", "idx", "--data-dir", "DATA:corrupt"], ["corrupt"]),
    ("truncated", ["--dataset", "idx", "--data-dir", "DATA:truncated"], ["truncated"]),
    ("header-overflows", ["--dataset", "idx", "--data-dir", "DATA:overflow"],
     ["train-images-idx3-ubyte", "truncated"]),
    ("digest-mismatch", ["--dataset", "mnist", "--data-dir", "TINY"], ["sha256 mismatch"]),
    ("unknown-dataset", ["--dataset", "nope"], ["nope"]),
    ("epochs-zero", ["--dataset", "idx", "--data-dir", "TINY", "--epochs", "0"], ["epochs"]),
]


@pytest.mark.parametrize("args, needles", [c[1:] for c in TRAIN_CASES],
                         ids=[c[0] for c in TRAIN_CASES])
def test_train_refuses_bad_data(tmp_path, inputs, args, needles):
    argv = [inputs.get(a, a) for a in args]
    proc = sweep("train", *argv, "--out", tmp_path / "out", "--quiet", cwd=tmp_path)
    check_error(proc, 2, needles)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------- reading

def _commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)


@pytest.mark.parametrize("command", ["best", "trials", "report"])
def test_missing_study(tmp_path, command):
    if command not in _commands():
        pytest.skip(f"no `sweep {command}` command yet")
    studies = tmp_path / "studies"
    studies.mkdir()
    proc = sweep(command, "--study", "nope", "--studies-dir", studies, cwd=tmp_path)
    check_error(proc, 1, ["nope"])
    assert snapshot(studies) == {}
    absent = sweep(command, "--study", "nope", "--studies-dir", tmp_path / "none",
                   cwd=tmp_path)
    check_error(absent, 1, ["nope"])
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("command", ["best", "trials"])
def test_reading_refuses_climbing_names_and_masks_passwords(tmp_path, command):
    studies = tmp_path / "studies"
    proc = sweep(command, "--study", "../../etc", "--studies-dir", studies, cwd=tmp_path)
    check_error(proc, 2, ["--study"])
    proc = sweep(command, "--study", "x", "--studies-dir", studies, "--storage", PG_URL,
                 cwd=tmp_path)
    assert proc.returncode != 0 and SECRET not in proc.stdout + proc.stderr, proc.stderr
    assert not studies.exists()


# ---------------------------------------------------------------------------- predict

def _copy(experiment: Path, tmp_path: Path) -> Path:
    exp = tmp_path / "exp"
    shutil.copytree(experiment, exp)
    return exp


def _no_checkpoint(exp: Path) -> None:
    shutil.rmtree(exp / "checkpoints")


def _hidden_size_edited(exp: Path) -> None:
    config = json.loads((exp / "config.json").read_text())
    config["model"]["hidden_size"] = 24
    (exp / "config.json").write_text(json.dumps(config))


def _object_array(exp: Path) -> None:
    path = exp / "checkpoints" / "best.npz"
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    first = sorted(arrays)[0]
    arrays[first] = np.array([Evil(exp / "PICKLE-RAN")], dtype=object)
    np.savez(path, **arrays)


def _not_an_experiment(exp: Path) -> None:
    (exp / "config.json").unlink()


PREDICT_CASES = [
    ("index-out-of-range", None, ["--index", "100000"], ["--index 100000", "out of range"]),
    ("index-negative", None, ["--index", "-1"], ["--index -1", "out of range"]),
    ("no-checkpoint", _no_checkpoint, ["--index", "0"], ["checkpoint"]),
    ("hidden-size-edited", _hidden_size_edited, ["--index", "0"], ["shape"]),
    ("object-array", _object_array, ["--index", "0"], ["best.npz"]),
    ("not-an-experiment", _not_an_experiment, ["--index", "0"], ["config.json"]),
]


@pytest.mark.parametrize("spoil, args, needles", [c[1:] for c in PREDICT_CASES],
                         ids=[c[0] for c in PREDICT_CASES])
def test_predict_refuses(tmp_path, experiment, spoil, args, needles):
    exp = _copy(experiment, tmp_path)
    if spoil is not None:
        spoil(exp)
    before = snapshot(exp)
    proc = sweep("predict", "--experiment", exp, *args, cwd=tmp_path)
    check_error(proc, 2, needles)
    assert not (exp / "PICKLE-RAN").exists(), "the checkpoint was unpickled"
    assert snapshot(exp) == before, "predict wrote into the experiment directory"


def test_checkpoint_with_object_array_is_not_unpickled(tmp_path, experiment):
    exp = _copy(experiment, tmp_path)
    _object_array(exp)
    model = MLP(784, 10, hidden_size=16, hidden_layers=1, dropout=0.3)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(exp / "checkpoints" / "best.npz", model)
    assert not (exp / "PICKLE-RAN").exists()
    # and the file really does hold a pickle that would run
    with np.load(exp / "checkpoints" / "best.npz", allow_pickle=True) as npz:
        for k in npz.files:
            npz[k]
    assert (exp / "PICKLE-RAN").exists()


PEAK_RSS = """import json, resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps([proc.returncode, proc.stdout, proc.stderr, peak]))
"""


def sweep_peak_rss(*args: object, cwd: Path) -> tuple[subprocess.CompletedProcess, int]:
    """``python -m sweep ARGS`` and the peak resident memory of that process, in bytes."""
    argv = [sys.executable, "-c", PEAK_RSS, sys.executable, "-m", "sweep", *map(str, args)]
    out = subprocess.run(argv, cwd=cwd, env=sweep_env(), capture_output=True, text=True,
                         timeout=300, check=True)
    code, stdout, stderr, peak = json.loads(out.stdout)
    return subprocess.CompletedProcess(args, code, stdout, stderr), peak


def test_predict_refuses_a_3gb_member_hidden_in_a_small_checkpoint(tmp_path, experiment):
    """A 3 GB member of zeros compresses to a few MB; every member used to be loaded
    (3.2 GB resident) before the unknown one was refused."""
    exp = _copy(experiment, tmp_path)
    path = exp / "checkpoints" / "best.npz"
    size = 3 * 2**30
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
            zf.open("extra.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_2_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (size // 4,)})
        block = bytes(1 << 24)
        for _ in range(size // len(block)):
            f.write(block)
    assert path.stat().st_size < 50 * 2**20
    before = snapshot(exp)
    proc, peak = sweep_peak_rss("predict", "--experiment", exp, "--index", "0", cwd=tmp_path)
    check_error(proc, 2, ["best.npz", "'extra'"])
    assert peak < 600 * 2**20, f"predict peaked at {peak / 2**20:.0f} MiB"
    assert snapshot(exp) == before


# ---------------------------------------------------------------- train: its out folder

TINY_TRAIN = ["--dataset", "idx", "--epochs", 2, "--hidden-size", 16, "--no-plots", "--quiet"]


def test_train_refuses_a_network_too_large_for_memory_before_making_anything(tmp_path,
                                                                              tiny_idx_dir):
    proc = sweep("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--hidden-size", 65536,
                 "--hidden-layers", 16, "--out", tmp_path / "a" / "b" / "X", cwd=tmp_path)
    check_error(proc, 2, ["16 hidden layer(s) of 65536 units", "GB to train", "available"])
    assert list(tmp_path.iterdir()) == []


def test_a_train_that_fails_before_its_first_epoch_removes_only_what_it_made(tmp_path,
                                                                               tiny_idx_dir):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "mine.txt").write_text("mine")
    proc = sweep("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--out",
                 keep / "new" / "X", cwd=tmp_path, faults={"SWEEP_FAULT_RAISE": "all"})
    assert proc.returncode == 1 and "injected fault" in proc.stderr, proc.stderr
    assert snapshot(tmp_path) == {"keep": b"<dir>", "keep/mine.txt": b"mine"}
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = sweep("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--out", empty,
                 cwd=tmp_path, faults={"SWEEP_FAULT_RAISE": "all"})
    assert proc.returncode == 1, proc.stderr
    assert empty.is_dir() and list(empty.iterdir()) == []  # there before: emptied, kept


def test_a_train_that_fails_after_an_epoch_keeps_its_record(tmp_path, tiny_idx_dir):
    out = tmp_path / "X"
    proc = sweep("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--out", out, cwd=tmp_path,
                 faults={"SWEEP_FAULT_RAISE": "all", "SWEEP_FAULT_RAISE_EPOCH": 2})
    assert proc.returncode == 1, proc.stderr
    assert json.loads((out / "metrics.json").read_text())["status"] == "failed"
    assert len((out / "history.csv").read_text().splitlines()) == 2  # header and epoch 1


def test_two_trains_into_one_folder_the_second_is_refused(tmp_path, tiny_idx_dir):
    out = tmp_path / "X"
    first = Running("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--out", out,
                    cwd=tmp_path, log=tmp_path / "first", faults={"SWEEP_FAULT_SLEEP": 2})
    try:
        wait_for(lambda: (out / "config.json").exists(), 60, "the first run's config.json")
        second = sweep("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--epochs", 1,
                       "--out", out, cwd=tmp_path)
        assert first.wait(120) == 0, first.output()
    finally:
        first.close()
    assert second.returncode == 2, second.stderr
    line = [x for x in second.stderr.splitlines() if ": error: " in x]
    assert len(line) == 1 and str(out) in line[0], second.stderr
    assert any(w in line[0] for w in ("another run is writing there", "not empty")), line
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] == 2
    assert len((out / "history.csv").read_text().splitlines()) == 3  # the first run, whole


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


def test_out_of_memory_in_training_is_one_line_and_leaves_nothing(tmp_path, tiny_idx_dir):
    """The estimate says it fits (MemAvailable is large), but this process may use only
    3 GiB of address space: numpy's MemoryError, as on a machine that is really full."""
    out = tmp_path / "runs" / "X"
    proc = subprocess.run(
        [sys.executable, "-m", "sweep", "train", *map(str, TINY_TRAIN), "--data-dir",
         str(tiny_idx_dir), "--hidden-size", "12000", "--hidden-layers", "3", "--out",
         str(out)], cwd=tmp_path, env=sweep_env() | {"OPENBLAS_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=300, preexec_fn=_limit_address_space)
    check_error(proc, 1, ["out of memory", str(out), "GB"])
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- predict: its --out

@pytest.mark.parametrize("out, needles", [
    ("x.jpg", ["--out x.jpg", "'.jpg'", ".png, .svg, .pdf"]),
    ("figure", ["--out figure", "no suffix", ".png"]),
    ("x.PNG.txt", ["'.txt'"]),
    ("somedir", ["--out somedir", "a directory"]),
], ids=["jpg", "no-suffix", "txt", "a-directory"])
def test_predict_refuses_an_output_it_cannot_write_before_any_work(tmp_path, experiment, out,
                                                                      needles):
    exp = _copy(experiment, tmp_path)
    (tmp_path / "somedir").mkdir()
    before, cwd_before = snapshot(exp), sorted(p.name for p in tmp_path.iterdir())
    proc = sweep("predict", "--experiment", exp, "--index", "0", "--out", out, cwd=tmp_path)
    check_error(proc, 2, needles)
    assert proc.stdout == ""  # refused before the model ran: no prediction printed
    assert snapshot(exp) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == cwd_before


def test_predict_accepts_every_suffix_it_names(tmp_path, experiment):
    for suffix, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")):
        out = tmp_path / f"p{suffix}"
        proc = sweep("predict", "--experiment", experiment, "--index", "0", "1", "--out", out,
                     cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert out.read_bytes().lstrip()[:len(magic)] == magic


@pytest.mark.parametrize("args, needles", [
    (["--wrong", "1000"], ["--wrong 1000", "between 1 and 100"]),
    (["--index", *map(str, range(101))], ["--index", "101 images", "at most 100"]),
], ids=["wrong-1000", "index-101"])
def test_predict_refuses_a_figure_of_too_many_images(tmp_path, experiment, args, needles):
    exp = _copy(experiment, tmp_path)
    before = snapshot(exp)
    proc = sweep("predict", "--experiment", exp, *args, cwd=tmp_path)
    check_error(proc, 2, needles)
    assert snapshot(exp) == before


# ----------------------------------------------------------- a hostile user of train

def _dangling(tmp_path: Path) -> Path:
    (tmp_path / "link").symlink_to(tmp_path / "nowhere" / "X")
    return tmp_path / "link"


def _a_file(tmp_path: Path) -> Path:
    (tmp_path / "afile").write_text("mine")
    return tmp_path / "afile"


def _symlink_loop(tmp_path: Path) -> Path:
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    return tmp_path / "loop1"


HOSTILE_TRAIN = [
    ("out-is-a-file", ["--out", _a_file], 2, ["afile", "not a directory"]),
    ("out-dangling-link", ["--out", _dangling], 2, ["link", "symbolic link to nothing"]),
    ("out-name-too-long", ["--out", lambda t: t / "made" / ("x" * 300) / "X"], 1,
     ["File name too long"]),
    ("data-dir-symlink-loop", ["--data-dir", _symlink_loop, "--out", "X"], 2,
     ["loop1", "cannot resolve"]),
    ("batch-norm-batch-of-1", ["--batch-size", 1, "--out", "X"], 2,
     ["training.batch_size", "at least 2"]),
    ("last-batch-of-1", ["--train-limit", 129, "--batch-size", 128, "--out", "X"], 2,
     ["129 training images in batches of 128", "batch of 1"]),
    ("one-training-image", ["--train-limit", 1, "--out", "X"], 2, ["batch of 1"]),
]


@pytest.mark.parametrize("args, code, needles", [c[1:] for c in HOSTILE_TRAIN],
                         ids=[c[0] for c in HOSTILE_TRAIN])
def test_train_refuses_hostile_input(tmp_path, tiny_idx_dir, args, code, needles):
    work = tmp_path / "work"
    work.mkdir()
    argv = [a(work) if callable(a) else a for a in args]
    if "--data-dir" not in argv:
        argv = ["--data-dir", tiny_idx_dir, *argv]
    before = snapshot(work)
    proc = sweep("train", *TINY_TRAIN, *argv, cwd=work)
    check_error(proc, code, needles)
    assert snapshot(work) == before  # nothing made, nothing changed


def test_train_into_a_name_that_is_not_utf8(tmp_path, tiny_idx_dir):
    out = b"caf\xe9-run"  # a Latin-1 name on a UTF-8 system
    argv = [sys.executable, "-m", "sweep", "train", *map(str, TINY_TRAIN), "--data-dir",
            str(tiny_idx_dir), "--epochs", "1", "--out", out]
    proc = subprocess.run(argv, cwd=tmp_path, env=sweep_env(), capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith(b"-> " + out)  # the name as it is, byte for byte
    assert (tmp_path / os.fsdecode(out) / "metrics.json").is_file()


def test_train_killed_half_way_leaves_whole_files_and_a_refusing_folder(tmp_path,
                                                                          tiny_idx_dir):
    out = tmp_path / "X"
    run = Running("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--epochs", 3, "--out",
                  out, cwd=tmp_path, log=tmp_path / "killed", faults={"SWEEP_FAULT_SLEEP": 3})
    try:
        wait_for(lambda: (out / "history.csv").exists(), 60, "the first epoch")
        run.signal(signal.SIGKILL)
        run.wait(30)
    finally:
        run.close()
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] == 3
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,lr_end,") and len(rows) >= 2
    assert not list(out.rglob(".*.tmp")), list(out.rglob("*"))
    before = snapshot(out)
    proc = sweep("predict", "--experiment", out, "--index", "0", cwd=tmp_path)
    check_error(proc, 2, ["checkpoint"])
    proc = sweep("train", "--config", out / "config.json", "--out", out, cwd=tmp_path)
    check_error(proc, 2, ["not empty"])  # the dead run's lock went with it
    assert snapshot(out) == before


def test_train_interrupted_in_its_first_epoch_leaves_nothing(tmp_path, tiny_idx_dir):
    out = tmp_path / "runs" / "X"
    (tmp_path / "log").mkdir()
    run = Running("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--out", out,
                  cwd=tmp_path, log=tmp_path / "log" / "int", faults={"SWEEP_FAULT_SLEEP": 5})
    try:
        wait_for(lambda: (out / "config.json").exists(), 60, "the run's config.json")
        run.signal(signal.SIGINT)
        assert run.wait(30) == 130, run.output()
    finally:
        run.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log"]


# --------------------------------------------------------- a hostile user of predict

def _overflowing_weights(exp: Path) -> None:
    path = exp / "checkpoints" / "best.npz"
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["W0"][...] = 3e38  # finite, but every product overflows float32
    np.savez(path, **arrays)


def _checkpoint_is_dev_zero(exp: Path) -> None:
    (exp / "checkpoints" / "best.npz").unlink()
    (exp / "checkpoints" / "best.npz").symlink_to("/dev/zero")


def _data_dir_gone(exp: Path) -> None:
    config = json.loads((exp / "config.json").read_text())
    config["data"]["data_dir"] = str(exp / "gone")
    (exp / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("spoil, needles", [
    (_overflowing_weights, ["non-finite probabilities"]),
    (_checkpoint_is_dev_zero, ["checkpoint"]),
    (_data_dir_gone, ["gone", "not a directory"]),
], ids=["overflowing-weights", "checkpoint-is-dev-zero", "data-dir-gone"])
def test_predict_refuses_hostile_experiments(tmp_path, experiment, spoil, needles):
    exp = _copy(experiment, tmp_path)
    spoil(exp)
    before = snapshot(exp)
    proc = sweep("predict", "--experiment", exp, "--index", "0", cwd=tmp_path)
    check_error(proc, 2, needles)
    assert "Warning" not in proc.stderr, proc.stderr
    assert snapshot(exp) == before


# ------------------------------------------------- read-only and full file systems

@pytest.fixture
def tmpfs(tmp_path):
    """Mount a real tmpfs (``options`` e.g. "ro" or "size=64k") on a new folder."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        target = tmp_path / name
        target.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount here ({proc.stderr.strip()}): needs root and mount(8)")
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_train_into_a_read_only_file_system(tmp_path, tiny_idx_dir, tmpfs):
    ro = tmpfs("ro", "ro")
    proc = sweep("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--out", ro / "a" / "X",
                 cwd=tmp_path)
    check_error(proc, 1, ["Read-only file system", str(ro / "a")])
    assert list(ro.iterdir()) == []


def test_train_onto_a_disk_that_fills(tmp_path, tiny_idx_dir, tmpfs):
    disk = tmpfs("disk", "size=64k")  # config and history fit; the checkpoints do not
    proc = sweep("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--hidden-size", 64,
                 "--out", disk / "X", cwd=tmp_path)
    check_error(proc, 1, ["No space left on device", str(disk / "X")])
    for path in (disk / "X").rglob("*"):
        assert not path.name.endswith(".tmp"), path
        if path.suffix == ".json":
            json.loads(path.read_text())  # whole, or not there


def test_predict_into_a_read_only_experiment(tmp_path, experiment, tmpfs):
    ro = tmpfs("ro", "size=8m")
    exp = ro / "exp"
    shutil.copytree(experiment, exp)
    subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
    proc = sweep("predict", "--experiment", exp, "--index", "0", cwd=tmp_path)
    check_error(proc, 1, ["Read-only file system", str(exp / "predictions")])
    proc = sweep("predict", "--experiment", exp, "--index", "0", "--out", tmp_path / "p.png",
                 cwd=tmp_path)
    assert proc.returncode == 0 and (tmp_path / "p.png").is_file(), proc.stderr
