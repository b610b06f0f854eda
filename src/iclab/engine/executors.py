"""Executors: run units of work and yield their rows back to the driver as they finish.

Every executor calls the same top-level function, :func:`iclab.engine.units.execute_unit`,
so a unit gives the same rows whichever executor ran it. :func:`make_executor` (which also
knows the Ray executor) lives in :mod:`iclab.engine.executor_factory`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
from collections.abc import Iterator, Sequence

from iclab.engine.units import (
    UNIT_THREADS_ENV,
    Executor,
    Unit,
    UnitJob,
    execute_unit,
    unit_threads,
)
from iclab.engine.worker_guard import init_pool_worker

__all__ = ["UNIT_THREADS_ENV", "Executor", "LocalExecutor", "ProcessPoolExecutor", "Unit",
           "UnitJob", "execute_unit", "unit_threads"]


class LocalExecutor:
    """In-process, one unit after another (the default; best for GPU work)."""

    name = "local"

    def map(self, jobs: Sequence[UnitJob]) -> Iterator[tuple[UnitJob, list[dict], float]]:
        for job in jobs:
            rows, seconds = execute_unit(job)
            yield job, rows, seconds


class ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes; each unit runs with :func:`unit_threads`."""

    name = "process"

    def __init__(self, workers: int) -> None:
        self.workers = max(1, int(workers))

    def map(self, jobs: Sequence[UnitJob]) -> Iterator[tuple[UnitJob, list[dict], float]]:
        if not jobs:
            return
        ctx = mp.get_context("spawn")
        pool = cf.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=init_pool_worker,
                                      initargs=(unit_threads(), os.getpid()))
        finished = False
        try:
            futures = {pool.submit(execute_unit, job): job for job in jobs}
            for fut in cf.as_completed(futures):
                rows, seconds = fut.result()
                yield futures[fut], rows, seconds
            finished = True
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:  # interrupted or failed: stop the workers instead of waiting for their units
                processes = list(getattr(pool, "_processes", {}).values())
                pool.shutdown(wait=False, cancel_futures=True)
                for proc in processes:
                    with contextlib.suppress(Exception):
                        proc.terminate()
