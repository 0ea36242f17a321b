"""Where tasks run: one executor for every backend.

A `Pool` keeps ``jobs`` slots busy. Each slot is a thread of the parent with one
`Worker` (a process of this machine through loky, or a task slot on a Dask cluster)
and a loop: take the next task, run it on the worker, report what happened as an
event. A backend only runs a task and says how a worker was lost (`Lost`, with the
trials it held); everything else (failing those trials, replacing the worker,
time-outs, stalls, Ctrl-C) is the same code for all, in the parent's controller.

Events: `TaskDone` (a result), `WorkerLost` (the worker died with the task; a new one
starts for the next task), `SlotFailed` (anything unexpected: reported, never a
hang), `SlotClosed`.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial

from .liveness import Selector

INTERRUPT_GRACE = 15.0  # seconds the tasks in flight get to record an interrupt

Task = tuple[Callable[[Any], Any], Any]  # a function run on the worker, and its argument


# -- what slots tell the parent ------------------------------------------------------

@dataclass(frozen=True)
class TaskDone:
    result: Any


@dataclass(frozen=True)
class WorkerLost:
    reason: str
    task: Any  # what the worker was doing when it was lost
    which: Selector  # the RUNNING trials it held
    # set once the parent has acted on it (failed those trials, enqueued their retries):
    # the slot takes its next task only then, so that a retry is never missed
    handled: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class SlotFailed:
    error: BaseException


@dataclass(frozen=True)
class SlotClosed:
    pass


Event = TaskDone | WorkerLost | SlotFailed | SlotClosed


# -- what a backend provides ----------------------------------------------------------

class Lost(Exception):
    """The worker that ran a task is gone, and so are the trials ``which`` selects."""

    def __init__(self, reason: str, which: Selector) -> None:
        super().__init__(reason)
        self.reason, self.which = reason, which


class Cancelled(Exception):
    """The task was cancelled by this run (an interrupt): the slot takes no more."""


class Worker(ABC):
    """One place that runs one task at a time."""

    spent = False  # it took a signal from this run: its process is not to be trusted again

    def start(self) -> None:  # noqa: B027  (most workers need no start)
        """Get ready before the first task (a process that takes seconds to start)."""

    @abstractmethod
    def run(self, function: Callable[[Any], Any], argument: Any) -> Any:
        """``function(argument)`` on the worker; raises `Lost`, `Cancelled`, or the
        KeyboardInterrupt of a task that was interrupted (and recorded it)."""

    @abstractmethod
    def interrupt(self) -> None:
        """Ask the task in flight to stop and record that it was interrupted."""

    @abstractmethod
    def kill(self) -> None:
        """Stop the task in flight now, whatever it is doing."""

    @abstractmethod
    def holds(self, trial: FrozenTrial) -> bool:
        """Whether this worker is running ``trial`` (for the stall watch)."""

    @property
    def process_id(self) -> int | None:
        """The worker's process on this machine, whose progress the run can watch (its
        CPU time, the locks it holds); None where there is none (a Dask worker)."""
        return None

    def close(self, kill: bool = False) -> None:  # noqa: B027  (most have nothing to end)
        """The pool is done with it."""


class Backend(ABC):
    """Makes workers, and knows which trials its workers left behind."""

    # why a trial still RUNNING under this run's workers at the end was lost
    leftover_reason = "lost by its worker"

    @abstractmethod
    def new_worker(self, threads: int) -> Worker: ...

    def waiting_for(self, workers: list[Worker]) -> str | None:
        """What the workers' tasks wait for that only the backend can see (a cluster
        without workers), or None."""
        return None

    def notices(self) -> list[tuple[str, str]]:
        """What the workers said since the last call about what they wait for (a database
        they cannot reach), as (which worker, line): lines their run's watcher would not
        otherwise see."""
        return []

    def lost_earlier(self) -> Selector | None:
        """Trials that earlier runs left RUNNING on workers of this backend now gone,
        beyond the dead processes of this machine (liveness.dead_worker)."""
        return None

    @abstractmethod
    def held_by_run(self, workers: list[Worker], local: bool) -> Selector:
        """The RUNNING trials this run's workers started: once the pool is closed, none
        can still be running."""

    def close(self) -> None:  # noqa: B027  (most have nothing left to end)
        """The run is over: end what the backend started and the pool did not take."""


# -- slots and the pool ----------------------------------------------------------------

class Slot(threading.Thread):
    """One worker and the loop that feeds it tasks.

    ``next_task()`` gives the next (function, argument), or None when there is no more
    work; a task that returns None also ends the slot (a study that has all its trials).
    """

    def __init__(self, worker: Worker, next_task: Callable[[], Task | None],
                 events: queue.Queue[Event], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.worker, self.next_task, self.events, self.stop = worker, next_task, events, stop
        self.interrupted_outside = False  # its task took a SIGINT this run never sent

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                task = self.next_task()
                if task is None:
                    break
                function, argument = task
                try:
                    self.worker.start()
                    if self.stop.is_set():  # stopped while the worker started
                        break
                    result = self.worker.run(function, argument)
                except Lost as lost:
                    event = WorkerLost(lost.reason, argument, lost.which)
                    self.events.put(event)
                    while not event.handled.wait(0.5) and not self.stop.is_set():
                        pass
                    continue
                except Cancelled:
                    break
                except KeyboardInterrupt:  # the task was interrupted and recorded as such
                    # not by this run (which marks the worker spent first): a Ctrl-C to the
                    # whole group, whose signal the main thread may not see in time
                    self.interrupted_outside = not self.worker.spent
                    self.worker.spent = True
                    break
                if result is None:
                    break
                self.events.put(TaskDone(result))
        except BaseException as exc:  # anything else: report it, never hang the run
            self.events.put(SlotFailed(exc))
        finally:
            self.events.put(SlotClosed())


class _Terminate(Exception):
    pass


def _raise_terminate(signum: int, frame: Any) -> None:
    raise _Terminate


class Pool:
    """``jobs`` slots of ``backend`` running tasks until there are no more.

    `run` hands every event to ``on_event`` (and None every half second without one).
    Ctrl-C or SIGTERM interrupts the tasks in flight, gives them `INTERRUPT_GRACE`
    seconds to record it, then kills what is left (at once on a second signal).
    """

    def __init__(self, backend: Backend, next_task: Callable[[], Task | None], jobs: int,
                 threads: int, say: Callable[[str], None] | None = None) -> None:
        lock = threading.Lock()

        def one_at_a_time() -> Task | None:
            with lock:
                return next_task()

        self.backend = backend
        self.events: queue.Queue[Event] = queue.Queue()
        self.stop = threading.Event()
        self.slots = [Slot(backend.new_worker(threads), one_at_a_time, self.events, self.stop)
                      for _ in range(jobs)]
        self.interrupted = False
        self.say = say or (lambda message: print(message, flush=True))

    @property
    def workers(self) -> list[Worker]:
        return [slot.worker for slot in self.slots]

    def run(self, on_event: Callable[[Event | None], None]) -> None:
        # only the main thread may set a handler: a run started from another thread (a
        # notebook's background study) leaves SIGTERM to the process's own handler
        main = threading.current_thread() is threading.main_thread()
        old_term = signal.signal(signal.SIGTERM, _raise_terminate) if main else None
        try:
            self._loop(on_event)
        except (KeyboardInterrupt, _Terminate):
            self.interrupt()
        except BaseException:
            # the run itself failed: its workers must not go on (and be waited for)
            self.interrupt(quiet=True)
            raise
        finally:
            if main:
                signal.signal(signal.SIGTERM, old_term)
            self._close()

    def _loop(self, on_event: Callable[[Event | None], None]) -> None:
        for slot in self.slots:
            slot.start()
        open_slots = len(self.slots)
        while open_slots:
            try:
                event = self.events.get(timeout=0.5)
            except queue.Empty:
                on_event(None)
                continue
            open_slots -= isinstance(event, SlotClosed)
            try:
                on_event(event)
            finally:
                if isinstance(event, WorkerLost):
                    event.handled.set()
            if any(slot.interrupted_outside for slot in self.slots):
                raise KeyboardInterrupt

    def interrupt(self, quiet: bool = False) -> None:
        self.interrupted = True
        self.stop.set()
        if not quiet:
            self.say("interrupted: stopping the work in flight (again to stop at once)")
        try:
            for worker in self.workers:
                worker.interrupt()
            deadline = time.monotonic() + INTERRUPT_GRACE
            for slot in self.slots:  # one not started (a Ctrl-C as it started): nothing to join
                if slot.is_alive():
                    slot.join(max(0.0, deadline - time.monotonic()))
        except (KeyboardInterrupt, _Terminate):
            pass
        for worker in self.workers:
            worker.kill()

    def _close(self) -> None:
        for slot in self.slots:
            if not self.interrupted and slot.is_alive():
                slot.join()
            slot.worker.close(kill=self.interrupted)
