"""iclab: theory and experiments of in-context learning in stylised models.

Public entry points:

- :mod:`iclab.theory` — closed-form learning curves (pure NumPy/SciPy, vectorised).
- :mod:`iclab.experiments` — registered paper figures (``iclab list`` shows them).
- :func:`iclab.run_experiment` — run (or resume) one by name with a resumable SQLite store
  (:func:`iclab.check_experiment` also checks its claims; both live in :mod:`iclab.api`).
- :func:`iclab.stored_results` — everything stored for an experiment, as a DataFrame.

>>> import iclab
>>> res = iclab.run_experiment("lu2024.fig1", "quick", overrides={"trials": 1})
>>> fig = res.experiment.plot(res.settings, res.results, res.theory)   # shows in Jupyter
>>> table = iclab.stored_results("lu2024.fig1")   # every stored row, every settings

Importing iclab is light (the heavy modules load on first use) and never changes the
matplotlib backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from iclab._plugin_paths import install as _install_plugin_finder
from iclab.errors import ICLabError, ParameterError

_install_plugin_finder()  # plug-in files given by path import by name in worker processes too


def __getattr__(name: str) -> Any:
    """``iclab.__version__``: the installed distribution's version (one place: pyproject)."""
    if name == "__version__":
        from iclab._version import package_version

        return package_version()
    raise AttributeError(f"module 'iclab' has no attribute {name!r}")

if TYPE_CHECKING:
    import pandas as pd

    from iclab.claims import ClaimResult
    from iclab.engine.runner import RunResult

__all__ = ["ICLabError", "ParameterError", "__version__", "check_experiment", "run_experiment",
           "stored_results", "stored_frame"]


def run_experiment(*args: Any, **kwargs: Any) -> RunResult:
    """Run (or resume) an experiment by registered name (or class, or instance); see
    :func:`iclab.api.run_experiment`."""
    from iclab.api import run_experiment as _run

    return _run(*args, **kwargs)


def check_experiment(*args: Any, **kwargs: Any) -> tuple[RunResult, list[ClaimResult]]:
    """Run (or resume) an experiment by name and check its claims; see
    :func:`iclab.api.check_experiment`."""
    from iclab.api import check_experiment as _check

    return _check(*args, **kwargs)


def stored_results(experiment: str, store: str | Path | None = None,
                   variant: str | None = None, hash: str | None = None,
                   settings: dict[str, Any] | None = None, with_settings: bool = True,
                   theory: bool = False) -> pd.DataFrame:
    """Every row stored for ``experiment`` (all settings and variants), as one DataFrame.

    Columns: the point's parameters (papers' symbols: ``d``, ``tau``, ``alpha``, …),
    ``trial``, the metrics (``e_icl``, ``risk``, …), then ``variant``, ``settings_hash``
    (one value per stored settings) and, with ``with_settings``, one ``settings.<key>``
    column per setting. ``store`` defaults to
    :data:`iclab.engine.store.DEFAULT_STORE_PATH`. ``variant``, ``hash`` (a prefix of the
    settings hash) and ``settings`` (``{key: value}`` the stored settings must equal) keep
    some sweeps; ``theory=True`` returns their theory curves instead. An empty frame when
    nothing is stored. The same table ``iclab export`` writes (its ``--variant``, ``--hash``,
    ``--set`` and ``--theory``). Rows of an experiment whose code is not loaded come in
    stored order.
    """
    import pandas as pd

    from iclab.engine.defaults import DEFAULT_STORE_PATH
    from iclab.engine.export import SweepFilter, theory_frame
    from iclab.engine.export import stored_frame as _frame
    from iclab.engine.store import Store
    from iclab.experiments import get_experiment
    from iclab.stored_only import find_experiment

    store = DEFAULT_STORE_PATH if store is None else store
    db = store if isinstance(store, Store) else Store(store, read_only=True)
    if not db.exists():
        return pd.DataFrame()
    where = SweepFilter(variant, hash, dict(settings or {}))
    exp = find_experiment(experiment, db)
    if theory:
        if exp is None:
            raise ICLabError(f"the theory of {experiment} needs its code: load the experiment")
        return theory_frame(db, exp, where)
    return _frame(db, experiment, get_experiment if exp else None, where, with_settings)


def stored_frame(store: Any, experiment: str) -> pd.DataFrame:
    """``stored_frame(store, name)``: :func:`stored_results` with the arguments the other way."""
    return stored_results(experiment, store)
