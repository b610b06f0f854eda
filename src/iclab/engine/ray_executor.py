"""Ray executor: run a sweep's units as Ray tasks, on this machine or on a Ray cluster.

>>> from iclab import run_experiment
>>> from iclab.engine.ray_executor import RayExecutor
>>> run_experiment("lu2024.fig1", "full", executor=RayExecutor(address="auto"))  # doctest: +SKIP

Design (see docs/scaling.md):

* every unit is one Ray task calling :func:`iclab.engine.units.execute_unit`, the same
  function every executor calls, so results equal the local executor's bit for bit;
* CPU units ask for ``num_cpus=1``; GPU units (``job.device`` starting with ``"cuda"``) ask
  for ``num_gpus=gpu_fraction`` (default :data:`DEFAULT_GPU_FRACTION`), so several small models
  share one device. Ray then exposes the granted GPU as ``cuda:0`` inside the task, so the
  device index of the job is dropped there;
* at most ``max_in_flight`` tasks are submitted at once (backpressure: a sweep of 10^5 units
  does not put 10^5 tasks into the cluster), and results stream back through ``ray.wait`` in
  completion order. Only the driver writes the store (the runner does), so a unit is either
  stored complete or not at all;
* a task whose worker process dies is retried by Ray up to ``max_retries`` times. A unit that
  still fails (or raises) is recorded, the sweep goes on with the others, and
  :class:`UnitsFailedError` is raised at the end naming the failed units. Rerunning the same
  command computes only the missing units;
* when this executor starts Ray (or connects to a cluster), the driver's
  ``ICLAB_EXPERIMENT_MODULES`` is forwarded to the workers (job ``runtime_env``), so
  experiments registered outside the package are found there too (the modules themselves
  must be importable on every node, e.g. from a shared file system on ``PYTHONPATH``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from collections.abc import Iterator, Sequence
from typing import Any

from iclab.engine.ray_reaper import start_reaper
from iclab.engine.units import UnitJob, execute_unit
from iclab.engine.worker_guard import DRIVER_PID_ENV, die_with_driver_env
from iclab.errors import ICLabError
from iclab.validation import check_in_range, check_int

DEFAULT_GPU_FRACTION = 0.25
"""GPU share of one unit when none is given: four small models per device."""

FORWARDED_ENV = ("ICLAB_EXPERIMENT_MODULES",)
"""Driver environment variables passed on to the Ray workers."""


@dataclasses.dataclass(frozen=True)
class UnitFailure:
    """A unit that failed after its retries: the job and a one-line reason."""

    job: UnitJob
    reason: str


class UnitsFailedError(ICLabError):
    """Some units failed on Ray after their retries; every other unit was stored."""

    def __init__(self, failures: list[UnitFailure], total: int) -> None:
        self.failures, self.total = failures, total
        first = failures[0]
        super().__init__(
            f"{len(failures)} of {total} units failed on Ray after retries (first: "
            f"{first.job.experiment.name} point={first.job.unit.point} "
            f"trial={first.job.unit.trial}: "
            f"{first.reason}); the finished units are stored, rerun the same command to "
            "compute only the missing ones"
        )


def _one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` of the root cause of a Ray error.

    An exception that could not be unpickled on the driver arrives as Ray's
    ``UnserializableException`` holding the original traceback text; its last unindented
    line (``module.Type: message``) is used instead.
    """
    cause = getattr(exc, "cause", None) or exc
    original = getattr(cause, "_original_stack_trace", None)
    if isinstance(original, str):
        heads = [ln for ln in original.strip().splitlines() if ln and not ln[0].isspace()]
        if heads:
            kind, _, message = heads[-1].partition(": ")
            return kind.rsplit(".", 1)[-1] + (f": {message}" if message else "")
    lines = str(cause).strip().splitlines()
    return type(cause).__name__ + (f": {lines[0]}" if lines else "")


def run_unit_on_worker(job: UnitJob) -> tuple[list[dict[str, Any]], float]:
    """Body of a Ray task: :func:`execute_unit` with the GPU that Ray granted.

    Ray sets ``CUDA_VISIBLE_DEVICES`` to the granted GPU, which torch then sees as ``cuda:0``;
    a driver-side index such as ``cuda:1`` would not exist here, so it is dropped.
    """
    die_with_driver_env()  # a local Ray's worker ends with the driver that started it
    if job.device.startswith("cuda"):
        job = dataclasses.replace(job, device="cuda")
    return execute_unit(job)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ICLabError("the ray executor needs Ray: pip install 'iclab[ray]'") from None
    return ray


class RayExecutor:
    """Run units as Ray tasks; yields ``(job, rows, seconds)`` as they finish.

    Args:
        address: a Ray cluster address (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``);
            ``None`` starts a local Ray with ``workers`` CPUs (or reuses the Ray already
            initialised in this process).
        workers: CPUs of the local Ray; on a cluster a lower bound on the tasks kept in flight.
        gpu_fraction: GPU share requested by each unit with a ``cuda`` device, in (0, 1].
        max_retries: times Ray reruns a task whose worker died.
        max_in_flight: tasks submitted at once; default twice the cluster's slots.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int = 1,
                 gpu_fraction: float | None = None, max_retries: int = 3,
                 max_in_flight: int | None = None) -> None:
        self.address = address or None
        self.workers = check_int("workers", workers, minimum=1)
        fraction = DEFAULT_GPU_FRACTION if gpu_fraction is None else gpu_fraction
        self.gpu_fraction = float(check_in_range("gpu_fraction", fraction, 0.0, 1.0,
                                                 low_open=True))
        self.max_retries = check_int("max_retries", max_retries, minimum=0)
        self.max_in_flight = (None if max_in_flight is None
                              else check_int("max_in_flight", max_in_flight, minimum=1))
        self.failures: list[UnitFailure] = []

    # ---- set-up --------------------------------------------------------------------------
    def init_options(self) -> dict[str, Any]:
        """Keyword arguments of ``ray.init``: a local Ray with ``workers`` CPUs, or the cluster.

        The driver's ``ICLAB_EXPERIMENT_MODULES`` (see :data:`FORWARDED_ENV`) becomes part of
        the job's ``runtime_env``, so workers on every node register the same experiments.
        """
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
        if self.address is None:
            options.update(num_cpus=self.workers, include_dashboard=False)
            env[DRIVER_PID_ENV] = str(os.getpid())  # workers on this machine die with us
        else:
            options["address"] = self.address
        if env:
            options["runtime_env"] = {"env_vars": env}
        return options

    def connect(self) -> Any:
        """Initialise Ray unless this process already did; returns the ``ray`` module.

        A Ray initialised beforehand (by the caller) is used as it is, with its own
        resources and environment.
        """
        ray = _import_ray()
        if not ray.is_initialized():
            if self.address is None:  # Ray's processes start below us: they end with us
                start_reaper()
            ray.init(**self.init_options())
        return ray

    def task_options(self, job: UnitJob) -> dict[str, Any]:
        """Ray resources and retry policy of one unit's task."""
        options: dict[str, Any] = {"num_cpus": 1, "max_retries": self.max_retries,
                                   "retry_exceptions": False}
        if job.device.startswith("cuda"):
            options["num_gpus"] = self.gpu_fraction
        return options

    def _in_flight_limit(self, ray: Any, jobs: Sequence[UnitJob]) -> int:
        if self.max_in_flight is not None:
            return self.max_in_flight
        resources = ray.cluster_resources()
        slots = max(self.workers, int(resources.get("CPU", 1)))
        if any(j.device.startswith("cuda") for j in jobs):
            slots = max(slots, math.ceil(resources.get("GPU", 0) / self.gpu_fraction))
        return 2 * slots

    # ---- the executor protocol -----------------------------------------------------------
    def map(self, jobs: Sequence[UnitJob]) -> Iterator[tuple[UnitJob, list[dict], float]]:
        """Submit ``jobs`` (bounded in flight) and yield each result as it completes.

        Raises :class:`UnitsFailedError` after the last result if any unit failed. Closing
        the generator early (an interrupted sweep) cancels the tasks still in flight.
        """
        self.failures = []
        if not jobs:
            return
        ray = self.connect()
        remote = ray.remote(run_unit_on_worker)
        limit = self._in_flight_limit(ray, jobs)
        queue = iter(jobs)
        pending: dict[Any, UnitJob] = {}

        def submit_more() -> None:
            while len(pending) < limit:
                job = next(queue, None)
                if job is None:
                    return
                pending[remote.options(**self.task_options(job)).remote(job)] = job

        try:
            submit_more()
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    job = pending.pop(ref)
                    try:
                        rows, seconds = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        self.failures.append(UnitFailure(job, _one_line(exc)))
                        continue
                    finally:
                        submit_more()
                    yield job, rows, seconds
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):  # best effort: it may have finished
                    ray.cancel(ref)
        if self.failures:
            raise UnitsFailedError(self.failures, len(jobs))
