"""Choose an executor by name: ``local``, ``process`` or ``ray``.

Kept apart from :mod:`iclab.engine.executors` and :mod:`iclab.engine.ray_executor` (it
imports both) so that neither of them imports the other.
"""

from __future__ import annotations

from iclab.engine.executors import LocalExecutor, ProcessPoolExecutor
from iclab.engine.units import Executor
from iclab.validation import check_choice, check_int


def make_executor(name: str, workers: int = 1, address: str | None = None,
                  gpu_fraction: float | None = None) -> Executor:
    """``"local"``, ``"process"`` or ``"ray"`` (the last needs ``pip install iclab[ray]``).

    ``address`` and ``gpu_fraction`` (GPU share per ``cuda`` unit) apply to Ray only.
    """
    check_choice("executor", name, ["local", "process", "ray"])
    workers = check_int("workers", workers, minimum=1)
    if name == "local":
        return LocalExecutor()
    if name == "process":
        return ProcessPoolExecutor(workers)
    from iclab.engine.ray_executor import RayExecutor  # optional dependency

    return RayExecutor(address=address, workers=workers, gpu_fraction=gpu_fraction)
