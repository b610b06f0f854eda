"""The Python API fails like the CLI: a ParameterError naming the argument, not a deep
traceback. NumPy scalars count as numbers, bools do not, empty arrays are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import iclab
from iclab.engine import Store, run_experiment
from iclab.errors import ParameterError
from iclab.theory import e_icl, e_idg


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"overrides": [("trials", 1)]}, "overrides"),
    ({"overrides": "trials=1"}, "overrides"),
    ({"overrides": {1: 2}}, "overrides"),
    ({"store": 123}, "store"),
    ({"store": None}, "store"),
    ({"store": ""}, "store"),
    ({"variant": 1}, "variant"),
    ({"device": 0}, "device"),
    ({"allow_large": "yes"}, "allow_large"),
    ({"executor": "process"}, "executor"),
    ({"overrides": {"trials": True}}, "trials"),
    ({"overrides": {"trials": np.bool_(True)}}, "trials"),
    ({"overrides": {"trials": np.float64(1.5)}}, "trials"),
    ({"overrides": {"xs": np.array([])}}, "xs"),
])
def test_wrong_types_are_parameter_errors(tmp_path: Path, kwargs: dict[str, Any],
                                          name: str) -> None:
    args = {"store": tmp_path / "s.sqlite", **kwargs}
    with pytest.raises(ParameterError) as info:
        iclab.run_experiment("toy.rel", **args)
    assert str(info.value).startswith(f"{name}="), str(info.value)
    assert len(str(info.value).splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_numpy_scalars_and_arrays_are_numbers(tmp_path: Path) -> None:
    plain = iclab.run_experiment("toy.rel", overrides={"xs": [0.0, 2.0], "trials": 1},
                                 store=tmp_path / "a.sqlite")
    numpy = iclab.run_experiment("toy.rel", overrides={"xs": np.array([0.0, 2.0]),
                                                       "trials": np.int64(1)},
                                 store=tmp_path / "b.sqlite")
    assert numpy.settings_hash == plain.settings_hash  # the same settings, the same sweep
    assert numpy.results.equals(plain.results)


def test_engine_takes_a_store_object_and_refuses_other_objects(tmp_path: Path) -> None:
    from iclab.experiments import get_experiment

    exp = get_experiment("toy.rel")
    with Store(tmp_path / "s.sqlite") as db:
        res = run_experiment(exp, overrides={"trials": 1}, store=db)
    assert res.n_units == 2
    with pytest.raises(ParameterError, match=r"^store="):
        run_experiment(exp, overrides={"trials": 1}, store=3.5)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"^store="):
        Store(123)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"^store="):
        iclab.stored_results("toy.rel", store=[1])  # type: ignore[arg-type]


@pytest.mark.parametrize("func", [e_icl, e_idg])
def test_theory_refuses_bools_and_empty_arrays(func: Any) -> None:
    with pytest.raises(ParameterError, match=r"^tau=True .*not True/False"):
        func(True, 1.0, 1.0, 0.1)
    with pytest.raises(ParameterError, match=r"^alpha='empty array' .*non-empty"):
        func(1.0, np.array([]), 1.0, 0.1)
    with pytest.raises(ParameterError, match=r"^tau=.*finite"):
        func(np.inf, 1.0, 1.0, 0.1)


def test_theory_takes_numpy_scalars_as_numbers() -> None:
    expected = e_icl(2.0, 3.0, 0.5, 0.1)
    assert e_icl(np.float32(2.0), np.int64(3), np.float64(0.5), 0.1) == pytest.approx(expected)
    grid = e_icl(np.array([2.0, 4.0]), 3.0, 0.5, 0.1)
    assert grid[0] == pytest.approx(expected) and grid.shape == (2,)
