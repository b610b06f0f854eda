"""Choose an executor by name: ``local``, ``process`` or ``ray``, and check its options.

Kept apart from :mod:`iclab.engine.executors` and :mod:`iclab.engine.ray_executor` (it
imports both) so that neither of them imports the other.
"""

from __future__ import annotations

import importlib.util
import math
import os

from iclab.engine.executors import LocalExecutor, ProcessPoolExecutor
from iclab.engine.units import Executor
from iclab.errors import ICLabError, ParameterError
from iclab.validation import check_choice, check_in_range, check_int, machine_memory_bytes

WORKER_BASE_BYTES = 512 * 2**20
"""Memory of one idle pool worker (a Python process with torch imported; ~460 MB measured)."""


def max_workers(unit_bytes: float = 0.0) -> int:
    """The most pool workers a run may use without ``--allow-large``.

    The rule: no more workers than CPU cores, and no more than fit in the machine's memory
    when each holds :data:`WORKER_BASE_BYTES` plus one unit's estimated memory
    (``unit_bytes``, from :func:`iclab.validation.estimate_unit_bytes`); at least 1.
    """
    cores = os.cpu_count() or 1
    per_worker = WORKER_BASE_BYTES + max(0.0, float(unit_bytes))
    by_memory = math.floor(machine_memory_bytes() / per_worker)
    return max(1, min(cores, by_memory))


def check_workers(workers: object, unit_bytes: float = 0.0, allow_large: bool = False) -> int:
    """``workers`` as an int >= 1, at most :func:`max_workers` unless ``allow_large``."""
    n = check_int("workers", workers, minimum=1)
    limit = max_workers(unit_bytes)
    if n > limit and not allow_large:
        raise ParameterError("workers", n, f"at most {limit} on this machine (CPU cores, and "
                                           "memory per worker with one unit each); pass "
                                           "--allow-large to use more")
    return n


def make_executor(name: str, workers: int = 1, address: str | None = None,
                  gpu_fraction: float | None = None, *, allow_large: bool = False,
                  unit_bytes: float = 0.0) -> Executor:
    """``"local"``, ``"process"`` or ``"ray"`` (the last needs ``pip install iclab[ray]``).

    ``address`` and ``gpu_fraction`` (GPU share per ``cuda`` unit, in (0, 1]) apply to Ray
    only and are refused with another executor, as is ``workers > 1`` with ``local``. The
    number of workers is capped by :func:`check_workers` (``allow_large`` lifts the cap;
    ``unit_bytes`` is one unit's estimated memory). Ray's presence is checked here, before
    any store is opened.
    """
    check_choice("executor", name, ["local", "process", "ray"])
    workers = check_workers(workers, unit_bytes, allow_large)
    if name != "ray":
        for option, value in (("address", address), ("gpu_fraction", gpu_fraction)):
            if value is not None:
                raise ParameterError(option, value, "given only with the ray executor "
                                                    f"(not with {name})")
    if name == "local":
        if workers > 1:
            raise ParameterError("workers", workers, "1 with the local executor (the process "
                                                     "or ray executor runs several)")
        return LocalExecutor()
    if name == "process":
        return ProcessPoolExecutor(workers)
    if gpu_fraction is not None:
        check_in_range("gpu_fraction", gpu_fraction, 0.0, 1.0, low_open=True)
    if importlib.util.find_spec("ray") is None:
        raise ICLabError("executor='ray' needs Ray, which is not installed: "
                         "pip install 'iclab[ray]', or use --executor process")
    from iclab.engine.ray_executor import RayExecutor

    return RayExecutor(address=address, workers=workers, gpu_fraction=gpu_fraction)
