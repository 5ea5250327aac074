"""Executors: where the chunks of a sweep run.

One small interface, :class:`Executor`, with three implementations:

* :class:`SerialExecutor` — in this process, one chunk after another (the fallback; Numba may use
  all cores inside each chunk);
* :class:`ProcessExecutor` — a local pool of worker processes (``spawn``), one Numba thread each;
* :class:`DaskExecutor` — a ``dask.distributed`` cluster at a scheduler address, or a
  ``LocalCluster`` when none is given; one thread per worker and ``NUMBA_NUM_THREADS=1`` in each
  worker, so there is one level of parallelism per process and no oversubscription.

Results do not depend on the executor: every chunk is a pure function of the sweep and the chunk
number (see :mod:`pksim.sweep.grid`), and reductions happen in NumPy per cell.
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pksim.errors import InputError

EXECUTORS = ("serial", "processes", "dask")
WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "NUMBA_THREADING_LAYER": "threadsafe",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def set_numba_threads(n: int | None) -> None:
    """Limit Numba to ``n`` threads in this process (and thread); ``None`` leaves it alone."""
    if n is None:
        return
    import sys

    if "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = str(n)
    import numba

    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))


def init_process_worker() -> None:
    """Worker start-up: one Numba/BLAS thread. Runs before Numba is imported in the worker
    (this module and :mod:`pksim.sweep` import nothing heavy); changing ``NUMBA_NUM_THREADS``
    after Numba has started its threads would be an error."""
    import sys

    for k, v in WORKER_ENV.items():
        os.environ[k] = v
    _die_with_parent(os.getppid())
    if "numba" in sys.modules:
        # Numba came in with the parent's __main__ (spawn re-imports it, e.g. a script that
        # imported the app): too late for NUMBA_NUM_THREADS, so cap its use instead.
        import numba

        numba.set_num_threads(1)


def _die_with_parent(parent_pid: int, every_s: float = 0.5) -> None:
    """Exit this worker soon after its parent dies (killed with SIGKILL, it cannot say so).

    A daemon thread polls the parent id: when the parent is gone the worker is re-parented and
    the id changes. Portable, and independent of which parent thread started the worker (Linux's
    ``PR_SET_PDEATHSIG`` fires when that *thread* exits, which a pool does on its own).
    """
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="pksim-parent-watch", daemon=True).start()


class Executor(abc.ABC):
    """Runs ``fn(item)`` for every item and yields the results as they complete.

    ``numba_threads`` is what each task should limit Numba to (``None``: leave it alone). Use as
    a context manager; leaving the block (also by Ctrl-C) cancels what has not started.
    """

    name: str = ""
    numba_threads: int | None = None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    @abc.abstractmethod
    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """Yield ``fn(item)`` for each item, in completion order."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for the end-of-run summary."""


class SerialExecutor(Executor):
    """In this process, in order."""

    name = "serial"

    def map_unordered(self, fn, items):
        for item in items:
            yield fn(item)

    def describe(self) -> str:
        return "serial (this process)"


class ProcessExecutor(Executor):
    """A local pool of ``workers`` spawned processes with one Numba thread each."""

    name = "processes"
    numba_threads = 1

    def __init__(self, workers: int | None = None):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=mp.get_context("spawn"),
            initializer=init_process_worker,
        )

    def map_unordered(self, fn, items):
        from concurrent.futures import as_completed

        futures = [self._pool.submit(fn, item) for item in items]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def describe(self) -> str:
        return f"processes ({self.workers} workers x 1 thread)"


class DaskExecutor(Executor):
    """A ``dask.distributed`` cluster: the one at ``scheduler``, or a new ``LocalCluster``.

    A ``LocalCluster`` gets ``workers`` processes (default: the CPU count) with one thread each
    and :data:`WORKER_ENV` in their environment; tasks also call :func:`set_numba_threads`,
    which is what protects workers of an external cluster.
    """

    name = "dask"
    numba_threads = 1

    def __init__(
        self, scheduler: str | None = None, workers: int | None = None, host: str = "127.0.0.1"
    ):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError(
                "executor",
                "dask needs the optional dependency dask[distributed]",
                "pip install 'pksim[cluster]'",
            ) from None
        self._cluster = None
        if scheduler:
            try:
                self._client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise InputError("scheduler", f"cannot connect to {scheduler!r}: {exc}") from None
            self.where = f"scheduler {scheduler}"
        else:
            n = workers or os.cpu_count() or 1
            self._cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host=host,
                dashboard_address=f"{host}:0",  # where the
                # scheduler listens (not 0.0.0.0), any free port
                silence_logs=logging.ERROR,
                env=dict(WORKER_ENV),
            )
            self._client = Client(self._cluster)
            self.where = f"LocalCluster on {host} ({n} workers x 1 thread)"

    def map_unordered(self, fn, items):
        from distributed import as_completed

        futures = [self._client.submit(fn, item, pure=False) for item in items]
        try:
            for fut in as_completed(futures):
                result = fut.result()
                fut.release()
                yield result
        finally:
            self._client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def describe(self) -> str:
        return f"dask ({self.where})"


def make_executor(
    name: str = "serial", *, workers: int | None = None, scheduler: str | None = None
) -> Executor:
    """Build an executor by name; bad combinations raise :class:`InputError`."""
    check_executor_args(name, workers=workers, scheduler=scheduler)
    if name == "serial":
        return SerialExecutor()
    if name == "processes":
        return ProcessExecutor(workers)
    return DaskExecutor(scheduler, workers)


def check_executor_args(
    name: str, *, workers: int | None = None, scheduler: str | None = None
) -> None:
    """Raise :class:`InputError` for an unknown executor or a bad combination of options."""
    if name not in EXECUTORS:
        raise InputError("executor", f"unknown executor {name!r}", ", ".join(EXECUTORS))
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise InputError("workers", f"{workers!r} is not a positive integer", ">= 1")
    if scheduler and name != "dask":
        raise InputError("scheduler", "only used with --executor dask")
    if scheduler and workers is not None:
        raise InputError(
            "workers",
            "a --scheduler cluster brings its own workers; give --workers only for a local run",
        )
    if name == "serial" and workers not in (None, 1):
        raise InputError(
            "workers",
            "the serial executor runs one worker",
            "--executor processes or dask for more",
        )
