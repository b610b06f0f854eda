"""The local executor, the process pool and Ray give bit-identical rows.

Each unit runs with the same pinned torch intra-op thread count
(:func:`iclab.engine.executors.unit_threads`) wherever it runs, so its arithmetic — the
split of every parallel reduction included — is the same. Checked on one small experiment
of each paper and on a toy whose rows record the thread count the unit saw. At d = 16, two of
the five ``lu2024.fig1`` units below give different rows with 1 and with 2 threads, so the
comparison would catch executors that ran them with different counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from iclab import run_experiment
from iclab.engine import LocalExecutor, ProcessPoolExecutor
from iclab.engine.executors import UNIT_THREADS_ENV, unit_threads
from iclab.errors import ParameterError

SMALL: dict[str, dict[str, Any]] = {
    "lu2024.fig1": {"d": 16, "trials": 1, "alphas": [1.0, 10.0], "taus": [0.5, 2.0],
                    "lams_c": [0.1], "taus_c": [0.5]},
    "li2024.fig_iid": {"d": 4, "ns": [4, 8], "seeds": 2, "steps": 20, "batch": 32,
                       "test_size": 200},
    "shi2024.fig_rank_noise": {"steps": 20, "seeds": 2, "batch": 64, "n_test": 1000,
                               "ranks": [1, 2], "steps_grid": [10, 20]},
    "toy.rel": {"xs": [0.0, 1.0, 2.0], "trials": 2},
}


def _executors() -> dict[str, Any]:
    out: dict[str, Any] = {"local": LocalExecutor(), "process": ProcessPoolExecutor(2)}
    try:
        import ray  # noqa: F401
    except ImportError:
        return out
    from iclab.engine.ray_executor import RayExecutor

    out["ray"] = RayExecutor(workers=2)
    return out


@pytest.fixture(scope="module")
def ray_cleanup() -> Any:
    yield
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, str | int | float)
                                                      ).all()]
    return frame.sort_values(keys).reset_index(drop=True)


@pytest.mark.parametrize("name", list(SMALL))
def test_executors_agree_bit_for_bit(tmp_path: Path, name: str, ray_cleanup: Any) -> None:
    frames = {}
    for label, executor in _executors().items():
        res = run_experiment(name, "quick", SMALL[name], store=tmp_path / f"{label}.sqlite",
                             executor=executor)
        assert res.n_computed == res.n_units > 0
        frames[label] = _sorted(res.results)
    reference = frames.pop("local")
    for label, frame in frames.items():
        pd.testing.assert_frame_equal(frame, reference, check_exact=True, obj=label)
    if name == "toy.rel":
        assert set(reference["threads"]) == {1}  # the pin, seen from inside the unit


def test_unit_threads_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    before = torch.get_num_threads()
    monkeypatch.setenv(UNIT_THREADS_ENV, "3")
    assert unit_threads() == 3
    res = run_experiment("toy.rel", "quick", {"xs": [0.0]}, store=tmp_path / "s.sqlite")
    assert set(res.results["threads"]) == {3}
    assert torch.get_num_threads() == before  # restored after the unit
    monkeypatch.setenv(UNIT_THREADS_ENV, "0")
    with pytest.raises(ParameterError, match=UNIT_THREADS_ENV):
        unit_threads()
