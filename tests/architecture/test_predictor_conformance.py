"""Every predictor goes through the same protocol checks (scikit-learn ``check_estimator``
spirit): shape, dtype, device, determinism, independence of prompts, blindness to the query
label, and the shared Monte Carlo risk."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalogue import predictors  # noqa: E402

import iclab.baselines  # noqa: E402
import iclab.models  # noqa: E402
from iclab.evaluate import mc_risk, squared_errors  # noqa: E402
from iclab.models.base import Predictor  # noqa: E402
from iclab.tasks.prompts import Prompts  # noqa: E402

CATALOGUE = predictors()
NAMES = sorted(CATALOGUE)


def _clone(p: Prompts) -> Prompts:
    return Prompts(*(None if t is None else t.clone() for t in dataclasses.astuple(p)))


def _rows(p: Prompts, index: torch.Tensor) -> Prompts:
    return Prompts(*(None if t is None else t[index] for t in dataclasses.astuple(p)))


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    a, b = a.detach(), b.detach()
    tol = 1e-4 if a.dtype == torch.float32 else 1e-9
    return torch.allclose(a, b, rtol=tol, atol=tol * (1 + float(b.abs().max())))


def test_the_catalogue_is_not_empty() -> None:
    assert len(NAMES) >= 5, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_predictor_protocol(name: str) -> None:
    predictor, prompts = CATALOGUE[name]()
    assert isinstance(predictor, Predictor), f"{name} does not implement Predictor"
    M, B = predictor.members, prompts.batch
    assert isinstance(M, int) and M >= 1, f"{name}: members={M!r}"
    assert B >= 4, f"{name}: give at least 4 test prompts"
    before = _clone(prompts)
    out = predictor.predict(prompts)
    assert isinstance(out, torch.Tensor) and out.shape == (M, B), (name, tuple(out.shape))
    assert out.dtype == prompts.X.dtype and out.device == prompts.X.device, name
    assert torch.isfinite(out).all(), f"{name}: non-finite predictions"
    for field in dataclasses.fields(Prompts):
        a, b = getattr(prompts, field.name), getattr(before, field.name)
        assert (a is None and b is None) or torch.equal(a, b), f"{name} modified {field.name}"
    assert torch.equal(predictor.predict(prompts), out), f"{name} is not deterministic"


@pytest.mark.parametrize("name", NAMES)
def test_prompts_are_independent(name: str) -> None:
    """Row b depends on prompt b only: sub-batches and permutations give the same rows."""
    predictor, prompts = CATALOGUE[name]()
    out = predictor.predict(prompts)
    B = prompts.batch
    perm = torch.randperm(B, generator=torch.Generator().manual_seed(0))
    assert _close(predictor.predict(_rows(prompts, perm)), out[:, perm]), name
    head = torch.arange(B // 2)
    assert _close(predictor.predict(_rows(prompts, head)), out[:, head]), name


@pytest.mark.parametrize("name", NAMES)
def test_query_label_is_not_seen(name: str) -> None:
    predictor, prompts = CATALOGUE[name]()
    out = predictor.predict(prompts)
    moved = prompts.replace(y_q=prompts.y_q + 100.0)
    assert torch.equal(predictor.predict(moved), out), f"{name} reads the query label"


@pytest.mark.parametrize("name", NAMES)
def test_monte_carlo_risk_is_the_mean_squared_error(name: str) -> None:
    predictor, prompts = CATALOGUE[name]()
    direct = ((predictor.predict(prompts) - prompts.y_q) ** 2).mean(dim=-1)
    assert _close(mc_risk(predictor, prompts), direct), name
    chunked = squared_errors(predictor, prompts, chunk=3).mean(dim=-1)
    assert _close(chunked, direct), name


def _predictor_classes() -> set[type]:
    """Every public class of iclab.models / iclab.baselines that implements the protocol."""
    found = set()
    for package in (iclab.models, iclab.baselines):
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            module = importlib.import_module(info.name)
            for obj_name, obj in inspect.getmembers(module, inspect.isclass):
                if (obj.__module__ == module.__name__ and not obj_name.startswith("_")
                        and obj is not Predictor and callable(getattr(obj, "predict", None))
                        and hasattr(obj, "members")):
                    found.add(obj)
    return found


def test_every_predictor_class_is_in_the_catalogue() -> None:
    covered = {type(CATALOGUE[name]()[0]) for name in NAMES}
    missing = sorted(c.__qualname__ for c in _predictor_classes() - covered)
    assert not missing, f"predictors with no conformance entry: {missing}"
