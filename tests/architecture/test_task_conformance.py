"""Every task goes through the same protocol checks: shapes, dtype, determinism by the
generator, fresh draws from a fresh seed, finite values."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalogue import tasks  # noqa: E402

import iclab.tasks  # noqa: E402
from iclab.tasks.base import Task  # noqa: E402
from iclab.tasks.prompts import Prompts  # noqa: E402

CATALOGUE = tasks()
NAMES = sorted(CATALOGUE)


def _draw(task: Task, seed: int, batch: int = 6) -> Prompts:
    return task.sample(batch, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", NAMES)
def test_task_protocol(name: str) -> None:
    task = CATALOGUE[name]()
    assert isinstance(task, Task), f"{name} does not implement Task"
    p = _draw(task, 0)
    B, n, d = p.X.shape
    assert B == 6 and d == task.d, (name, tuple(p.X.shape), task.d)
    assert p.y.shape == (B, n) and p.x_q.shape == (B, d) and p.y_q.shape == (B,), name
    assert p.w is None or p.w.shape[0] == B, name
    for t in (p.X, p.y, p.x_q, p.y_q):
        assert t.is_floating_point() and torch.isfinite(t).all(), name


@pytest.mark.parametrize("name", NAMES)
def test_same_generator_state_same_prompts(name: str) -> None:
    task = CATALOGUE[name]()
    a, b, c = _draw(task, 1), _draw(task, 1), _draw(task, 2)
    assert torch.equal(a.X, b.X) and torch.equal(a.y_q, b.y_q), f"{name} is not reproducible"
    assert not torch.equal(a.X, c.X), f"{name} ignores the generator"


def _task_classes() -> set[type]:
    found = set()
    for info in pkgutil.walk_packages(iclab.tasks.__path__, prefix="iclab.tasks."):
        module = importlib.import_module(info.name)
        for obj_name, obj in inspect.getmembers(module, inspect.isclass):
            if (obj.__module__ == module.__name__ and not obj_name.startswith("_")
                    and obj is not Task and callable(getattr(obj, "sample", None))):
                found.add(obj)
    return found


def test_every_task_class_is_in_the_catalogue() -> None:
    covered = {type(CATALOGUE[name]()) for name in NAMES}
    missing = sorted(c.__qualname__ for c in _task_classes() - covered)
    assert not missing, f"tasks with no conformance entry: {missing}"
