"""Pool workers die with their driver, however the driver ends.

A worker of the process pool is started by the driver (the ``iclab run`` process). If the
driver is killed (SIGTERM, SIGHUP, SIGINT, or ``kill -9``, which runs no clean-up at all), its
workers would otherwise be reparented to PID 1 and keep computing, each holding a torch
process's memory. :func:`die_with_parent`, run first in every worker, prevents that twice:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment the
  driver dies;
* everywhere, a daemon watchdog thread that ends the worker (``os._exit``) within
  :data:`WATCH_SECONDS` once its parent is no longer the driver.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

WATCH_SECONDS = 0.2
"""How often the watchdog checks that the driver is still the worker's parent."""

_PR_SET_PDEATHSIG = 1


def _set_parent_death_signal() -> bool:
    """Ask the Linux kernel to SIGKILL this process when its parent dies; False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    return False


def _watch(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # the driver is gone: no clean-up, nothing of ours is left to save
        time.sleep(WATCH_SECONDS)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch_pid(pid: int) -> None:
    while _alive(pid):
        time.sleep(WATCH_SECONDS)
    os._exit(1)


_WATCHED: set[int] = set()
DRIVER_PID_ENV = "ICLAB_DRIVER_PID"
"""Set by the Ray executor for a Ray it starts on this machine: the driver's PID, which each
Ray worker watches (:func:`die_with_driver_env`); a Ray worker's parent is Ray's raylet, not
the driver, so the parent-death signal cannot serve there."""


def die_with_process(pid: int) -> None:
    """Start (once per ``pid``) a daemon thread ending this process when ``pid`` is gone."""
    if pid in _WATCHED or pid == os.getpid():
        return
    _WATCHED.add(pid)
    threading.Thread(target=_watch_pid, args=(pid,), name="iclab-watchdog",
                     daemon=True).start()


def die_with_driver_env() -> None:
    """:func:`die_with_process` for the PID in ``$ICLAB_DRIVER_PID`` (nothing when unset)."""
    raw = os.environ.get(DRIVER_PID_ENV, "").strip()
    if raw.isdigit():
        die_with_process(int(raw))


def init_pool_worker(threads: int, driver_pid: int) -> None:
    """Set-up of a process-pool worker: it dies with the driver (:func:`die_with_parent`),
    armed before torch is imported (this module imports only the standard library, so the
    guard holds from the first fraction of a second of the worker's life); Ctrl-C is the
    driver's to handle (no worker tracebacks); torch runs ``threads`` intra-op threads."""
    die_with_parent(driver_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when ``parent_pid`` (its driver) ends; see the module doc."""
    _set_parent_death_signal()
    if os.getppid() != parent_pid:  # the driver died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="iclab-watchdog",
                     daemon=True).start()
