"""Store, runner and executors: resumability, no duplicates, executor independence, export."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from iclab import run_experiment
from iclab.engine import ProcessPoolExecutor, Store
from iclab.engine.export import export_experiment
from iclab.engine.runner import plan_units
from iclab.errors import ParameterError, UnknownExperimentError
from iclab.experiments import get_experiment


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["x", "trial", "method"]).reset_index(drop=True)


def test_repeated_run_recomputes_nothing(tmp_path: Path) -> None:
    first = run_experiment("toy.mc", store=tmp_path / "s.sqlite")
    second = run_experiment("toy.mc", store=tmp_path / "s.sqlite")
    assert first.n_computed == first.n_units == 6
    assert second.n_computed == 0
    pd.testing.assert_frame_equal(_sorted(first.results), _sorted(second.results))
    assert len(second.results) == 12  # 3 points x 2 trials x 2 methods


def test_seeds_depend_on_content_not_order(tmp_path: Path) -> None:
    exp = get_experiment("toy.mc")
    units = plan_units(exp, exp.make_settings("quick"))
    assert len({u.seed for u in units}) == len(units)
    reversed_xs = run_experiment("toy.mc", overrides={"xs": [2.0, 1.0, 0.0]},
                                 store=tmp_path / "a.sqlite").results
    forward = run_experiment("toy.mc", store=tmp_path / "b.sqlite").results
    pd.testing.assert_frame_equal(_sorted(reversed_xs), _sorted(forward))


def test_process_pool_equals_local(tmp_path: Path) -> None:
    local = run_experiment("toy.mc", "full", store=tmp_path / "l.sqlite").results
    pool = run_experiment("toy.mc", "full", store=tmp_path / "p.sqlite",
                          executor=ProcessPoolExecutor(2)).results
    # Same seeds, same code path: equal to the last bit.
    pd.testing.assert_frame_equal(_sorted(local), _sorted(pool), check_exact=True)


def test_bad_settings_write_nothing(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    with pytest.raises(ParameterError, match="trials"):
        run_experiment("toy.mc", overrides={"trials": 0}, store=store)
    with pytest.raises(ParameterError, match="nosuch"):
        run_experiment("toy.mc", overrides={"nosuch": 1}, store=store)
    with pytest.raises(ParameterError, match="device"):
        run_experiment("toy.mc", store=store, device="tpu")
    with pytest.raises(UnknownExperimentError, match="toy.mc"):
        run_experiment("nosuch", store=store)
    assert not store.exists()


def test_engine_takes_experiments_and_iclab_takes_names(tmp_path: Path) -> None:
    """The engine runs an Experiment instance or class and refuses a name with a pointer to
    iclab.run_experiment (which resolves names); all three give the same rows."""
    from iclab.engine import run_experiment as engine_run

    store = tmp_path / "s.sqlite"
    exp = get_experiment("toy.mc")
    with pytest.raises(ParameterError, match=r"experiment.*iclab\.run_experiment"):
        engine_run("toy.mc", store=store)
    with pytest.raises(ParameterError, match="experiment"):
        engine_run(42, store=store)  # type: ignore[arg-type]
    assert not store.exists()
    by_instance = engine_run(exp, store=tmp_path / "a.sqlite").results
    by_class = engine_run(type(exp), store=tmp_path / "b.sqlite").results
    by_name = run_experiment("toy.mc", store=tmp_path / "c.sqlite").results
    pd.testing.assert_frame_equal(by_instance, by_class, check_exact=True)
    pd.testing.assert_frame_equal(by_instance, by_name, check_exact=True)


def test_export_csv_and_parquet(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    res = run_experiment("toy.mc", store=store)
    n_csv = export_experiment(store, "toy.mc", "csv", tmp_path / "t.csv")
    n_pq = export_experiment(store, "toy.mc", "parquet", tmp_path / "t.parquet")
    csv = pd.read_csv(tmp_path / "t.csv")
    pq = pd.read_parquet(tmp_path / "t.parquet")
    assert n_csv == n_pq == len(res.results) == len(csv) == len(pq)
    assert list(csv.columns[:3]) == ["x", "trial", "method"]
    assert {"variant", "settings_hash", "settings.seed"} <= set(pq.columns)
    meta = ["variant", "settings_hash", *[c for c in csv.columns if c.startswith("settings.")]]
    pd.testing.assert_frame_equal(_sorted(csv.drop(columns=meta)),
                                  _sorted(res.results), check_dtype=False)


def _count_units(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        try:
            return conn.execute("SELECT COUNT(*) FROM units").fetchone()[0]
        except sqlite3.OperationalError:  # schema not yet created
            return 0


def _unit_table(path: Path) -> pd.DataFrame:
    with sqlite3.connect(path) as conn:
        return pd.read_sql_query("SELECT key, rows_json, created FROM units", conn)


def test_sigkill_mid_sweep_then_resume(tmp_path: Path) -> None:
    """Kill a running sweep with SIGKILL; the rerun finishes it without redoing stored units."""
    store = tmp_path / "killed.sqlite"
    env = {**os.environ, "TOY_DELAY": "0.15"}
    cmd = [sys.executable, "-m", "iclab.cli", "run", "toy.mc", "--full", "--store", str(store),
           "--no-plot"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while _count_units(store) < 8 and time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    total = 90  # 30 points x 3 trials
    before = _unit_table(store)
    assert 8 <= len(before) < total

    resumed = run_experiment("toy.mc", "full", store=store)
    assert resumed.n_computed == total - len(before)
    after = _unit_table(store)
    assert len(after) == total and after.key.is_unique
    kept = after.set_index("key").loc[before.key]
    # Finished units were not recomputed: same rows, same write time.
    assert (kept.rows_json.values == before.rows_json.values).all()
    assert (kept.created.values == before.created.values).all()

    clean = run_experiment("toy.mc", "full", store=tmp_path / "clean.sqlite")
    pd.testing.assert_frame_equal(_sorted(resumed.results), _sorted(clean.results),
                                  check_exact=True)
    runs = Store(store).runs("toy.mc")
    assert list(runs.status) == ["running", "finished"]  # the killed run never finished
