"""Shared fixtures for the sweep tests: the CLI in this process and as a real process,
and small studies.

`cli` calls the command line's ``main`` in this process (no subprocess: for usage
errors, parsing and the reading commands); `sweep_cli` starts ``python -m sweep`` as a
real process, for what needs one (workers, signals, exit). `made_study` is a finished
study written through Optuna in this process (tests/sweep/studies.py), for tests that
only read one. The real studies here are real ``python -m sweep run`` on the tiny IDX
dataset (1000 train / 200 validation / 300 test images) with a real Optuna
JournalStorage: the session-scoped `main_study` runs one 2-worker study once, and the
tests that read it share it; they are all `slow`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest

from sweep.study.paths import StudyPaths
from sweep.study.settings import settings_record
from sweep.study.storage import open_storage
from tests.sweep.faults.harness import BLAS_VARS, sweep_env  # noqa: F401  (BLAS_VARS: for importers)
from tests.sweep.postgres import Cluster, running_cluster
from tests.sweep.studies import finished_study

# hidden_size capped at 512: the classic configuration still fits, training stays quick
SMALL_SPACE = "[params.hidden_size]\nhigh = 512\n"
# hidden_size capped at 64: the classic 512 falls outside the space
NARROW_SPACE = "[params.hidden_size]\nhigh = 64\n"

MAIN_TRIALS = 6
MAIN_JOBS = 2
MAIN_EPOCHS = 2

Sweep = Callable[..., subprocess.CompletedProcess]


def run_sweep(*args: object, cwd: Path, env: dict[str, str] | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m sweep ARGS`` in a fresh process running this checkout's code; never
    inherits BLAS, storage or fault settings (`faults.harness.sweep_env`)."""
    return subprocess.run([sys.executable, "-m", "sweep", *map(str, args)], cwd=cwd,
                          env=sweep_env() | (env or {}), capture_output=True, text=True,
                          timeout=timeout)


STUDY_VARS = ("SWEEP_STORAGE", "SWEEP_STUDY", "SWEEP_STUDIES_DIR")
Cli = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The command line in this process: ``cli(*ARGS, env=..., cwd=...)`` calls
    ``sweep.commands.cli.main(ARGS)`` and gives its exit code (argparse's SystemExit
    included), stdout and stderr as a CompletedProcess, as `sweep_cli` does. No study
    variable of the environment is inherited; ``env`` and ``cwd`` hold for the call."""
    from sweep.commands.cli import main

    for name in STUDY_VARS:
        monkeypatch.delenv(name, raising=False)

    def call(*args: object, env: dict[str, str] | None = None,
             cwd: Path | None = None) -> subprocess.CompletedProcess:
        argv = [str(a) for a in args]
        capsys.readouterr()
        with monkeypatch.context() as m:
            for key, value in (env or {}).items():
                m.setenv(key, value)
            if cwd is not None:
                m.chdir(cwd)
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(argv, code, out, err)

    return call


@pytest.fixture
def made_study(tmp_path: Path) -> Path:
    """A finished 3-trial study "done" in ``tmp_path/studies``, written in this process
    (tests/sweep/studies.py): its folder."""
    return finished_study(tmp_path / "studies", "done", trials=3)


@pytest.fixture(scope="session")
def sweep_cli(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """Run the CLI as a subprocess (in a scratch cwd unless ``cwd=`` is given)."""
    scratch = tmp_path_factory.mktemp("cwd")

    def run(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
        return run_sweep(*args, cwd=cwd or scratch, env=env, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A throw-away PostgreSQL server on 127.0.0.1 for the session, stopped at the end
    (also when a test fails). Skips only where PostgreSQL or its driver is missing."""
    yield from running_cluster(Cluster)


@pytest.fixture(scope="session")
def data_args(tiny_idx_dir: Path) -> list[str]:
    return ["--dataset", "idx", "--data-dir", str(tiny_idx_dir)]


def space_file(factory: pytest.TempPathFactory, name: str, text: str) -> Path:
    path = factory.mktemp("spaces") / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def small_space(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return space_file(tmp_path_factory, "small", SMALL_SPACE)


@pytest.fixture(scope="session")
def narrow_space(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return space_file(tmp_path_factory, "narrow", NARROW_SPACE)


def load_optuna(studies_dir: Path, name: str) -> optuna.Study:
    """The study straight from its storage, through Optuna alone."""
    paths = StudyPaths.of(studies_dir, name)
    return optuna.load_study(study_name=name, storage=open_storage(paths.journal))


def error_lines(text: str) -> list[str]:
    """The lines of stderr that are the CLI's error message (warnings left out)."""
    return [line for line in text.splitlines() if ": error: " in line]


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """Exit ``code``, exactly one error line naming every needle, nothing on stdout."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def one_clear_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """A refused command: exit 1 or 2, one error line naming every needle, no traceback
    and no raw OS error text such as "[Errno 17] File exists"."""
    assert proc.returncode in (1, 2), (proc.returncode, proc.stdout, proc.stderr)
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "[Errno" not in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def check_error() -> Callable[..., str]:
    return assert_one_line_error


@pytest.fixture
def open_optuna() -> Callable[[Path, str], optuna.Study]:
    return load_optuna


@dataclass(frozen=True)
class StudyRun:
    studies_dir: Path
    name: str
    proc: subprocess.CompletedProcess
    seconds: float
    trials: int
    jobs: int
    epochs: int

    @property
    def root(self) -> Path:
        return self.studies_dir / self.name

    def optuna(self) -> optuna.Study:
        return load_optuna(self.studies_dir, self.name)


@pytest.fixture(scope="session")
def main_study(sweep_cli: Sweep, data_args: list[str], small_space: Path,
               tmp_path_factory: pytest.TempPathFactory) -> StudyRun:
    """One 6-trial study, 2 workers, 2 epochs, pruner none, run once per session."""
    studies = tmp_path_factory.mktemp("main-studies")
    started = time.monotonic()
    proc = sweep_cli("run", "--trials", MAIN_TRIALS, "--jobs", MAIN_JOBS,
                     "--epochs", MAIN_EPOCHS, *data_args, "--space", small_space,
                     "--pruner", "none", "--studies-dir", studies, "--study", "main",
                     "--no-report", "--quiet")
    run = StudyRun(studies, "main", proc, time.monotonic() - started, MAIN_TRIALS, MAIN_JOBS,
                   MAIN_EPOCHS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return run


@dataclass(frozen=True)
class ResumedStudy:
    """A study run with --trials 3, then --trials 6 (options left out), then --trials 6."""

    studies_dir: Path
    name: str
    first: subprocess.CompletedProcess
    second: subprocess.CompletedProcess
    third: subprocess.CompletedProcess
    after_first: list[tuple[int, str]]  # (number, state) of the trials after the first run
    dirs_after_first: list[str]
    meta_after_first: str  # study.json after the first run
    settings_after_first: dict
    journal_after_second: bytes

    @property
    def root(self) -> Path:
        return self.studies_dir / self.name

    def optuna(self) -> optuna.Study:
        return load_optuna(self.studies_dir, self.name)


@pytest.fixture(scope="session")
def resumed_study(sweep_cli: Sweep, data_args: list[str], narrow_space: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> ResumedStudy:
    studies = tmp_path_factory.mktemp("resume-studies")
    where = ["--studies-dir", studies, "--study", "resume", "--no-report", "--quiet",
             "--no-plots"]
    first = sweep_cli("run", "--trials", 3, "--jobs", 2, "--epochs", 2, *data_args,
                      "--space", narrow_space, *where)
    assert first.returncode == 0, first.stdout + first.stderr
    study = load_optuna(studies, "resume")
    after_first = [(t.number, t.state.name) for t in study.get_trials()]
    dirs = sorted(p.name for p in (studies / "resume" / "trials").iterdir())
    meta = (studies / "resume" / "study.json").read_text()
    settings = dict(settings_record(study))
    # every study option left out: they must come from the stored settings
    second = sweep_cli("run", "--trials", 6, "--jobs", 2, *where)
    assert second.returncode == 0, second.stdout + second.stderr
    journal = (studies / "resume" / "journal.log").read_bytes()
    third = sweep_cli("run", "--trials", 6, "--jobs", 2, *where)
    return ResumedStudy(studies, "resume", first, second, third, after_first, dirs, meta,
                        settings, journal)


@pytest.fixture(scope="session")
def five_trial_study(data_args: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The studies folder of a finished 5-trial study "c" (2 workers, 2 epochs, hidden_size
    16-48, no pruning), made once per session for the confirm tests and the report's seed-
    noise tests. Never written to: every user takes a copy (`copy_study`)."""
    from tests.sweep.faults.harness import sweep

    studies = tmp_path_factory.mktemp("five-trial-studies")
    space = studies / "space.toml"
    space.write_text("[params.hidden_size]\nlow = 16\nhigh = 48\n")
    proc = sweep("run", "--trials", 5, "--jobs", 2, "--epochs", 2, *data_args, "--space", space,
                 "--pruner", "none", "--studies-dir", studies, "--study", "c", "--no-report",
                 "--no-plots", "--quiet", cwd=studies)
    assert proc.returncode == 0, proc.stderr
    return studies


def copy_study(studies: Path, to: Path) -> Path:
    """A copy of the studies folder ``studies`` at ``to`` (for tests that write into it)."""
    shutil.copytree(studies, to)
    return to


@pytest.fixture(scope="session")
def tiny_space(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small networks and few steps: a trial takes a fraction of a second of CPU."""
    from tests.sweep.faults.harness import TINY_SPACE

    return space_file(tmp_path_factory, "tiny", TINY_SPACE)


@pytest.fixture(scope="session")
def run_args(data_args: list[str], tiny_space: Path):
    """The arguments of a quick ``sweep run`` on the tiny data and space, no pruning."""
    def make(studies: Path, name: str, trials: int, jobs: int = 2, epochs: int = 1,
             space_file: Path | None = None) -> list[object]:
        return ["run", "--trials", trials, "--jobs", jobs, "--epochs", epochs, *data_args,
                "--space", space_file or tiny_space, "--pruner", "none", "--studies-dir",
                studies, "--study", name, "--no-report", "--no-plots", "--quiet"]

    return make


@pytest.fixture
def tiny_run(sweep_cli: Sweep, tiny_idx_dir: Path, tiny_space: Path, tmp_path: Path):
    """``tiny_run(name, trials, *more)``: a real ``python -m sweep run`` of 1-epoch trials
    on the tiny data, one worker, into ``tmp_path/studies``; its CompletedProcess."""
    def run(name: str, trials: int, *more: object, studies: Path | None = None,
            timeout: float = 240) -> subprocess.CompletedProcess:
        return sweep_cli("run", "--trials", trials, "--jobs", 1, "--epochs", 1,
                         "--dataset", "idx", "--data-dir", tiny_idx_dir,
                         "--space", tiny_space, "--pruner", "none", "--no-report",
                         "--quiet", "--studies-dir", studies or tmp_path / "studies",
                         "--study", name, *more, cwd=tmp_path, timeout=timeout)
    return run


@pytest.fixture
def mounts() -> Iterator[Callable[..., None]]:
    """``mounts(*ARGS)``: ``mount ARGS`` (a real tmpfs, a remount read-only), unmounted
    when the test ends; the test is skipped where mount(8) is not allowed (not root)."""
    done: list[Path] = []

    def mount(*args: str) -> None:
        proc = subprocess.run(["mount", *args], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount here ({proc.stderr.strip()}): this test needs root "
                        "and mount(8) to make a real full or read-only file system")
        if Path(args[-1]) not in done:
            done.append(Path(args[-1]))

    yield mount
    for target in reversed(done):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)
