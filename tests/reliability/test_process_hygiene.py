"""Killed runs leave no processes: pool workers die with their driver.

A real ``iclab run toy.rel --full --workers 2`` is started, its worker processes are found
(the driver's descendants in ``/proc``), the driver is killed (SIGTERM, SIGKILL, SIGHUP,
SIGINT), and 2 s later none of those processes may be alive. Also: the parent-death guard on
its own, the Ray worker's watchdog, and the ``--workers`` cap.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iclab.engine.executor_factory import check_workers, make_executor, max_workers
from iclab.errors import ParameterError

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
ICLAB = [sys.executable, "-m", "iclab.cli"]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of ``pid``, or None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def descendants(root: int) -> set[int]:
    """Every living process below ``root`` (children, grandchildren, ...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[0] != "Z":
                parents[int(entry.name)] = st[1]
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z"  # a zombie has ended; only its entry is left


def _terminal_signals() -> None:
    """In the driver before it starts: SIGHUP and SIGINT at their default action, as for a
    command started from a terminal. A process inherits ignored signals: under ``nohup`` or
    as a background job of a non-interactive shell (``make test &``) the driver would ignore
    both, rightly, and this test would check the test's launcher instead of the driver."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_pooled_run(tmp_path: Path, executor: str = "process",
                      marker: str = "spawn_main") -> tuple[subprocess.Popen, set[int]]:
    """Start a ``--workers 2`` run; return it and its processes once 2 workers (processes
    whose command line holds ``marker``) run."""
    env = {**os.environ, "RELIABILITY_TOY_DELAY": "2"}
    proc = subprocess.Popen(
        [*ICLAB, "run", "toy.rel", "--full", "--workers", "2", "--executor", executor,
         "--store", "s.sqlite", "--no-plot"], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_terminal_signals)
    deadline = time.monotonic() + 150
    workers: set[int] = set()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended early with status {proc.returncode}")
        workers = descendants(proc.pid)
        spawned = [p for p in workers if marker in _cmdline(p)]
        if len(spawned) >= 2:
            time.sleep(0.5)  # let the workers take their first units
            return proc, descendants(proc.pid)
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"no 2 pool workers appeared (found {sorted(workers)})")


def _have_ray() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


KILLS = [pytest.param("process", "spawn_main", s, id=f"process-{signal.Signals(s).name}")
         for s in (signal.SIGTERM, signal.SIGKILL, signal.SIGHUP, signal.SIGINT)]
KILLS += [pytest.param("ray", "default_worker", s, id=f"ray-{signal.Signals(s).name}",
                       marks=pytest.mark.skipif(not _have_ray(), reason="needs Ray"))
          for s in (signal.SIGTERM, signal.SIGKILL)]


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("executor", "marker", "sig"), KILLS)
def test_killed_driver_leaves_no_process(tmp_path: Path, executor: str, marker: str,
                                         sig: int) -> None:
    """Every process below the driver (pool workers; for a local Ray, its workers and its
    own GCS, raylet and agents) is gone within 10 s of the driver's death (polled: on an idle
    machine they go in under 2 s; under load a Ray agent once took longer than 2 s)."""
    proc, below = _start_pooled_run(tmp_path, executor, marker)
    assert len(below) >= 2
    os.kill(proc.pid, sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the driver ignored {signal.Signals(sig).name}")
    deadline = time.monotonic() + 10.0
    left = sorted(p for p in below if alive(p))
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [p for p in left if alive(p)]
    shown = {p: _cmdline(p)[:80] for p in left}
    for pid in left:  # clean up before failing, so one failure does not leak into others
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes alive 10 s after the driver died: {shown}"


GUARDED_CHILD = """
import os, sys, time
from iclab.engine.worker_guard import die_with_parent
die_with_parent(os.getppid())
print(os.getpid(), flush=True)
time.sleep(60)
"""


@pytest.mark.timeout(60)
def test_parent_death_guard_ends_a_grandchild(tmp_path: Path) -> None:
    """A middle process starts a guarded child, then is SIGKILLed: the child ends too (the
    same as a pool worker whose driver is killed), while an unguarded one would not."""
    middle = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; p = subprocess.Popen([sys.executable,"
         f" '-c', {GUARDED_CHILD!r}], stdout=sys.stdout); p.wait()"],
        stdout=subprocess.PIPE, text=True)
    assert middle.stdout is not None
    child = int(middle.stdout.readline())
    assert alive(child)
    middle.kill()
    middle.wait()
    deadline = time.monotonic() + 2.0
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    still = alive(child)
    if still:
        os.kill(child, signal.SIGKILL)
    assert not still


@pytest.mark.timeout(60)
def test_ray_worker_watchdog_ends_with_the_driver_pid(tmp_path: Path) -> None:
    """A Ray worker's parent is Ray's raylet, so it watches the driver's PID instead
    (``ICLAB_DRIVER_PID``): when that process ends, the worker ends within 2 s."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    code = ("import time; from iclab.engine.worker_guard import die_with_driver_env; "
            "die_with_driver_env(); time.sleep(60)")
    worker = subprocess.Popen([sys.executable, "-c", code],
                              env={**os.environ, "ICLAB_DRIVER_PID": str(sleeper.pid)})
    time.sleep(1.0)
    assert worker.poll() is None  # the driver lives: so does the worker
    sleeper.kill()
    sleeper.wait()
    try:
        worker.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        worker.kill()
        pytest.fail("the worker outlived its driver by 2 s")


def test_workers_cap_follows_cores_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr("iclab.engine.executor_factory.machine_memory_bytes", lambda: 16 * 2**30)
    assert max_workers() == 8  # 16 GiB / 0.5 GiB = 32 > 8 cores
    assert max_workers(unit_bytes=3.5 * 2**30) == 4  # 16 GiB / (0.5 + 3.5) GiB
    assert max_workers(unit_bytes=64 * 2**30) == 1  # never below one
    assert check_workers(8) == 8
    with pytest.raises(ParameterError, match=r"workers=9 is invalid: must be at most 8"):
        check_workers(9)
    assert check_workers(1000, allow_large=True) == 1000
    with pytest.raises(ParameterError, match="workers"):
        make_executor("process", workers=1000)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"name": "process", "workers": 2, "address": "auto"}, "address"),
    ({"name": "local", "gpu_fraction": -1.0}, "gpu_fraction"),
    ({"name": "process", "workers": 2, "gpu_fraction": 0.5}, "gpu_fraction"),
    ({"name": "local", "workers": 2}, "workers"),
    ({"name": "process", "workers": True}, "workers"),
    ({"name": "process", "workers": "abc"}, "workers"),
])
def test_executor_options_that_do_not_apply_are_refused(kwargs: dict, name: str) -> None:
    with pytest.raises(ParameterError, match=rf"^{name}="):
        make_executor(**kwargs)
