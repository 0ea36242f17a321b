"""notebooks/explore_study.ipynb runs top to bottom, headless, against a small study."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="needs the test extra (nbformat)")
nbclient = pytest.importorskip("nbclient", reason="needs the test extra (nbclient)")
pytest.importorskip("ipykernel", reason="needs the test extra (ipykernel)")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "explore_study.ipynb"


def test_the_notebook_has_no_stored_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    source = "\n".join(c.source for c in code)
    # it uses the package's own API rather than copies of it
    for name in ("sweep.load(", "figures.setting_effects(", "prediction_figure(",
                 "load_experiment(", "evaluate(", "results.history(", "results.histories()"):
        assert name in source, name


# what the notebook may import beyond the packages' public names
OUTSIDE = {"os", "warnings", "pathlib", "tempfile", "numpy", "pandas", "IPython.display"}


def test_the_notebook_uses_only_the_public_api():
    """Every name it takes from sweep and mlp is one they export (``__all__``), and
    ``sweep.report`` is used through its exported names only: no private module."""
    import ast

    import mlp
    import sweep
    from sweep import report

    nb = nbformat.read(NOTEBOOK, as_version=4)
    source = "\n".join(line for c in nb.cells if c.cell_type == "code"
                       for line in c.source.splitlines() if not line.startswith("%"))
    public = {"sweep": set(sweep.__all__) | {"report"}, "mlp": set(mlp.__all__),
              "mlp.plots": {"prediction_figure"}}
    used_report = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            names = {a.name for a in node.names}
            if node.module in public:
                assert names <= public[node.module], (node.module, names)
            else:
                assert node.module in OUTSIDE, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name in OUTSIDE | {"sweep"}, alias.name
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "report":
                used_report.add(node.attr)
            if node.value.id == "sweep":
                assert node.attr in sweep.__all__, node.attr
    assert used_report and used_report <= set(report.__all__), used_report - set(report.__all__)


@pytest.mark.slow  # a Jupyter kernel, and the shared real study
def test_the_notebook_runs_against_a_small_study(main_study, monkeypatch, tmp_path):
    monkeypatch.setenv("SWEEP_STUDY", main_study.name)
    monkeypatch.setenv("SWEEP_STUDIES_DIR", str(main_study.studies_dir))
    monkeypatch.delenv("SWEEP_STORAGE", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's scratch figures go here
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # importance, effects, interactions, history, learning curves, cost, confusion,
    # per-class, confused examples, and at least one single prediction
    assert len(images) >= 10, len(images)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"study {main_study.name!r}" in text
    assert "test accuracy" in text
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "<table" in html  # the trials table


@pytest.mark.slow
def test_sweep_run_in_a_real_kernel_shows_its_trials_in_the_cell(tiny_idx_dir, tmp_path):
    """The Python API from a notebook: a real Jupyter kernel runs a small study, and the
    trial lines and the summary land in the cell's output."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import sweep\n"
        f"r = sweep.run('nb', trials=3, jobs=2, epochs=1, dataset='idx', "
        f"data_dir={str(tiny_idx_dir)!r}, pruner='none', "
        "space={'params': {'hidden_size': {'low': 16, 'high': 32}}}, "
        f"studies_dir={str(tmp_path / 'studies')!r}, plots=False, report=False)\n"
        "print('finished', r.counts.finished, 'completed', r.counts.complete)")]
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs
                   if o.output_type == "stream")
    assert "finished 3 completed 3" in text, text
    for number in range(3):  # a row per trial, after the trials table's header
        assert re.search(rf"^\s*{number}\s+complete\s", text, re.M), text
    assert "3 of 3 trials finished" in text
    assert (tmp_path / "studies" / "nb" / "trials" / "0002" / "trial.json").is_file()
