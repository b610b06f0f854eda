"""Registered experiments, one module per paper (``lu2024``, ``li2024``, ``shi2024`` …)."""

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
