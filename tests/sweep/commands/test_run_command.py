"""``sweep run`` refusing bad input, in process: every value of every option is checked
before the run starts a worker or makes a folder, and a bad one is one line naming the
option as it was typed, exit 2, nothing written. (What a run does: execution/; a run
refused after it has made its study: execution/test_session.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.execution.jobs import cores
from sweep.execution.loky_backend import LokyBackend

SPACES = {
    "low-above-high": "[params.lr]\nlow = 1.0\nhigh = 0.1\n",
    "log-nonpositive": "[params.lr]\nlow = 0.0\nhigh = 0.1\nlog = true\n",
    "unknown-setting": "[params.nosuch]\nlow = 1\nhigh = 2\n",
    "wrong-type": '[params.hidden_size]\nlow = "big"\n',
    "wrong-type-fixed": '[fixed]\nepochs = "ten"\n',
    "bad-toml": "[params.lr\nlow = 1\n",
    "out-of-range": "[params.dropout]\nlow = 0.0\nhigh = 1.5\n",
    "sampled-and-fixed": "[params.lr]\nlow = 0.01\nhigh = 0.1\n[fixed]\nlr = 0.05\n",
    "fixed-twice": "[fixed]\nlr = 0.1\n\"training.lr\" = 0.2\n",
    "fixed-seed": "[fixed]\nseed = 3\n",
    "sampled-seed": "[params.seed]\ntype = \"int\"\nlow = 1\nhigh = 100\n",
}

# (id, the options after good ones (argparse keeps the last), needles of the error line)
BAD = [
    ("sampler", ["--sampler", "bogus"], ["--sampler", "bogus", "tpe"]),
    ("pruner", ["--pruner", "bogus"], ["--pruner", "bogus", "median"]),
    ("dataset", ["--dataset", "cifar"], ["cifar"]),
    ("trials-0", ["--trials", "0"], ["--trials 0"]),
    ("trials-negative", ["--trials", "-3"], ["--trials"]),
    ("jobs-0", ["--jobs", "0"], ["--jobs 0"]),
    ("jobs-negative", ["--jobs", "-1"], ["--jobs"]),
    ("jobs-word", ["--jobs", "many"], ["--jobs", "many", "auto"]),
    ("jobs-fraction", ["--jobs", "1.5"], ["--jobs", "1.5"]),
    ("threads-0", ["--threads", "0"], ["--threads", "0"]),
    ("threads-word", ["--threads", "all"], ["--threads", "all"]),
    # 10**30 made every worker die at start-up (threadpoolctl's C int overflows) and the
    # run started replacements for ever; 99999 ran OpenBLAS with 64 threads on 2 cores
    ("threads-above-the-cores", ["--threads", str(cores() + 1)], ["--threads", "at most"]),
    ("threads-99999", ["--threads", "99999"], ["--threads 99999"]),
    ("threads-10**30", ["--threads", str(10**30)], ["--threads", str(10**30)]),
    ("plots-contradicts-no-plots", ["--no-plots", "--plots", "all"],
     ["--no-plots", "--plots all"]),
    ("plots-unknown", ["--plots", "some"], ["--plots", "some"]),
    ("epochs-0", ["--epochs", "0"], ["--epochs 0"]),
    ("epochs-negative", ["--epochs", "-2"], ["--epochs"]),
    ("train-limit-0", ["--train-limit", "0"], ["--train-limit 0"]),
    ("seed-negative", ["--seed", "-1"], ["--seed -1"]),
    ("seed-2**32", ["--seed", "4294967296"], ["--seed 4294967296"]),
    ("timeout-word", ["--timeout", "soon"], ["--timeout", "soon"]),
    ("timeout-0", ["--timeout", "0"], ["--timeout", "positive"]),
    ("timeout-unit", ["--timeout", "5x"], ["--timeout", "5x"]),
    ("timeout-negative", ["--timeout=-5m"], ["--timeout", "-5m"]),
    ("timeout-huge", ["--timeout", "99999999999999999999h"], ["--timeout"]),
    ("stall-timeout-0", ["--stall-timeout", "0s"], ["--stall-timeout"]),
    ("lag-negative", ["--lag", "-1"], ["--lag -1:"]),
    ("lag-word", ["--lag", "abc"], ["--lag abc:"]),
    ("lag-too-long", ["--lag", "10001"], ["--lag 10001:"]),
    ("lag-fraction", ["--lag", "4.5"], ["--lag 4.5:"]),
    ("lag-empty", ["--lag", ""], ["--lag :"]),
    ("study-dotdot", ["--study", "../../etc"], ["--study", "../../etc"]),
    ("study-slash", ["--study", "a/b"], ["--study", "a/b"]),
    ("study-hidden", ["--study", ".hidden"], ["--study", ".hidden"]),
    ("study-newline", ["--study", "name\n"], ["--study"]),
    ("backend-without-scheduler", ["--backend", "dask"], ["--backend dask needs --scheduler"]),
    ("scheduler-without-backend", ["--scheduler", "tcp://x:8786"],
     ["--scheduler: only with --backend dask"]),
    ("scheduler-not-an-address", ["--backend", "dask", "--scheduler", "nonsense"],
     ["--scheduler nonsense: not a scheduler address"]),
    ("scheduler-tls", ["--backend", "dask", "--scheduler", "tls://127.0.0.1:8786"],
     ["--scheduler tls://127.0.0.1:8786: not a scheduler address"]),
    ("scheduler-port-out-of-range", ["--backend", "dask", "--scheduler", "tcp://127.0.0.1:99999"],
     ["port 99999 is outside 1-65535"]),  # hostile tester 7: a 5 s time-out before
    ("explore-and-tpe", ["--explore", "--sampler", "tpe"],
     ["--explore means --sampler qmc", "--sampler tpe"]),
    ("space-low-above-high", ["--space", "SPACE:low-above-high"], ["params.lr", "above"]),
    ("space-log-nonpositive", ["--space", "SPACE:log-nonpositive"], ["params.lr", "log"]),
    ("space-unknown-setting", ["--space", "SPACE:unknown-setting"], ["nosuch"]),
    ("space-wrong-type", ["--space", "SPACE:wrong-type"], ["hidden_size", "number"]),
    ("space-wrong-type-fixed", ["--space", "SPACE:wrong-type-fixed"], ["epochs", "ten"]),
    ("space-bad-toml", ["--space", "SPACE:bad-toml"], ["--space", "TOML"]),
    ("space-out-of-range", ["--space", "SPACE:out-of-range"], ["dropout"]),
    # a setting both sampled and fixed was accepted, the [fixed] value silently winning
    ("space-sampled-and-fixed", ["--space", "SPACE:sampled-and-fixed"], ["lr"]),
    ("space-fixed-twice", ["--space", "SPACE:fixed-twice"], ["lr", "twice"]),
    ("space-fixed-seed", ["--space", "SPACE:fixed-seed"], ["seed", "--seed"]),
    ("space-sampled-seed", ["--space", "SPACE:sampled-seed"], ["params.seed", "--seed"]),
    ("space-missing-file", ["--space", "SPACE:missing"], ["no-such-space.toml"]),
    ("space-endless-device", ["--space", "/dev/zero"], ["/dev/zero", "not a regular file"]),
    ("space-too-large", ["--space", "SPACE:huge"], ["huge.toml", "KiB"]),
]


@pytest.fixture
def no_workers(monkeypatch):
    """A refused run must refuse before its first worker starts."""
    def started(*args: object) -> None:
        raise AssertionError("a worker was started for a run that was to be refused")

    monkeypatch.setattr(LokyBackend, "prestart", started)


def spaces(folder: Path) -> dict[str, Path]:
    made = {}
    for name, text in SPACES.items():
        made[f"SPACE:{name}"] = folder / f"{name}.toml"
        made[f"SPACE:{name}"].write_text(text)
    made["SPACE:missing"] = folder / "no-such-space.toml"
    made["SPACE:huge"] = folder / "huge.toml"
    with open(made["SPACE:huge"], "wb") as f:
        f.write(b"# " + b"x" * (2 << 20) + b"\n")
    return made


@pytest.mark.parametrize(("option", "needles"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_bad_option_is_one_line_and_makes_nothing(option, needles, tmp_path, cli, check_error,
                                                    no_workers):
    files = spaces(tmp_path)
    studies = tmp_path / "studies"
    proc = cli("run", "--trials", 1, "--epochs", 1, "--study", "ok", "--dataset", "idx",
               "--data-dir", tmp_path / "data", "--studies-dir", studies, "--no-report",
               *[files.get(o, o) for o in option], cwd=tmp_path)
    check_error(proc, 2, *needles)
    assert proc.stdout == ""
    assert not studies.exists() or not any(studies.iterdir()), list(studies.rglob("*"))
    assert not (tmp_path / "etc").exists()


def test_a_usage_error_never_echoes_what_followed_an_unknown_option(cli, check_error):
    """argparse quotes the arguments it did not recognise; one can be a password."""
    proc = cli("run", "--trials", 1, "--storgae", "postgresql://u:s3cret@h/db")
    line = check_error(proc, 2, "unrecognized arguments: --storgae", "(see --help)")
    assert "s3cret" not in proc.stderr and "postgresql" not in line
    proc = cli("run", "--trials", 1, "postgresql://u:s3cret@h/db")
    check_error(proc, 2, "1 extra argument(s)")
    assert "s3cret" not in proc.stderr


def test_trials_is_required_and_names_itself(cli, check_error):
    check_error(cli("run"), 2, "--trials")


def test_a_dangling_symlink_as_studies_folder_is_named(tmp_path, cli, check_error, no_workers):
    link = tmp_path / "studies"
    link.symlink_to(tmp_path / "gone")
    proc = cli("run", "--trials", 1, "--studies-dir", link, cwd=tmp_path)
    check_error(proc, 2, str(link), "does not exist")
    assert not (tmp_path / "gone").exists()
