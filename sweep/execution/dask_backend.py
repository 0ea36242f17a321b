"""``sweep run --backend dask``: trials run on the workers of a Dask cluster.

The same slots as the local workers (backend.py), fed the same tasks, but each task is
sent to the cluster as one future (``client.submit``, never retried by Dask: a
re-run would ask Optuna for a new trial, not redo the lost one) and the slot waits for
it. The function runs in the Dask worker process, so its per-process caches (the
dataset and the storage, trial.py) load once per Dask worker, and it opens the
study's storage itself: a journal file on a filesystem every worker shares, or a
database.

Every trial records the Dask worker that runs it (``dask_worker``, its address), the
scheduler and this run's token (``dask_run``) with its pid and host. A worker that
dies (killed, out of memory, its machine gone) loses its task: the scheduler is told
to allow no failures, so the future fails at once with ``KilledWorker`` instead of
being run again, and the run fails exactly the trials that recorded that worker (each
with one retry). A Ctrl-C or the run's time-out cancels the
futures in flight and fails this run's trials still RUNNING ("interrupted"); a Dask
worker cannot be interrupted from outside, so such a trial goes on until its next
epoch, whose report finds it failed and ends it, and its result is discarded.

What a trial's code says about a wait in the Dask worker (a database it cannot connect
to) is sent to the run as a Dask event of the run's own topic and said on the run's
output, as a local worker's is (controller.py).

While the run uses the cluster, what Dask's client logs (a lost scheduler's reconnection
attempts, with their tracebacks) goes to the study's workers.log, not the terminal: the
run says in one line why it stopped.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial

from ..errors import StudyError, UsageError
from ..study.waiting import saying
from .backend import Backend, Cancelled, Lost, Worker
from .liveness import Selector
from .trial import WORKER_ATTRS

CONNECT_TIMEOUT = 5.0  # seconds to reach the scheduler before the run gives up
NOTICES = "sweep-notices-"  # + the run's token: the Dask event topic of its workers' waits
BACKENDS = ("loky", "dask")


def connect(address: str, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A client of the scheduler at ``address``, which from now on allows no failures (a
    task whose worker dies fails instead of running again). A scheduler that cannot be
    reached, or an address where something else answers (or nothing does), is a usage
    error within about ``timeout`` seconds."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--backend dask needs dask.distributed: pip install -e "
                         "'.[distributed]'") from None
    from distributed.comm.addressing import parse_address, parse_host_port

    if "@" in address:  # a Dask address has no user or password: never echo one back
        raise UsageError("--scheduler: a Dask address is tcp://HOST:PORT, without a user "
                         "or password (this one has an '@'; not shown)")
    if "?" in address or "#" in address:  # nor options, which may hold one
        raise UsageError("--scheduler: a Dask address is tcp://HOST:PORT, without options "
                         "(this one has a '?' or '#'; not shown)")
    try:  # before a client exists: one made with a bad address hangs at exit
        scheme, location = parse_address(address)
        head, colon, port_text = location.rpartition(":")
        if colon and not head.endswith(":") and not port_text.isdigit():
            raise ValueError(f"its port {port_text!r} is not a number")  # not int()'s words
        _, port = parse_host_port(location)
        if not 0 < int(port) < 65536:
            raise ValueError(f"port {port} is outside 1-65535")
        if scheme != "tcp":
            raise ValueError(f"{scheme}:// is not supported here, only tcp://")
    except ValueError as exc:
        raise UsageError(f"--scheduler {address}: not a scheduler address, such as "
                         f"tcp://HOST:8786 ({exc})") from None
    # Client(timeout=) bounds reaching the address, not the handshake after it: a server
    # that accepts and never speaks Dask's protocol (an HTTP server, a silent listener)
    # would hold it for ever. A bounded exchange with the scheduler comes first.
    problem = _probe(address, timeout)
    if problem:
        raise UsageError(f"--scheduler {address}: {problem}")
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"--scheduler {address}: cannot reach the Dask scheduler "
                         f"({first})") from None

    def no_retries(dask_scheduler: Any) -> None:  # nested: sent by value, not by name
        dask_scheduler.allowed_failures = 0

    try:
        client.run_on_scheduler(no_retries)
    except Exception as exc:  # a scheduler that takes no pickled functions
        print(f"note: could not set the Dask scheduler's allowed-failures to 0 "
              f"({type(exc).__name__}): a task whose worker dies may be run again, and its "
              "lost trial is then failed only when the run ends", file=sys.stderr)
    return client


class _LogFile(logging.FileHandler):
    """A log file opened at the first record; a record it cannot write is dropped (the
    study's folder may not exist yet, or its disk be full): the run reports what matters."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802  (logging's name)
        pass


@contextmanager
def distributed_logs_to(log: Path) -> Iterator[None]:
    """Within the block, the loggers Dask configures (``distributed`` and those of its
    own handlers: ``distributed.client``, ``tornado`` ...) write to ``log`` instead of
    their handlers (stderr); as they were after it."""
    to_file = _LogFile(log, delay=True)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    moved: dict[logging.Logger, list[logging.Handler]] = {}
    for name in ("distributed", *logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        if name.split(".")[0] in ("distributed", "tornado", "bokeh") and logger.handlers \
                and logger not in moved:
            moved[logger] = list(logger.handlers)
            for h in moved[logger]:
                logger.removeHandler(h)
            logger.addHandler(to_file)
    try:
        yield
    finally:
        for logger, handlers in moved.items():
            logger.removeHandler(to_file)
            for h in handlers:
                logger.addHandler(h)
        to_file.close()


def _probe(address: str, timeout: float) -> str:
    """Why the scheduler at ``address`` cannot be used ("" if it answers as one): a
    Dask handshake and an identity request, given ``timeout`` seconds in all, in a
    thread of its own (the caller may be running an event loop: a notebook)."""
    import asyncio

    from distributed.comm import CommClosedError
    from distributed.comm import connect as dask_connect
    from distributed.comm.addressing import parse_address, parse_host_port

    async def identity() -> Any:
        comm = await dask_connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            with suppress(Exception):
                await comm.close()

    outcome: list[str] = ["no answer"]

    def exchange() -> None:
        host, port = parse_host_port(parse_address(address)[1])  # checked by the caller
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):  # Dask would call it a time-out
            outcome[0] = f"its host {host!r} has no address (no such name is known)"
            return
        try:
            reply = asyncio.run(asyncio.wait_for(identity(), timeout))
        except TimeoutError:
            outcome[0] = (f"no Dask scheduler answers there within {timeout:g}s (something "
                          "else listens, or nothing does)")
        except CommClosedError:  # an OSError: it accepted, then hung up
            outcome[0] = "not a Dask scheduler (it closed the connection without answering)"
        except (OSError, ValueError, TypeError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            first = re.sub(r"\s*in <[^>]*>:?", "", first)  # a connection's repr
            outcome[0] = f"cannot reach the Dask scheduler ({first})"
        except Exception:  # noqa: BLE001  (its bytes read as Dask's: a MemoryError, say)
            outcome[0] = "not a Dask scheduler (what answers there does not speak Dask)"
        else:
            kind = reply.get("type") if isinstance(reply, dict) else None
            outcome[0] = "" if kind == "Scheduler" else \
                f"not a Dask scheduler (it answers as {kind or 'something else'})"

    thread = threading.Thread(target=exchange, name="dask-probe", daemon=True)
    thread.start()
    thread.join(timeout + 5)
    return outcome[0]


def cluster_threads(client: Any) -> int:
    """The cluster's worker threads now: the default number of trials in flight."""
    threads = sum(client.nthreads().values())
    if threads < 1:
        raise UsageError(f"--scheduler {client.scheduler.address}: the Dask cluster has no "
                         "workers (start them, or give --jobs)")
    return threads


def run_in_dask_worker(function: Callable[[Any], Any], argument: Any, threads: int,
                       attrs: dict[str, object]) -> Any:
    """A task, in the Dask worker: BLAS limited to ``threads`` threads (per process, so
    meant for workers of one thread), the worker and run recorded by the trial."""
    from distributed import get_worker
    from threadpoolctl import threadpool_limits

    worker = get_worker()
    topic = f"{NOTICES}{attrs['dask_run']}"

    def tell(line: str) -> None:  # from any thread of the Dask worker (Worker.log_event)
        with suppress(Exception):  # the line is a courtesy: never the trial's failure
            worker.log_event(topic, [worker.address, line])

    token = WORKER_ATTRS.set({**attrs, "dask_worker": worker.address})
    try:
        with threadpool_limits(limits=threads, user_api="blas"), saying(tell):
            return function(argument)
    finally:
        WORKER_ATTRS.reset(token)


def ran_on(address: str, trial: Any) -> bool:
    return trial.user_attrs.get("dask_worker") == address


class DaskWorker(Worker):
    """One trial in flight on the cluster at a time: a future, waited for."""

    def __init__(self, client: Any, threads: int, attrs: dict[str, object]) -> None:
        self.client, self.threads, self.attrs = client, threads, attrs
        self.lock = threading.Lock()
        self.future: Any = None
        self.cancelled = False

    def run(self, function: Callable[[Any], Any], argument: Any) -> Any:
        from distributed.scheduler import KilledWorker

        with self.lock:
            if self.cancelled:
                raise Cancelled
            self.future = self.client.submit(
                run_in_dask_worker, function, argument, self.threads, self.attrs,
                key=f"sweep-trial-{uuid.uuid4().hex}", pure=False, retries=0)
        try:
            return self.future.result()
        except CancelledError as exc:
            if self.cancelled:
                raise Cancelled from None  # interrupted: the run fails the trial
            said = str(exc).rpartition("reason:")[2].strip().splitlines()
            why = said[0].rstrip(".") if said else "no reason given"
            where = self.attrs.get("dask_scheduler", "the scheduler")
            raise StudyError(f"the Dask cluster at {where} cancelled the trial's task "
                             f"({why}): its scheduler is gone or was restarted") from None
        except KilledWorker as exc:
            address = exc.last_worker.address
            raise Lost(f"Dask worker {address} died (lost by the scheduler)",
                       partial(ran_on, address)) from None
        finally:
            with self.lock:
                self.future = None

    def interrupt(self) -> None:
        """Cancel the future in flight (its trial is failed by the run) and start no more."""
        with self.lock:
            self.cancelled = True
            if self.future is not None:
                self.future.cancel()

    def kill(self) -> None:
        self.interrupt()

    def holds(self, trial: FrozenTrial) -> bool:
        return False  # no process here to watch or replace: --stall-timeout does not apply


class DaskBackend(Backend):
    """Trials on the workers of the Dask cluster ``client`` is connected to."""

    leftover_reason = ("lost with its Dask task (the scheduler gone, or the task run again "
                       "after a worker died)")

    def __init__(self, client: Any) -> None:
        self.client = client
        self.token = uuid.uuid4().hex  # this run's: its trials record it as dask_run
        self.scheduler = client.scheduler.address
        self.heard: deque[Any] = deque()  # the workers' notices, as Dask delivers them
        client.subscribe_topic(f"{NOTICES}{self.token}", self.heard.append)

    def new_worker(self, threads: int) -> Worker:
        return DaskWorker(self.client, threads,
                          {"dask_scheduler": self.scheduler, "dask_run": self.token})

    def held_by_run(self, workers: list[Worker], local: bool) -> Selector:
        return lambda t: t.user_attrs.get("dask_run") == self.token

    def notices(self) -> list[tuple[str, str]]:
        said = []
        while self.heard:
            _, message = self.heard.popleft()  # (the scheduler's time, what was sent)
            with suppress(TypeError, ValueError):
                address, line = message
                said.append((f"Dask worker {address}", str(line)))
        return said

    def waiting_for(self, workers: list[Worker]) -> str | None:
        """What the tasks in flight wait for that would never come: a Dask worker, when
        the cluster has none (its last worker died, or none was ever started), or the
        scheduler itself, when it holds the connection but does not answer (stopped, or
        its machine unreachable): their results can only come through it."""
        if not any(isinstance(w, DaskWorker) and w.future is not None for w in workers):
            return None
        try:
            threads = self.client.nthreads(callback_timeout=CONNECT_TIMEOUT)
        except TimeoutError:
            return (f"the Dask scheduler at {self.scheduler}: it has not answered for "
                    f"{CONNECT_TIMEOUT:g}s (stopped, or its machine unreachable)")
        except Exception:  # noqa: BLE001  (a lost scheduler fails the tasks by itself)
            return None
        if threads:
            return None
        return (f"a Dask worker: the cluster at {self.scheduler} has none (start one: dask "
                f"worker {self.scheduler} --nthreads 1)")

    def lost_earlier(self) -> Selector:
        """Trials of this scheduler whose Dask worker is no longer in the cluster (a run
        that died left them RUNNING; pids are no use for another machine's worker)."""
        workers = set(self.client.scheduler_info(n_workers=-1)["workers"])

        def lost(trial: FrozenTrial) -> bool:
            return (trial.user_attrs.get("dask_scheduler") == self.scheduler
                    and "dask_worker" in trial.user_attrs
                    and trial.user_attrs["dask_worker"] not in workers)
        return lost
