"""The Ray executor: same results as the other executors, worker deaths, failures, resume.

All tests share one local Ray (2 CPUs) from conftest.py; they skip when Ray is not installed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ray")

from typer.testing import CliRunner  # noqa: E402

from iclab import run_experiment  # noqa: E402
from iclab.cli import app  # noqa: E402
from iclab.engine import ProcessPoolExecutor, Store  # noqa: E402
from iclab.engine.executors import Unit, UnitJob  # noqa: E402
from iclab.engine.ray_executor import (  # noqa: E402
    DEFAULT_GPU_FRACTION,
    RayExecutor,
    UnitsFailedError,
    _one_line,
    run_unit_on_worker,
)
from iclab.errors import ParameterError  # noqa: E402

pytestmark = pytest.mark.usefixtures("ray_session")


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["x", "trial", "method"]).reset_index(drop=True)


def _unit_keys(path: Path) -> pd.Series:
    with sqlite3.connect(path) as conn:
        return pd.read_sql_query("SELECT key FROM units", conn).key


def _crash_settings(tmp_path: Path, budget: int) -> dict:
    budget_file = tmp_path / "budget"
    budget_file.write_text(str(budget))
    return {"crash_at": 1.0, "budget_file": str(budget_file)}


def _attempts(overrides: dict) -> int:
    path = Path(overrides["budget_file"] + ".attempts")
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.slow  # starts a process pool and the first Ray workers (imports torch)
def test_ray_equals_local_and_process_pool(tmp_path: Path) -> None:
    overrides = {"xs": [float(i) for i in range(8)]}  # 8 points x 2 trials = 16 units
    local = run_experiment("toy.mc", overrides=overrides, store=tmp_path / "l.sqlite")
    pool = run_experiment("toy.mc", overrides=overrides, store=tmp_path / "p.sqlite",
                          executor=ProcessPoolExecutor(2))
    ray_run = run_experiment("toy.mc", overrides=overrides, store=tmp_path / "r.sqlite",
                             executor=RayExecutor(workers=2))
    assert ray_run.n_computed == ray_run.n_units == 16
    # Tolerance: none. Same unit seeds and the same execute_unit code path in every executor,
    # so the float64 Monte Carlo means must agree to the last bit.
    pd.testing.assert_frame_equal(_sorted(ray_run.results), _sorted(local.results),
                                  check_exact=True)
    pd.testing.assert_frame_equal(_sorted(pool.results), _sorted(local.results),
                                  check_exact=True)
    assert Store(tmp_path / "r.sqlite").runs("toy.mc").executor.tolist() == ["ray"]


def test_worker_killed_once_is_retried_nothing_lost_or_duplicated(tmp_path: Path) -> None:
    overrides = _crash_settings(tmp_path, budget=1)  # the first attempt of (x=1, trial 0) dies
    store = tmp_path / "ray.sqlite"
    res = run_experiment("toyray.crash", "full", overrides, store=store,
                         executor=RayExecutor(workers=2, max_retries=2))
    assert _attempts(overrides) == 2  # killed once, then retried on a fresh worker
    assert Path(overrides["budget_file"]).read_text() == "0"
    assert res.n_computed == res.n_units == 24  # 12 points x 2 trials
    keys = _unit_keys(store)
    assert len(keys) == 24 and keys.is_unique
    assert len(res.results) == 48  # 2 rows per unit, none duplicated
    # The budget is spent, so the same settings now run safely in this process.
    local = run_experiment("toyray.crash", "full", overrides, store=tmp_path / "local.sqlite")
    pd.testing.assert_frame_equal(_sorted(res.results), _sorted(local.results),
                                  check_exact=True)


def test_unit_failing_all_retries_is_reported_others_stored_then_resumed(
        tmp_path: Path) -> None:
    overrides = _crash_settings(tmp_path, budget=99)  # (x=1, trial 0) dies on every attempt
    store = tmp_path / "ray.sqlite"
    executor = RayExecutor(workers=2, max_retries=0)
    with pytest.raises(UnitsFailedError, match="1 of 8 units failed") as info:
        run_experiment("toyray.crash", "quick", overrides, store=store, executor=executor)
    assert len(info.value.failures) == 1
    failed = info.value.failures[0].job.unit
    assert (failed.point, failed.trial) == ({"x": 1.0}, 0)
    assert "\n" not in str(info.value)  # the CLI prints it as one line
    assert _attempts(overrides) == 1  # max_retries=0: no second try
    assert len(_unit_keys(store)) == 7  # every other unit stored, the failed one absent

    Path(overrides["budget_file"]).write_text("0")
    resumed = run_experiment("toyray.crash", "quick", overrides, store=store,
                             executor=RayExecutor(workers=2))
    assert resumed.n_computed == 1 and resumed.n_units == 8
    assert _unit_keys(store).is_unique and len(resumed.results) == 16
    local = run_experiment("toyray.crash", "quick", overrides, store=tmp_path / "local.sqlite")
    pd.testing.assert_frame_equal(_sorted(resumed.results), _sorted(local.results),
                                  check_exact=True)


def test_unit_raising_is_not_retried_and_reported(tmp_path: Path) -> None:
    overrides = _crash_settings(tmp_path, budget=0)
    Path(overrides["budget_file"]).write_text("raise")
    store = tmp_path / "ray.sqlite"
    with pytest.raises(UnitsFailedError) as info:
        run_experiment("toyray.crash", "quick", overrides, store=store,
                       executor=RayExecutor(workers=2))
    assert [f.reason for f in info.value.failures] == ["ValueError: toy unit failed on purpose"]
    assert _attempts(overrides) == 1  # deterministic errors are not retried
    assert len(_unit_keys(store)) == 7


def test_unpicklable_worker_error_is_reported_by_its_original_line() -> None:
    """iclab's errors with keyword-rich constructors may not unpickle on the driver; Ray then
    hands back the worker's traceback text, whose last line names the real error."""
    from ray.exceptions import UnserializableException

    trace = ("ray.exceptions.RayTaskError: ray::run_unit_on_worker() (pid=1, ip=10.0.0.1)\n"
             '  File "/x/executors.py", line 67, in execute_unit\n    raise ParameterError\n'
             "iclab.errors.ParameterError: rho=-1 is invalid: must be a number >= 0\n")
    assert (_one_line(UnserializableException(trace))
            == "ParameterError: rho=-1 is invalid: must be a number >= 0")
    assert _one_line(ValueError("first\nsecond")) == "ValueError: first"


class _Interrupted(Exception):
    pass


class _InterruptAfter:
    """Wraps an executor; raises after ``n`` results, as a Ctrl-C in the driver would."""

    name = "ray"

    def __init__(self, inner: RayExecutor, n: int) -> None:
        self.inner, self.n = inner, n

    def map(self, jobs: Sequence[UnitJob]) -> Iterator[tuple[UnitJob, list[dict], float]]:
        results = self.inner.map(jobs)
        for i, item in enumerate(results):
            if i == self.n:
                results.close()  # cancels the tasks still in flight
                raise _Interrupted
            yield item


def test_interrupted_ray_sweep_resumes_without_loss(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    with pytest.raises(_Interrupted):
        run_experiment("toy.mc", "full", store=store,
                       executor=_InterruptAfter(RayExecutor(workers=2, max_in_flight=4), 5))
    assert len(_unit_keys(store)) == 5
    assert Store(store).runs("toy.mc").status.tolist() == ["interrupted"]
    resumed = run_experiment("toy.mc", "full", store=store, executor=RayExecutor(workers=2))
    assert resumed.n_computed == 90 - 5
    keys = _unit_keys(store)
    assert len(keys) == 90 and keys.is_unique
    clean = run_experiment("toy.mc", "full", store=tmp_path / "clean.sqlite")
    pd.testing.assert_frame_equal(_sorted(resumed.results), _sorted(clean.results),
                                  check_exact=True)


def test_submission_is_bounded(ray_session, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    ray = ray_session
    waited_on: list[int] = []
    real_wait = ray.wait

    def spy(refs: list, **kw: object) -> object:
        waited_on.append(len(refs))
        return real_wait(refs, **kw)

    monkeypatch.setattr(ray, "wait", spy)
    res = run_experiment("toy.mc", "full", store=tmp_path / "s.sqlite",
                         executor=RayExecutor(workers=2, max_in_flight=3))
    assert res.n_computed == 90
    assert max(waited_on) == 3 and len(waited_on) >= 90 // 3
    # Default: twice the slots — the local Ray's 2 CPUs, or 1 GPU / 0.25 for GPU units.
    executor = RayExecutor(workers=2)
    assert executor._in_flight_limit(ray, [_job("cpu")]) == 4
    assert executor._in_flight_limit(ray, [_job("cuda")]) == 8


def _job(device: str) -> UnitJob:
    from iclab.experiments import all_experiments

    return UnitJob(all_experiments()["toy.mc"], {}, Unit(key="k", point={"x": 0.0}, trial=0,
                                                          seed=1), device)


def test_gpu_units_request_a_fraction_and_cpu_units_do_not() -> None:
    executor = RayExecutor(workers=2)
    assert "num_gpus" not in executor.task_options(_job("cpu"))
    assert executor.task_options(_job("cuda:1"))["num_gpus"] == DEFAULT_GPU_FRACTION
    assert RayExecutor(gpu_fraction=0.5).task_options(_job("cuda"))["num_gpus"] == 0.5
    assert executor.task_options(_job("cpu"))["max_retries"] == 3  # worker deaths retried
    for bad in (0.0, 1.5, -0.25):
        with pytest.raises(ParameterError, match="gpu_fraction"):
            RayExecutor(gpu_fraction=bad)


def test_fractional_gpu_units_share_one_device(ray_session, tmp_path: Path) -> None:
    """Four tasks with the executor's GPU options hold the one (declared) GPU at once.

    Each task announces itself and waits for the other three; were each granted a whole GPU,
    they would run one at a time and the wait would time out. CPU-only machines exercise this
    path through Ray's resource accounting only (the GPU is declared, not real).
    """
    ray = ray_session
    options = {**RayExecutor(gpu_fraction=0.25).task_options(_job("cuda")), "num_cpus": 0}

    @ray.remote
    def hold(folder: str, i: int) -> tuple[bool, list[str]]:
        Path(folder, str(i)).touch()
        deadline = time.time() + 60
        while len(list(Path(folder).iterdir())) < 4 and time.time() < deadline:
            time.sleep(0.05)
        gpus = [str(g) for g in ray.get_runtime_context().get_accelerator_ids()["GPU"]]
        return len(list(Path(folder).iterdir())) == 4, gpus

    out = ray.get([hold.options(**options).remote(str(tmp_path), i) for i in range(4)])
    assert all(together for together, _ in out)
    assert all(gpus == ["0"] for _, gpus in out)


def test_experiment_modules_are_forwarded_to_cluster_workers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICLAB_EXPERIMENT_MODULES", "my_lab.figures")
    options = RayExecutor(address="auto").init_options()
    assert options["address"] == "auto"
    assert options["runtime_env"] == {"env_vars": {"ICLAB_EXPERIMENT_MODULES": "my_lab.figures"}}
    local = RayExecutor(workers=3).init_options()
    assert local["num_cpus"] == 3 and "address" not in local


def test_worker_sees_its_granted_gpu_as_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr("iclab.engine.ray_executor.execute_unit",
                        lambda job: (seen.append(job.device), ([], 0.0))[1])
    run_unit_on_worker(_job("cuda:3"))
    run_unit_on_worker(_job("cpu"))
    assert seen == ["cuda", "cpu"]


def test_cli_runs_on_ray_and_rejects_bad_fraction(tmp_path: Path) -> None:
    runner = CliRunner()
    store = str(tmp_path / "s.sqlite")
    res = runner.invoke(app, ["run", "toy.mc", "--executor", "ray", "--workers", "2",
                              "--store", store, "--no-plot"])
    assert res.exit_code == 0, res.output
    assert "6 computed" in res.output
    assert Store(store).runs("toy.mc").executor.tolist() == ["ray"]
    res = runner.invoke(app, ["run", "toy.mc", "--executor", "ray", "--gpu-fraction", "2",
                              "--store", str(tmp_path / "t.sqlite")])
    assert res.exit_code == 2 and "gpu_fraction" in res.output
    assert not (tmp_path / "t.sqlite").exists()
    budget = tmp_path / "budget"
    budget.write_text("raise")
    res = runner.invoke(app, ["run", "toyray.crash", "--executor", "ray", "--set", "crash_at=1",
                              "--set", f"budget_file={budget}", "--store", store, "--no-plot"])
    assert res.exit_code == 2
    # Progress lines of the units that finished may come first; the error itself is one line.
    lines = res.output.strip().splitlines()
    assert "Traceback" not in res.output
    assert [ln for ln in lines if ln.startswith("error:")] == [lines[-1]]
    assert lines[-1].startswith("error: 1 of 8 units failed on Ray")
