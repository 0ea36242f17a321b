"""``sweep predict``: a trained network's prediction for test images, as a figure."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from mlp.checkpoint import CheckpointError
from mlp.config import ConfigError
from mlp.experiment import load_experiment
from mlp.train import evaluate

from ..errors import StudyError, UsageError, cannot_write
from .common import add_study_args, check_trials_folder, open_results, trained_trial
from .output import check_export_target

DESCRIPTION = ("The prediction figure for test images of a trained network: one image, a "
               "grid of several (--index N [N ...]), or K misclassified ones (--wrong K). The "
               "network is a trial of a study (--study S --trial N, as sweep plots and sweep "
               "rerun name one) or the experiment directory of sweep train (--experiment DIR).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    p.add_argument("--trial", type=int, default=None, metavar="N",
                   help="the study's trial N (completed or pruned)")
    p.add_argument("--experiment", default=None, metavar="DIR",
                   help="an experiment directory instead (of sweep train, or a trial's)")
    which = p.add_mutually_exclusive_group()  # one or the other: neither is dropped
    which.add_argument("--index", type=int, nargs="+", action="extend", metavar="N",
                       help="the test image with this index (several: a grid)")
    which.add_argument("--wrong", type=int, nargs="?", const=16, default=None, metavar="K",
                       help="K misclassified test images instead (default 16)")
    p.add_argument("--out", metavar="FILE",
                   help="the figure file to write, .png, .pdf or .svg (default "
                        "DIR/predictions/...)")
    p.add_argument("--show", action="store_true", help="also open the figure in a window")
    p.add_argument("--data-dir", metavar="DIR",
                   help="a folder holding the dataset's four IDX files")


MAX_FIGURE_IMAGES = 100  # a grid of more is unreadable, and its size grows without bound


def run(args: argparse.Namespace) -> int:
    exp = _experiment(args)
    _check_predict_args(args, exp)
    try:
        run = load_experiment(exp, data_dir=args.data_dir)
    except (ConfigError, CheckpointError) as exc:  # its files damaged: not the arguments
        raise StudyError(f"{_named(args, exp)}: {exc}") from None
    data = run.data
    n_test = len(data.test_y)
    if args.wrong is None:
        bad = [i for i in args.index if not 0 <= i < n_test]
        if bad:
            raise UsageError(f"--index {bad[0]}: out of range (the test set has {n_test} "
                             f"images, 0 to {n_test - 1})")
    with np.errstate(all="ignore"):
        _, _, probs = evaluate(run.model, data.test_x, data.test_y.astype(np.intp),
                               run.config.training.eval_batch_size)
    if not np.all(np.isfinite(probs)):
        raise StudyError(f"{_named(args, exp)}: checkpoints/best.npz gives non-finite "
                         "probabilities (its weights overflow float32): not a trained network")
    if args.wrong is not None:
        indices = np.flatnonzero(probs.argmax(axis=1) != data.test_y)[:args.wrong].tolist()
        if not indices:
            print("no misclassified test images")
            return 0
    else:
        indices = args.index
    from mlp import plots

    name = f"index-{indices[0]}" if len(indices) == 1 else f"grid-{indices[0]}-n{len(indices)}"
    out = Path(args.out) if args.out else exp / "predictions" / f"{name}.png"
    classes = list(data.classes)
    try:
        if len(indices) == 1:
            i = indices[0]
            plots.prediction_figure(np.asarray(data.test_x[i]), probs[i], int(data.test_y[i]),
                                    classes, out, index=i)
        else:
            plots.prediction_grid(np.asarray(data.test_x[indices]), probs[indices],
                                  np.asarray(data.test_y[indices]), classes, out,
                                  indices=indices)
    except OSError as exc:  # the atomic write's temporary file is not the user's to see
        where = f"--out {args.out}" if args.out else str(out)
        raise cannot_write(where, exc) from None
    for i in indices:
        p = probs[i]
        verdict = "right" if p.argmax() == data.test_y[i] else "WRONG"
        print(f"test #{i}: predicted {classes[p.argmax()]} ({p.max():.1%}), "
              f"true {classes[data.test_y[i]]}, {verdict}")
    print(f"figure: {out}")
    if args.show:
        _show(out)
    return 0


def _experiment(args: argparse.Namespace) -> Path:
    """The experiment directory: --experiment, or the folder of the study's --trial."""
    if (args.experiment is None) == (args.trial is None):
        raise UsageError("name the network: --study S --trial N, or --experiment DIR "
                         "(one of the two)")
    if args.experiment is not None:
        return Path(args.experiment)
    results = open_results(args)
    outcome = trained_trial(results, args.trial, diverged=False)
    folder = results.trial_dir(args.trial)
    if not folder.is_dir():
        raise StudyError(f"--trial {args.trial}: its directory {folder} is not on this "
                         "machine")
    check_trials_folder(results, outcome, folder)
    return folder


def _named(args: argparse.Namespace, exp: Path) -> str:
    """The network as the command line named it."""
    return f"--experiment {exp}" if args.trial is None else f"--trial {args.trial} ({exp})"


def _check_predict_args(args: argparse.Namespace, exp: Path) -> None:
    """Everything about the arguments that can be refused before data and model load."""
    # a folder named that is no experiment is the arguments (exit 2); an experiment (or a
    # study's trial) without its files is damaged (exit 1)
    if not (exp / "config.json").is_file():
        wrong = UsageError if args.trial is None else StudyError
        raise wrong(f"{_named(args, exp)}: not an experiment directory (no config.json)")
    best = exp / "checkpoints" / "best.npz"
    if not best.is_file():
        what = ("is missing: its training was cut short?" if not os.path.lexists(best)
                else "is not a regular file")
        raise StudyError(f"{_named(args, exp)}: no checkpoint (checkpoints/best.npz {what})")
    if args.wrong is not None and not 1 <= args.wrong <= MAX_FIGURE_IMAGES:
        raise UsageError(f"--wrong {args.wrong}: must be between 1 and {MAX_FIGURE_IMAGES}")
    if args.wrong is None and not args.index:
        raise UsageError("give --index N [N ...] or --wrong [K]")
    if args.wrong is None and len(args.index) > MAX_FIGURE_IMAGES:
        raise UsageError(f"--index: {len(args.index)} images, at most {MAX_FIGURE_IMAGES} "
                         "fit in one figure")
    if args.out:
        from mlp import plots

        out = Path(args.out)
        if out.is_dir():
            raise UsageError(f"--out {out}: a directory; give a file name such as "
                             f"{out / 'prediction.png'}")
        try:
            plots.image_format(out)
        except ValueError as exc:
            raise UsageError(f"--out {exc}") from None
        check_export_target(out)  # never onto a trial's own figure, nor into a study


def _show(path: Path) -> None:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("no display: --show skipped, open the file above instead")
        return
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    plt.imshow(mpimg.imread(path))
    plt.axis("off")
    plt.show()
