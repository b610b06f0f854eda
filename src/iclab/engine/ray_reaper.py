"""A local Ray's processes end with the driver that started it, even after ``kill -9``.

``ray.init()`` without an address starts Ray's own processes (GCS server, raylet, dashboard
and runtime-env agents, log monitor, workers) below the driver. Ray stops them when the
driver exits normally; a driver killed with ``kill -9`` runs no clean-up, and some of them
(the agents) stay alive. :func:`start_reaper` starts a small watcher process, in its own
session so a signal to the terminal's process group does not reach it first, which records
the driver's descendants (Linux ``/proc``) every :data:`POLL_SECONDS` and, once the driver is
gone (noticed at once through a pidfd where the kernel has them), SIGKILLs every recorded
process that still runs (matched by PID and start time, so a reused PID is never hit), then
exits. Run as ``python -m iclab.engine.ray_reaper PID``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.2
_STARTED: set[int] = set()


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent PID, start time) of ``pid``; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """PID → start time of every living process below ``root``."""
    table: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[0] != "Z":
                table[int(entry.name)] = (st[1], st[2])
    found: dict[int, int] = {}
    frontier = {root}
    while frontier:
        frontier = {pid for pid, (ppid, _) in table.items() if ppid in frontier} - set(found)
        found.update({pid: table[pid][1] for pid in frontier})
    return found


def watch(driver_pid: int) -> None:
    """Record ``driver_pid``'s descendants until it ends, then SIGKILL those still running."""
    known: dict[int, int] = {}
    me = os.getpid()
    try:  # a pidfd becomes readable the moment the driver ends: no wait for the next poll
        driver_fd: int | None = os.pidfd_open(driver_pid)
    except (AttributeError, OSError):
        driver_fd = None
    while (st := _stat(driver_pid)) is not None and st[0] != "Z":
        known.update({p: t for p, t in _descendants(driver_pid).items() if p != me})
        if driver_fd is None:
            time.sleep(POLL_SECONDS)
        elif select.select([driver_fd], [], [], POLL_SECONDS)[0]:
            break
    for pid, started in known.items():
        now = _stat(pid)
        if now is not None and now[2] == started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def start_reaper(driver_pid: int | None = None) -> bool:
    """Start the watcher of ``driver_pid`` (this process by default), once; False where there
    is no ``/proc`` (not Linux)."""
    pid = os.getpid() if driver_pid is None else driver_pid
    if pid in _STARTED or not Path(f"/proc/{pid}/stat").exists():
        return False
    subprocess.Popen([sys.executable, "-m", "iclab.engine.ray_reaper", str(pid)],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
    _STARTED.add(pid)
    return True


if __name__ == "__main__":
    watch(int(sys.argv[1]))
