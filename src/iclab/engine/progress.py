"""Progress of a running sweep: a rich bar on a terminal, heartbeat lines in a log.

Progress is weighted by each unit's expected cost (the optional ``exp.unit_cost`` hook), so
the time left is (remaining cost) / (cost rate), not a plain count of units.
"""

from __future__ import annotations

import time
from typing import Any

from iclab.contract import Experiment, ExperimentSettings


def expected_unit_cost(exp: Experiment, settings: ExperimentSettings,
                       point: dict[str, Any]) -> float:
    """A unit's expected cost from the optional ``exp.unit_cost(settings, point)`` hook (1)."""
    hook = getattr(exp, "unit_cost", None)
    if hook is None:
        return 1.0
    try:
        cost = float(hook(settings, point))
    except Exception:  # a broken estimate must never stop a run
        return 1.0
    return cost if cost > 0 and cost == cost and cost != float("inf") else 1.0


class SweepProgress:
    """Context manager yielding ``advance(unit=None)``: progress weighted by expected cost.

    Each unit weighs ``exp.unit_cost(settings, point)`` (1 when the experiment does not
    define the hook), so the estimated time left is (remaining cost) / (cost rate), not a
    plain count of units. On a terminal it shows a rich bar; otherwise (a log file, CI) it
    writes a heartbeat line to stderr when a unit finishes (at most one per ``line_every_s``
    seconds, and always for the last unit), and a "still running" line when no unit has
    finished for ``heartbeat_s`` seconds.
    """

    def __init__(self, enabled: bool, label: str, total: int, completed: int,
                 costs: dict[str, float] | None = None, done: set[str] | None = None,
                 heartbeat_s: float = 30.0, line_every_s: float = 1.0) -> None:
        self.enabled, self.label, self.total, self.completed = enabled, label, total, completed
        self.costs = costs or {}
        self.done_cost = sum(self.costs.get(k, 1.0) for k in (done or ()))
        self.total_cost = sum(self.costs.values()) if self.costs else float(total)
        if not self.costs:
            self.done_cost = float(completed)
        self._todo = [k for k in self.costs if k not in (done or set())]
        self.heartbeat_s, self.line_every_s = heartbeat_s, line_every_s
        self._bar: Any = None
        self._stop: Any = None
        self._thread: Any = None

    def _next_cost(self, unit: Any) -> float:
        key = getattr(unit, "key", None)
        if key is None and self._todo:
            key = self._todo[0]
        if key in self._todo:
            self._todo.remove(key)
        return self.costs.get(key, 1.0) if key is not None else 1.0

    def __enter__(self):  # noqa: ANN204
        if not self.enabled:
            return lambda unit=None: None
        import sys

        if sys.stderr.isatty():
            return self._rich()
        return self._lines()

    def _rich(self) -> Any:
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                             TextColumn("{task.fields[units]}"), TimeElapsedColumn(),
                             TextColumn("left"), TimeRemainingColumn(),
                             transient=False, speed_estimate_period=600)
        self._bar.start()
        count = [self.completed]
        task = self._bar.add_task(self.label, total=self.total_cost, completed=self.done_cost,
                                  units=f"{count[0]}/{self.total} units")

        def advance(unit: Any = None) -> None:
            count[0] += 1
            self._bar.update(task, advance=self._next_cost(unit),
                             units=f"{count[0]}/{self.total} units")

        return advance

    def _lines(self) -> Any:
        import sys
        import threading

        start = time.perf_counter()
        state = {"count": self.completed, "cost": self.done_cost, "last": start,
                 "printed": -float("inf")}
        first_cost = self.done_cost

        def eta() -> str:
            spent, done_now = time.perf_counter() - start, state["cost"] - first_cost
            if done_now <= 0:
                return "?"
            return _clock((self.total_cost - state["cost"]) * spent / done_now)

        def advance(unit: Any = None) -> None:
            state["count"] += 1
            state["cost"] += self._next_cost(unit)
            state["last"] = time.perf_counter()
            if (state["last"] - state["printed"] < self.line_every_s
                    and state["count"] < self.total):
                return
            state["printed"] = state["last"]
            share = 100 * state["cost"] / self.total_cost if self.total_cost else 100.0
            point = getattr(unit, "point", None)
            where = "" if not point else " " + ", ".join(f"{k}={v}" for k, v in point.items()
                                                         if not isinstance(v, list | dict))
            print(f"[{self.label}] unit {state['count']}/{self.total}{where} done; "
                  f"{share:.0f}% of the work, {_clock(state['last'] - start)} elapsed, "
                  f"about {eta()} left", file=sys.stderr, flush=True)

        def beat() -> None:
            while not self._stop.wait(self.heartbeat_s / 3):
                now = time.perf_counter()
                if now - state["last"] >= self.heartbeat_s:
                    state["last"] = now
                    print(f"[{self.label}] still running: {state['count']}/{self.total} units "
                          f"done, {_clock(now - start)} elapsed, about {eta()} left",
                          file=sys.stderr, flush=True)

        self._stop = threading.Event()
        self._thread = threading.Thread(target=beat, daemon=True)
        self._thread.start()
        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        if self._stop is not None:
            self._stop.set()
            self._thread.join(timeout=1)


def _clock(seconds: float) -> str:
    """``0:07``, ``12:05``, ``1:02:03``."""
    s = max(int(round(seconds)), 0)
    h, m = divmod(s, 3600)
    m, s = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
