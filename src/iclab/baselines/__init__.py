"""Baselines: closed-form predictors to compare trained models with.

Bayes-optimal ridge regression on the context and the discrete-prior MMSE estimator (dMMSE)
over a finite pool of pretraining tasks, both :class:`~iclab.models.base.Predictor` s.
"""
