"""Studies that do not depend on timing: a trial learns only from trials well behind it.

With one worker, trial k is sampled and pruned knowing trials 0..k-1, all finished.
With several, which of them have finished when trial k is sampled, or when it
reaches a pruning rung, depends on which worker was faster, and so does everything
the study does after. A study with a lag L makes trial k wait until trials
0..k-1-L have all finished, then shows its sampler and pruner those trials and no
other: what a study samples, prunes and finds is then fixed by its settings and
seed, however many workers run it and however fast each one is.

The price: the sampler's knowledge is L trials old, and a worker waits when one
trial runs longer than the L trials started after it (with --jobs up to L+1, rare;
on the default MNIST study's trial lengths, --jobs 2 and L=4 lose about 8% of the
wall time in a simulation, and the benchmark measures it).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from typing import Any

from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

DEFAULT_LAG = 4
MAX_LAG = 10_000
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def next_number(trials: Sequence[FrozenTrial]) -> int:
    """The number the study's next ``ask`` will get: the first enqueued trial, if any."""
    waiting = [t.number for t in trials if t.state == TrialState.WAITING]
    return min(waiting) if waiting else len(trials)


def unfinished_before(trials: Sequence[FrozenTrial], number: int, lag: int) -> list[int]:
    """The trials trial ``number`` learns from that have not finished yet."""
    return [t.number for t in trials if t.number < number - lag and t.state not in FINISHED]


class LaggedStorage(BaseStorage):
    """A study's storage as one trial sees it: trials numbered below ``cutoff``, the
    trial itself and enqueued trials (so that ``ask`` still takes them). Everything
    else, and every write, goes to the storage underneath."""

    def __init__(self, storage: BaseStorage, cutoff: int) -> None:
        self._storage = storage
        self._cutoff = cutoff
        self._own: set[int] = set()

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        trials = self._storage.get_all_trials(study_id, deepcopy=deepcopy, states=states)
        return [t for t in trials if t.number < self._cutoff or t._trial_id in self._own
                or t.state == TrialState.WAITING]

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = self._storage.create_new_trial(study_id, template_trial)
        self._own.add(trial_id)
        return trial_id

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        taken = self._storage.set_trial_state_values(trial_id, state, values)
        if taken and state == TrialState.RUNNING:  # an enqueued trial this one took
            self._own.add(trial_id)
        return taken


def _delegate(name: str) -> Callable[..., Any]:
    def method(self: LaggedStorage, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._storage, name)(*args, **kwargs)

    method.__name__ = name
    return method


for _name, _value in vars(BaseStorage).items():
    if callable(_value) and not _name.startswith("_") and _name not in vars(LaggedStorage):
        setattr(LaggedStorage, _name, _delegate(_name))
LaggedStorage.__abstractmethods__ = frozenset()
