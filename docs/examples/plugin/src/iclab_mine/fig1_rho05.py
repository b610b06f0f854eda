"""``mine.fig1_rho05`` — Lu et al. 2024 Fig. 1 at label-noise variance ρ = 0.5.

An experiment outside iclab: a subclass of :class:`~iclab.experiments.lu2024.fig1.LuFig1`
with its own name, settings defaults and variants. iclab finds it in either of two ways:

* installed (``pip install -e docs/examples/plugin``): the entry point ``mine`` of the group
  ``iclab.experiments`` in this package's ``pyproject.toml`` names this module;
* not installed: ``ICLAB_EXPERIMENT_MODULES=docs/examples/plugin/src/iclab_mine/fig1_rho05.py``
  (a file path; a module name works too when it is importable).

Then ``iclab list``, ``run``, ``check``, ``plot``, ``export`` and ``report`` all see it.

Claims. The class inherits Fig. 1's claims, which were stated for the paper's ρ = 0.01:
``iclab check mine.fig1_rho05`` marks each of them ``settings differ: rho 0.01 → 0.5``
(the theory itself has a bump at ρ = 0.5, so "ridge removes the peak" need not hold). To
change that, set ``claims`` in the class body:

* drop them all: ``claims = ()``;
* keep some: ``claims = tuple(c for c in LuFig1.claims if c.id != "ridge_removes_peak")``
  — claims declared in this class body are stated for this class's settings, so they are
  no longer marked;
* restate one for other settings: ``dataclasses.replace(claim, statement=..., check=...)``.
"""

from __future__ import annotations

import pydantic

from iclab.experiments import register
from iclab.experiments.lu2024.fig1 import Fig1Settings, LuFig1
from iclab.validation import NonNegativeFloat


class Fig1Rho05Settings(Fig1Settings):
    """Fig. 1's settings with label-noise variance ρ = 0.5 by default."""

    rho: NonNegativeFloat = pydantic.Field(0.5, description="label-noise variance ρ")


@register
class Fig1Rho05(LuFig1):
    """Double descent in τ at ρ = 0.5 (Lu et al. Fig. 1's grid, smaller quick variant)."""

    name = "mine.fig1_rho05"
    title = "Double descent in tau at label noise rho = 0.5 (own experiment)"
    Settings = Fig1Rho05Settings
    variants = {"quick": {"d": 12, "trials": 3, "alphas": (1.0, 10.0),
                          "taus": (0.5, 0.85, 1.15, 2.0), "taus_c": (0.5, 1.0, 2.0)},
                "full": {"d": 100, "trials": 10}}
    version = "1"
