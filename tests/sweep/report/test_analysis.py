"""What the report computes and draws from a study's trials (sweep/report/analysis.py,
figures.py, views.py), in process: accuracy axes that zoom on the completed trials,
interaction cells coloured only where enough trials are, rungs, unexplored ranges, and
the prepared trials table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from optuna.trial import TrialState, create_trial

from sweep.study.results import load
from tests.sweep.studies import add, api_study, sample


def test_accuracy_axis_zooms_past_trials_stopped_early():
    """Completed trials at 97-98.7% and two pruned after an epoch at 28% and 74%: the axis
    spans the completed trials, not 20-100%, and the early ones fall below it (accuracies
    are fractions)."""
    from sweep.report.analysis import acc_limits

    done = np.linspace(0.9699, 0.9870, 23)
    lo, hi = acc_limits(done, [0.281, 0.738, 0.951, 0.982])
    assert 0.960 < lo < 0.9699 and 0.9870 < hi < 0.992, (lo, hi)
    assert hi - lo < 0.10


def test_accuracy_axis_edge_cases():
    from sweep.report.analysis import acc_limits, robust_range

    assert acc_limits([]) == (0.0, 1.0)
    assert acc_limits([np.nan], [np.nan]) == (0.0, 1.0)
    lo, hi = acc_limits([0.985])  # one trial: a narrow axis around it
    assert lo < 0.985 < hi and 0.010 <= hi - lo < 0.03
    lo, hi = acc_limits([], [0.280, 0.950, 0.955, 0.960, 0.962])  # all pruned: they decide
    assert 0.94 < lo < 0.95 and 0.962 < hi < 0.97
    wide = np.linspace(0.60, 0.97, 24)  # a genuinely wide study keeps every completed trial
    assert acc_limits(wide)[0] < 0.60 and robust_range(wide) == (0.60, 0.97)
    lo, _ = acc_limits(np.r_[np.linspace(0.97, 0.987, 20), 0.11])  # a completed outlier
    assert lo > 0.90
    lo, hi = acc_limits([0.992, 0.996, 1.0])  # never far past 100%
    assert lo < 0.992 and 1.0 <= hi <= 1.001


def test_unexplored_stretches_of_a_continuous_range():
    import pandas as pd

    from sweep.report.analysis import unexplored
    from sweep.study.space import load_space

    space = load_space(None)
    dropout = space.param("dropout")  # [0, 0.7]
    df = pd.DataFrame({dropout.column: [0.21, 0.25, 0.3, 0.35, 0.38, 0.66]})
    assert unexplored(dropout, df) == ["below 0.21", "0.38–0.66"]


def test_a_trial_on_a_bound_has_explored_it():
    """Hostile tester 15: hidden_size [16, 32] with a completed trial at 16 was "below
    19" unexplored (the trial on the bound was taken for the bound)."""
    import pandas as pd

    from sweep.report.analysis import unexplored
    from sweep.study.space import space_from_changes

    hidden = space_from_changes({"params": {"hidden_size": {"low": 16, "high": 32}}}) \
        .param("hidden_size")
    at_low = pd.DataFrame({hidden.column: [16, 19, 21, 22, 22, 24, 25, 29]})
    assert unexplored(hidden, at_low) == ["16–19", "25–29"]
    at_high = pd.DataFrame({hidden.column: [17, 18, 19, 20, 21, 22, 23, 24, 32]})
    assert unexplored(hidden, at_high) == ["24–32"]
    only_low = pd.DataFrame({hidden.column: [16]})
    assert unexplored(hidden, only_low) == ["above 16"]


@pytest.fixture(scope="module")
def zoom_study(tmp_path_factory) -> Path:
    """20 completed trials at 97-98.7% and one at 40%, six pruned after one of 4 epochs at
    28-96%, a failed and a diverged one (written through Optuna, no trial directories)."""
    studies = tmp_path_factory.mktemp("zoom-studies")
    study, dists, rng = api_study(studies, "zoom")
    for value in (*np.linspace(0.97, 0.987, 20), 0.40):
        add(study, dists, rng, TrialState.COMPLETE, value=float(value))
    for value in (0.28, 0.74, 0.91, 0.93, 0.95, 0.96):
        params = sample(dists, rng)
        study.add_trial(create_trial(params=params, distributions=dists,
                                     state=TrialState.PRUNED, intermediate_values={1: value},
                                     user_attrs={"reason": "pruned at epoch 1"}))
    add(study, dists, rng, TrialState.FAIL, reason="RuntimeError: boom")
    add(study, dists, rng, TrialState.PRUNED, value=None, diverged=True)
    return studies


def _floor_points(ax) -> int:
    """Markers drawn on the axis floor (in axes coordinates, below the data)."""
    from sweep.report import style

    n = 0
    for c in ax.collections:
        offsets = np.asarray(c.get_offsets())
        if len(offsets) and c.get_offset_transform() == ax.get_xaxis_transform():
            n += int(np.sum(np.isclose(offsets[:, 1], style.FLOOR)))
    return n


@pytest.mark.slow
def test_accuracy_figures_zoom_on_the_completed_trials(zoom_study):
    from sweep.report import figures, prepare

    data = prepare(load("zoom", zoom_study))
    history, cost = figures.optimisation_history(data), figures.cost(data)
    for fig in (history, cost):
        axes = [ax for ax in fig.axes if ax.get_ylabel() and ax.axison]
        assert axes
        for ax in axes:
            lo, hi = ax.get_ylim()
            assert 0.955 < lo < 0.970 and 0.987 < hi < 0.995, (fig.get_suptitle(), lo, hi)
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        # only completed trials have an accuracy on these axes: pruned ones are on the floor
        # with their own marker, not "below" it
        assert any(t.startswith("below ") and t.endswith("(1 completed)") for t in labels), \
            labels
        if fig is not cost:
            assert "pruned (no final accuracy: on the floor)" in labels, labels
        for ax in axes:  # cost: the outlier; else also the pruned, the failed, the diverged
            assert _floor_points(ax) == (1 if fig is cost else 9)
    assert len(history.axes) == 1  # one outlier is no reason for a second, zoomed panel


@pytest.mark.slow
def test_interaction_colours_span_the_cells(zoom_study):
    """Only cells with at least MIN_SUPPORT trials get a colour; the colours span those
    cells, not the outlier; the best trial's cell is outlined in every heatmap."""
    from sweep.report import analyse, figures, prepare
    from sweep.report.analysis import MIN_SUPPORT, interaction_grid, interaction_pairs

    data = prepare(load("zoom", zoom_study))
    pairs = interaction_pairs(data, analyse(data).ranking())
    fig = figures.interactions(data, pairs)
    meshes = [c for ax in fig.axes for c in ax.collections if c.get_array() is not None]
    assert meshes and min(m.get_clim()[0] for m in meshes) > 0.95  # not down to the outlier
    assert all(m.get_clim() == meshes[0].get_clim() for m in meshes)  # one scale for all
    heatmaps = [ax for ax in fig.axes if " × " in ax.get_title()]
    nb = int(np.clip(round(math.sqrt(len(data.completed)) / 1.5), 3, 5))
    for ax, (a, b) in zip(heatmaps, pairs, strict=True):
        mean, count, _, _ = interaction_grid(a, b, data.completed, nb)
        mesh = next(c for c in ax.collections if c.get_array() is not None)
        masked = np.ma.getmaskarray(mesh.get_array()).reshape(count.shape)
        assert (masked == (count < MIN_SUPPORT)).all(), (count, masked)
        assert len([p for p in ax.patches if p.get_hatch()]) == \
            int(((count > 0) & (count < MIN_SUPPORT)).sum())
        shown = mean[count >= MIN_SUPPORT]
        if (shown < mesh.get_clim()[0]).any():
            assert mesh.colorbar is None or mesh.colorbar.extend == "min"
    outlined = [ax for ax in heatmaps
                if any(type(p).__name__ == "Rectangle" and not p.get_fill() and not p.get_hatch()
                       for p in ax.patches)]
    assert heatmaps and outlined == heatmaps  # the best trial's cell, in every heatmap


def test_prepared_trials_are_the_records_table_with_fractions(zoom_study):
    """The report reads the trials table under its own names (no derived copies), with
    Optuna's states, the diverged flag and accuracies as fractions."""
    from sweep.report import prepare

    results = load("zoom", zoom_study)
    data = prepare(results)
    assert list(data.trials.columns) == list(results.trials.columns)
    assert data.settings is results.settings
    assert [p.name for p in data.params] == results.param_names
    assert data.param("lr") == results.settings.space.param("lr")
    assert data.trial_dir(3) == results.trial_dir(3)
    done = data.completed
    assert len(done) == 21 and (done["state"] == "COMPLETE").all()
    assert done["value"].between(0, 1).all() and data.best["value"] == done["value"].max()
    assert set(data.trials["state"]) == {"COMPLETE", "PRUNED", "FAIL"}
    assert int(data.trials["diverged"].sum()) == 1


def test_rungs_compare_every_trial_at_the_same_epoch(known_study):
    from sweep.report import prepare, views
    from sweep.report.analysis import rung_epochs, values_at

    data = prepare(load("known", known_study))
    assert rung_epochs(data) == [1, 2]
    at1 = values_at(data, 1)
    assert len(at1) == 52  # every trial reported epoch 1
    assert len(values_at(data, 2)) == 52 - 6  # those pruned at epoch 1 did not reach 2
    fig = views.rungs(data)
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels == ["after epoch 1\n(52 trials; 6 stopped)",
                      "after epoch 2\n(46 trials; 6 stopped)"]
