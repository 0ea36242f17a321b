"""Fault injection for the sweep fault tests, loaded by every Python process that has
this folder on its PYTHONPATH: the ``sweep run`` process and its loky workers, which
inherit the environment.

Nothing happens unless one of these variables is set:

    SWEEP_FAULT_RAISE   trial numbers ("2,5") or "all": raise a bug-like RuntimeError
                        inside that trial's training, at step 1 of epoch
                        SWEEP_FAULT_RAISE_EPOCH (default 1)
    SWEEP_FAULT_NAN     "TRIAL:EPOCH:STEP[,...]": that training step's loss is NaN
    SWEEP_FAULT_SLEEP   seconds to sleep at the start of every epoch (slow trials
                        that use no CPU while they wait to be killed)
    SWEEP_FAULT_JITTER  at most this many seconds, drawn at random (not seeded) in every
                        worker, slept at the start of every epoch: trials of the same
                        study finish in another order each run
    SWEEP_FAULT_STUCK   like SLEEP, but with SIGINT and SIGTERM blocked meanwhile, as in
                        a long computation in C: the worker answers signals late
    SWEEP_FAULT_LOAD_SLEEP  seconds added to every mlp.data.load_dataset call (a slow
                        first download, as the ``sweep run`` process checks the data)
    SWEEP_FAULT_ASK_SLEEP   seconds to sleep right after optuna's Study.ask() has created
                        a trial (a slow storage): a window to kill a worker in
    SWEEP_FAULT_TELL_SLEEP  the same right after Study.tell() has finished a trial
    SWEEP_FAULT_HOST    the host name this process reports (socket.gethostname): several
                        runs on one machine act as runs on machines of those names
    SWEEP_FAULT_UNANSWERED  "NOTICE:LIMIT": the seconds after which a database statement
                        without an answer is said, and its connections cut
                        (sweep.study.silence's limits, 10 and 60 s)
    SWEEP_FAULT_SETTLE  seconds `trials --watch` goes on with trials waiting and none
                        running (sweep.commands.watch.STRANDED_SETTLE, 30 s)
    SWEEP_FAULT_CLAIM_FLOOR  seconds a database trial may go unclaimed by a worker, at
                        the least (sweep.execution.liveness.CLAIM_FLOOR, 30 s)
    SWEEP_FAULT_INTERRUPT_GRACE  seconds the trials in flight get to record an interrupt
                        before their workers are killed (sweep.execution.backend's
                        INTERRUPT_GRACE, 15 s)
    SWEEP_FAULT_RECONNECT  seconds a database may be away before its operations give up
                        (sweep.study.database.RECONNECT_LIMIT, 30 s)
    SWEEP_FAULT_RESULT_SLEEP  seconds to sleep when a training has written its result
                        (metrics.json), before the trial goes on to its figures
    SWEEP_FAULT_PLOT_FULL  set: a trial's first figure cannot be written, as on a full
                        disk (mlp.plots.learning_curves raises ENOSPC)
    SWEEP_FAULT_COUNT_SLEEP  seconds to sleep when a worker has counted the study's trials
                        and is about to create one (sweep.study.lag.next_number): a window in
                        which another machine's count would go stale

It replaces module attributes looked up at call time: ``mlp.experiment.train`` and
``mlp.train.softmax_cross_entropy``, ``socket.gethostname``, and
``mlp.experiment.run_experiment`` (which is told the trial number) and
``sweep.study.lag.next_number`` before ``sweep.execution.trial`` imports them.
Production code has no hooks.
"""

from __future__ import annotations

import os

_VARS = ("SWEEP_FAULT_RAISE", "SWEEP_FAULT_NAN", "SWEEP_FAULT_SLEEP", "SWEEP_FAULT_JITTER",
         "SWEEP_FAULT_STUCK",
         "SWEEP_FAULT_LOAD_SLEEP", "SWEEP_FAULT_ASK_SLEEP", "SWEEP_FAULT_TELL_SLEEP",
         "SWEEP_FAULT_HOST", "SWEEP_FAULT_COUNT_SLEEP", "SWEEP_FAULT_UNANSWERED",
         "SWEEP_FAULT_SETTLE", "SWEEP_FAULT_CLAIM_FLOOR", "SWEEP_FAULT_RECONNECT",
         "SWEEP_FAULT_INTERRUPT_GRACE", "SWEEP_FAULT_RESULT_SLEEP",
         "SWEEP_FAULT_PLOT_FULL")


class InjectedFault(RuntimeError):
    """The bug a test asked for."""


def _install() -> None:
    import importlib
    import random
    import signal
    import time

    # importlib: the package attribute mlp.train is the function, not the module
    D = importlib.import_module("mlp.data")
    E = importlib.import_module("mlp.experiment")
    T = importlib.import_module("mlp.train")

    raise_spec = os.environ.get("SWEEP_FAULT_RAISE", "").strip()
    raise_all = raise_spec == "all"
    raise_trials = set() if raise_all else {int(n) for n in raise_spec.split(",") if n.strip()}
    raise_epoch = int(os.environ.get("SWEEP_FAULT_RAISE_EPOCH", "1"))
    nan_at = set()
    for item in os.environ.get("SWEEP_FAULT_NAN", "").split(","):
        if item.strip():
            trial, epoch, step = (int(v) for v in item.split(":"))
            nan_at.add((trial, epoch, step))
    sleep = float(os.environ.get("SWEEP_FAULT_SLEEP", "0") or 0)
    stuck = float(os.environ.get("SWEEP_FAULT_STUCK", "0") or 0)
    jitter = float(os.environ.get("SWEEP_FAULT_JITTER", "0") or 0)
    chance = random.SystemRandom()
    state = {"trial": None, "epoch": 0, "step": 0}

    real_train, real_loss = T.train, T.softmax_cross_entropy

    def train(config, data, on_epoch=None):
        state["epoch"], state["step"] = 1, 0

        def counted(m):
            state["epoch"], state["step"] = state["epoch"] + 1, 0
            return on_epoch(m) if on_epoch is not None else None

        return real_train(config, data, counted)

    def softmax_cross_entropy(logits, y):
        state["step"] += 1
        trial, epoch, step = state["trial"], state["epoch"], state["step"]
        if step == 1 and sleep > 0:
            time.sleep(sleep)
        if step == 1 and jitter > 0:
            time.sleep(chance.uniform(0, jitter))
        if step == 1 and stuck > 0:
            blocked = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
            try:
                time.sleep(stuck)
            finally:  # a signal that came meanwhile is handled now
                signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
        if step == 1 and epoch == raise_epoch and (raise_all or trial in raise_trials):
            raise InjectedFault(f"injected fault in trial {trial}, epoch {epoch}")
        loss, grad = real_loss(logits, y)
        if (trial, epoch, step) in nan_at:
            return float("nan"), grad
        return loss, grad

    T.train = E.train = train
    T.softmax_cross_entropy = softmax_cross_entropy
    real_run = E.run_experiment
    result_sleep = float(os.environ.get("SWEEP_FAULT_RESULT_SLEEP", "0") or 0)

    def run_experiment(config, out_dir, **kwargs):
        state["trial"] = (kwargs.get("extra") or {}).get("trial")
        result = real_run(config, out_dir, **kwargs)
        time.sleep(result_sleep)
        return result

    E.run_experiment = run_experiment
    if os.environ.get("SWEEP_FAULT_PLOT_FULL", "").strip():
        import errno

        def learning_curves(*args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        importlib.import_module("mlp.plots").learning_curves = learning_curves

    load_sleep = float(os.environ.get("SWEEP_FAULT_LOAD_SLEEP", "0") or 0)
    if load_sleep > 0:
        real_load = D.load_dataset

        def load_dataset(*args, **kwargs):
            time.sleep(load_sleep)
            return real_load(*args, **kwargs)

        D.load_dataset = load_dataset

    host = os.environ.get("SWEEP_FAULT_HOST", "").strip()
    if host:
        import socket

        socket.gethostname = lambda: host

    count_sleep = float(os.environ.get("SWEEP_FAULT_COUNT_SLEEP", "0") or 0)
    if count_sleep > 0:
        L = importlib.import_module("sweep.study.lag")
        real_next = L.next_number

        def next_number(trials):
            time.sleep(count_sleep)
            return real_next(trials)

        L.next_number = next_number

    unanswered = os.environ.get("SWEEP_FAULT_UNANSWERED", "").strip()
    if unanswered:  # "NOTICE:LIMIT" seconds: a silent database said and cut sooner
        S = importlib.import_module("sweep.study.silence")
        S.NOTICE_AFTER_S, S.UNANSWERED_LIMIT_S = (float(v) for v in unanswered.split(":"))
    settle = os.environ.get("SWEEP_FAULT_SETTLE", "").strip()
    if settle:
        importlib.import_module("sweep.commands.watch").STRANDED_SETTLE = float(settle)
    grace = os.environ.get("SWEEP_FAULT_INTERRUPT_GRACE", "").strip()
    if grace:  # the constant and the modules that took it by name
        for name in ("backend", "controller", "loky_backend"):
            importlib.import_module(f"sweep.execution.{name}").INTERRUPT_GRACE = float(grace)
    reconnect = os.environ.get("SWEEP_FAULT_RECONNECT", "").strip()
    if reconnect:
        importlib.import_module("sweep.study.database").RECONNECT_LIMIT = float(reconnect)
    floor = os.environ.get("SWEEP_FAULT_CLAIM_FLOOR", "").strip()
    if floor:
        import datetime

        liveness = importlib.import_module("sweep.execution.liveness")
        liveness.CLAIM_FLOOR = datetime.timedelta(seconds=float(floor))

    for method in ("ask", "tell"):
        pause = float(os.environ.get(f"SWEEP_FAULT_{method.upper()}_SLEEP", "0") or 0)
        if pause > 0:
            from optuna.study import Study

            setattr(Study, method, _paused(getattr(Study, method), pause))


def _paused(real, seconds: float):
    import functools
    import time

    @functools.wraps(real)
    def method(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        time.sleep(seconds)
        return result

    return method


if any(os.environ.get(v) for v in _VARS):
    _install()
