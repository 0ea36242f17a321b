"""A study opens in a real optuna-dashboard: its JSON API has the study, the metric name,
every trial's params and intermediate values, and the figures and best checkpoint the
workers uploaded as artifacts, byte for byte."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.sweep.faults.harness import wait_for

pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is not installed (the test "
                    "extra has it)")

pytestmark = pytest.mark.slow

TRIALS = 3
EPOCHS = 2
FIGURES = {"learning_curves.png", "confusion_matrix.png", "per_class_f1.png",
           "misclassified.png"}

# the local server must be reached directly, whatever proxy the environment names
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with _OPENER.open(url, timeout=10) as response:
        return response.read()


def _answers(url: str) -> bool:
    try:
        _get(url)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
    return True


@pytest.fixture
def dashboard_study(sweep_cli, data_args, tiny_space, tmp_path):
    """A 3-trial study with every trial's figures, and optuna-dashboard serving it on
    127.0.0.1."""
    studies = tmp_path / "studies"
    proc = sweep_cli("run", "--trials", TRIALS, "--jobs", 2, "--epochs", EPOCHS, *data_args,
                     "--space", tiny_space, "--pruner", "none", "--studies-dir", studies,
                     "--study", "dash", "--plots", "all", "--no-report", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = studies / "dash"
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "from optuna_dashboard._cli import main; main()",
         str(root / "journal.log"), "--artifact-dir", str(root / "artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--server", "wsgiref", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: server.poll() is not None or _answers(base + "/api/studies"), 60,
                 "optuna-dashboard to answer", interval=0.2)
        assert server.poll() is None, server.communicate()[0]
        yield root, base
    finally:
        server.terminate()
        server.wait(15)


def test_the_dashboard_shows_the_study_its_trials_and_their_artifacts(dashboard_study,
                                                                       open_optuna):
    root, base = dashboard_study
    stored = open_optuna(root.parent, "dash")
    studies = json.loads(_get(base + "/api/studies"))["study_summaries"]
    assert [s["study_name"] for s in studies] == ["dash"]
    study_id = studies[0]["study_id"]
    detail = json.loads(_get(f"{base}/api/studies/{study_id}"))
    assert detail["name"] == "dash"
    assert detail["directions"] == ["maximize"]
    assert detail["objective_names"] == ["value"]

    by_number = {t["number"]: t for t in detail["trials"]}
    assert sorted(by_number) == list(range(TRIALS))
    for trial in stored.get_trials():
        shown = by_number[trial.number]
        assert shown["state"] == "Complete"
        assert {p["name"]: p["param_external_value"] for p in shown["params"]} == \
            {k: str(v) for k, v in trial.params.items()}
        assert [(v["step"], v["value"]) for v in shown["intermediate_values"]] == \
            sorted(trial.intermediate_values.items())
        assert [v["step"] for v in shown["intermediate_values"]] == list(range(1, EPOCHS + 1))
        assert shown["values"] == [trial.value]
        attrs = {a["key"]: a["value"] for a in shown["user_attrs"]}
        assert attrs["experiment_dir"] == str((root / "trials" / f"{trial.number:04d}")
                                              .resolve())

        # the trial's figures and its best checkpoint, served as the files themselves
        trial_dir = root / "trials" / f"{trial.number:04d}"
        artifacts = {a["filename"]: a for a in shown["artifacts"]}
        assert set(artifacts) == FIGURES | {"best.npz"}, artifacts
        assert artifacts["learning_curves.png"]["mimetype"] == "image/png"
        for name, meta in artifacts.items():
            local = trial_dir / ("checkpoints" if name == "best.npz" else "plots") / name
            served = _get(f"{base}/artifacts/{study_id}/{shown['trial_id']}/"
                          f"{meta['artifact_id']}")
            assert hashlib.sha256(served).digest() == hashlib.sha256(local.read_bytes()).digest()
