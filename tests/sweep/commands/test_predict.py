"""``sweep predict`` (sweep/commands/predict.py), in process on a network trained once for
the module: its predictions and figures, and every experiment, checkpoint and output it
refuses before any work, without unpickling anything or writing into the experiment.
In a real process: a 3 GB member hidden in a small checkpoint, with its peak memory."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mlp.checkpoint import CheckpointError, load_checkpoint
from mlp.data import load_dataset
from mlp.experiment import load_experiment
from mlp.network import MLP
from mlp.train import evaluate
from tests.sweep.commands.conftest import snapshot
from tests.sweep.conftest import error_lines
from tests.sweep.faults.harness import sweep_env


class Evil:
    """Unpickling this creates a marker file: proof that pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.mkdir, (self.marker,))


def check_error(proc: subprocess.CompletedProcess, code: int, needles: list[object]) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, (proc.returncode, out)
    assert "Traceback" not in out, out
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, f"expected one error line:\n{proc.stderr}"
    for needle in needles:
        assert str(needle) in lines[0], (needle, lines[0])


@pytest.fixture(scope="module")
def tiny(tiny_idx_dir):
    return load_dataset("idx", data_dir=tiny_idx_dir)


def _copy(experiment: Path, tmp_path: Path) -> Path:
    exp = tmp_path / "exp"
    shutil.copytree(experiment, exp)
    return exp


# ---------------------------------------------------------------------------- predictions

def test_predict_one_image(experiment, tmp_path, tiny, cli):
    exp = _copy(experiment, tmp_path)
    proc = cli("predict", "--experiment", exp, "--index", "0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    png = exp / "predictions" / "index-0.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = load_experiment(exp, tiny).model
    _, _, probs = evaluate(model, tiny.test_x, tiny.test_y.astype(np.intp))
    expected = f"test #0: predicted {probs[0].argmax()} ({probs[0].max():.1%}), " \
               f"true {tiny.test_y[0]}"
    assert expected in proc.stdout, proc.stdout
    assert f"figure: {png}" in proc.stdout


def test_predict_takes_every_index_given(experiment, tmp_path, cli):
    """Hostile tester 18 (unsure): ``--index 1 --index 2`` kept only the last; a repeated
    --index adds its images, as ``--index 1 2`` does."""
    out = tmp_path / "two.png"
    proc = cli("predict", "--experiment", experiment, "--index", "1", "--index", "2", "3",
               "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [int(i) for i in re.findall(r"^test #(\d+): ", proc.stdout, re.M)] == [1, 2, 3]


def test_predict_misclassified_grid(experiment, tiny, tmp_path, cli):
    out = tmp_path / "grid.png"
    proc = cli("predict", "--experiment", experiment, "--wrong", "4", "--out", out,
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = load_experiment(experiment, tiny).model
    _, _, probs = evaluate(model, tiny.test_x, tiny.test_y.astype(np.intp))
    wrong = np.flatnonzero(probs.argmax(axis=1) != tiny.test_y)[:4]
    assert len(wrong) == 4  # a 1-epoch net on 1000 images gets many of the test set wrong
    printed = [int(i) for i in re.findall(r"^test #(\d+): .*, WRONG$", proc.stdout, re.M)]
    assert printed == wrong.tolist()


def test_predict_accepts_every_suffix_it_names(tmp_path, experiment, cli):
    for suffix, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")):
        out = tmp_path / f"p{suffix}"
        proc = cli("predict", "--experiment", experiment, "--index", "0", "1", "--out", out,
                   cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert out.read_bytes().lstrip()[:len(magic)] == magic


# ---------------------------------------------------------------------------- refusals

def _no_checkpoint(exp: Path) -> None:
    shutil.rmtree(exp / "checkpoints")


def _only_the_config(exp: Path) -> None:
    for p in exp.iterdir():
        if p.name != "config.json":
            shutil.rmtree(p) if p.is_dir() else p.unlink()


def _hidden_size_edited(exp: Path) -> None:
    config = json.loads((exp / "config.json").read_text())
    config["model"]["hidden_size"] = 24
    (exp / "config.json").write_text(json.dumps(config))


def _not_a_zip(exp: Path) -> None:
    (exp / "checkpoints" / "best.npz").write_bytes(b"not a zip")


def _object_array(exp: Path) -> None:
    path = exp / "checkpoints" / "best.npz"
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    first = sorted(arrays)[0]
    arrays[first] = np.array([Evil(exp / "PICKLE-RAN")], dtype=object)
    np.savez(path, **arrays)


def _not_an_experiment(exp: Path) -> None:
    (exp / "config.json").unlink()


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


def _config_not_json(exp: Path) -> None:
    (exp / "config.json").write_text("{bad")


# (id, spoil, arguments, words of the error, exit code): 2 for the arguments, 1 for an
# experiment whose files are damaged (hostile tester 16: whichever way it is named)
PREDICT_CASES = [
    ("index-out-of-range", None, ["--index", "3", "300"], ["--index 300", "0 to 299"], 2),
    ("index-negative", None, ["--index", "-1"], ["--index -1", "out of range"], 2),
    ("too-many-wrong", None, ["--wrong", "1000"], ["--wrong 1000", "between 1 and 100"], 2),
    ("index-101", None, ["--index", *map(str, range(101))],
     ["--index", "101 images", "at most 100"], 2),
    ("no-checkpoint", _no_checkpoint, ["--index", "0"], ["checkpoint"], 1),
    ("only-the-config", _only_the_config, ["--index", "0"], ["exp", "checkpoint"], 1),
    ("hidden-size-edited", _hidden_size_edited, ["--index", "0"], ["shape"], 1),
    ("not-a-zip", _not_a_zip, ["--index", "0"], ["best.npz"], 1),
    ("object-array", _object_array, ["--index", "0"], ["best.npz"], 1),
    ("not-an-experiment", _not_an_experiment, ["--index", "0"], ["config.json"], 2),
    ("config-not-json", _config_not_json, ["--index", "0"], ["config.json"], 1),
    ("overflowing-weights", _overflowing_weights, ["--index", "0"],
     ["non-finite probabilities"], 1),
    ("checkpoint-is-dev-zero", _checkpoint_is_dev_zero, ["--index", "0"], ["checkpoint"], 1),
    ("data-dir-gone", _data_dir_gone, ["--index", "0"], ["gone", "not a directory"], 2),
]


@pytest.mark.parametrize("spoil, args, needles, code", [c[1:] for c in PREDICT_CASES],
                         ids=[c[0] for c in PREDICT_CASES])
def test_predict_refuses_and_writes_nothing(tmp_path, experiment, spoil, args, needles, code,
                                            cli):
    exp = _copy(experiment, tmp_path)
    if spoil is not None:
        spoil(exp)
    before = snapshot(exp)
    proc = cli("predict", "--experiment", exp, *args, cwd=tmp_path)
    check_error(proc, code, needles)
    assert "Warning" not in proc.stderr, proc.stderr
    assert not (exp / "PICKLE-RAN").exists(), "the checkpoint was unpickled"
    assert snapshot(exp) == before, "predict wrote into the experiment directory"


def test_predict_of_a_missing_experiment(tmp_path, cli):
    check_error(cli("predict", "--experiment", tmp_path / "none", "--index", "0"), 2, ["none"])
    assert list(tmp_path.iterdir()) == []


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


@pytest.mark.parametrize("out, needles", [
    ("x.jpg", ["--out x.jpg", "'.jpg'", ".png, .svg, .pdf"]),
    ("figure", ["--out figure", "no suffix to name an image format", ".png"]),
    ("x.PNG.txt", ["'.txt'"]),
    ("somedir", ["--out somedir", "a directory"]),
], ids=["jpg", "no-suffix", "txt", "a-directory"])
def test_predict_refuses_an_output_it_cannot_write_before_any_work(tmp_path, experiment, out,
                                                                      needles, cli):
    exp = _copy(experiment, tmp_path)
    (tmp_path / "somedir").mkdir()
    before, cwd_before = snapshot(exp), sorted(p.name for p in tmp_path.iterdir())
    proc = cli("predict", "--experiment", exp, "--index", "0", "--out", out, cwd=tmp_path)
    check_error(proc, 2, needles)
    assert proc.stdout == ""  # refused before the model ran: no prediction printed
    assert snapshot(exp) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == cwd_before


@pytest.mark.slow  # mounts a tmpfs
def test_predict_into_a_read_only_experiment(tmp_path, experiment, cli):
    ro = tmp_path / "ro"
    ro.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(ro)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({proc.stderr.strip()}): needs root and mount(8)")
    try:
        exp = ro / "exp"
        shutil.copytree(experiment, exp)
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        proc = cli("predict", "--experiment", exp, "--index", "0", cwd=tmp_path)
        check_error(proc, 1, ["Read-only file system", exp / "predictions"])
        proc = cli("predict", "--experiment", exp, "--index", "0", "--out",
                   tmp_path / "p.png", cwd=tmp_path)
        assert proc.returncode == 0 and (tmp_path / "p.png").is_file(), proc.stderr
    finally:
        subprocess.run(["umount", "-l", str(ro)], capture_output=True)


# ------------------------------------------------------------------ in a real process

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


@pytest.mark.slow
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
    check_error(proc, 1, ["best.npz", "'extra'"])  # a damaged file: exit 1
    assert peak < 600 * 2**20, f"predict peaked at {peak / 2**20:.0f} MiB"
    assert snapshot(exp) == before


def test_predict_refuses_index_and_wrong_together(cli, data_args, tmp_path):
    """Hostile tester 10: ``predict --experiment DIR --index 0 --wrong 3`` exits 0 and draws three
    misclassified images (#1, #7, #8 on one network); the asked-for image 0 is silently dropped. The
    help says --wrong is "instead" of --index: given both, the command should refuse
    with one usage line naming them (exit 2), as it does for --study with
    --experiment."""
    exp = tmp_path / "exp"
    trained = cli("train", "--experiment", exp, "--epochs", "1", "--hidden-size", "16",
                  *data_args, "--quiet")
    assert trained.returncode == 0, trained.stderr
    proc = cli("predict", "--experiment", exp, "--index", "0", "--wrong", "3",
               "--out", tmp_path / "both.png")
    assert proc.returncode == 2, (proc.returncode, proc.stdout)
    assert "--index" in proc.stderr and "--wrong" in proc.stderr, proc.stderr
    assert not (tmp_path / "both.png").exists()


@pytest.mark.slow
@pytest.mark.parametrize("spoil", ["config.json damaged", "checkpoint gone"])
def test_a_study_trials_damaged_files_are_the_study_not_the_arguments(tiny_run, sweep_cli,
                                                                       tmp_path, spoil):
    """Hostile tester 15: `predict --trial 0` whose config.json is damaged was exit 2, a
    usage error, though the arguments were right (`plots` and `rerun` say exit 1)."""
    assert tiny_run("p", 1).returncode == 0
    trial = tmp_path / "studies" / "p" / "trials" / "0000"
    if spoil == "config.json damaged":
        (trial / "config.json").write_text('{"x":\n')
    else:
        (trial / "checkpoints" / "best.npz").unlink()
    proc = sweep_cli("predict", "--study", "p", "--studies-dir", tmp_path / "studies",
                     "--trial", 0, "--index", 3, "--out", tmp_path / "p.png", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("sweep predict: error: --trial 0 ("), proc.stderr
    assert not (tmp_path / "p.png").exists()
