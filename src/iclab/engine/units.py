"""Units of work and the one function that computes a unit, in any process.

Every executor calls :func:`execute_unit`, which instantiates the job's experiment *class*
(pickled by reference, so a worker needs no registry lookup) — so a unit gives the same rows
whichever executor ran it (the seed is part of the unit, not of the process).
:func:`execute_unit` also pins torch's intra-op thread count to :func:`unit_threads` (1
unless ``ICLAB_UNIT_THREADS`` says otherwise) while the unit runs: CPU reductions split their
sums by thread, so the same unit with another thread count can differ in the last bits. With
the count pinned, the local executor, the process pool and Ray give bit-identical rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from iclab.contract import Experiment, RunContext
from iclab.devices import resolve_device, torch_threads
from iclab.environment import UNIT_THREADS_ENV, unit_threads

__all__ = ["UNIT_THREADS_ENV", "Executor", "Unit", "UnitJob", "execute_unit", "unit_threads"]


@dataclass(frozen=True)
class Unit:
    """One (point, trial) of an experiment with its content key and derived seed."""

    key: str
    point: dict[str, Any]
    trial: int
    seed: int


@dataclass(frozen=True)
class UnitJob:
    """Everything a worker needs to compute a unit (picklable).

    ``experiment`` is the experiment *class*, pickled by reference (module and name), so a
    worker needs no registry lookup and an unregistered experiment runs anywhere its module
    can be imported.
    """

    experiment: type[Experiment]
    settings: dict[str, Any]
    unit: Unit
    device: str


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.ndarray | list | tuple):
        return [_jsonable(v) for v in value]
    return value




def execute_unit(job: UnitJob) -> tuple[list[dict[str, Any]], float]:
    """Compute one unit: returns (rows, seconds). Runs in any process, with torch's intra-op
    threads pinned to :func:`unit_threads` so the arithmetic is the same everywhere."""
    exp = job.experiment()
    settings = exp.Settings(**job.settings)
    ctx = RunContext(seed=job.unit.seed, device=resolve_device(job.device))
    start = time.perf_counter()
    with torch_threads(unit_threads()):
        rows = exp.run_point(settings, dict(job.unit.point), job.unit.trial, ctx)
    seconds = time.perf_counter() - start
    clean = [{k: _jsonable(v) for k, v in row.items()} for row in rows]
    return clean, seconds


class Executor(Protocol):
    """Runs jobs; yields ``(job, rows, seconds)`` in completion order."""

    name: str

    def map(self, jobs: Sequence[UnitJob]) -> Iterator[tuple[UnitJob, list[dict], float]]: ...
