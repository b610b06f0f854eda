"""Fit: every way iclab obtains parameters.

Closed-form ridge solves of the reduced Γ-model (primal, dual, preconditioned conjugate
gradients, batched over trials), ensembles of small models trained in one tensor program
(linear attention, H3, LSA, parity heads), and transformer training (AdamW, L-BFGS, early
stopping). Models (:mod:`iclab.models`) never train themselves; experiments call these.
"""
