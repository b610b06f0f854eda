"""Experiments: one module per paper figure, declaring it (settings, grid, theory, plot,
claims); ``lu2024.fig1`` is :mod:`iclab.experiments.lu2024.fig1`. See docs/architecture.md.
"""

from iclab.contract import Experiment, ExperimentSettings, RunContext
from iclab.experiments.registry import all_experiments, get_experiment, register

__all__ = [
    "Experiment",
    "ExperimentSettings",
    "RunContext",
    "all_experiments",
    "get_experiment",
    "register",
]
