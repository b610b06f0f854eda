"""The one protocol every model implements: a :class:`Predictor` maps prompts to predictions.

A predictor holds ``members`` independent models (an ensemble trained in one tensor program,
or ``members = 1`` for a single model or a closed-form baseline) and predicts the query label
of every prompt with every member:

.. math::
    \\texttt{predict}(P)_{m,b} = \\hat y_m(P_b), \\qquad m < \\texttt{members},\\ b < B .

Trained parameters live in the predictor (build one from a fit's result), so evaluation code
(:mod:`iclab.evaluate`) never needs to know which architecture it is scoring.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from iclab.tasks.prompts import Prompts


@runtime_checkable
class Predictor(Protocol):
    """Maps a batch of prompts to the predictions of each member.

    Attributes:
        members: number of independent models predicted at once (1 for a single model).
    """

    @property
    def members(self) -> int:
        """Number of models predicted at once (``M``)."""
        ...

    def predict(self, prompts: Prompts) -> torch.Tensor:
        """Predictions ``[M, B]`` for ``prompts`` (``B = prompts.batch``), on the prompts'
        device and in their floating dtype. Prompts are independent: row ``b`` depends only
        on prompt ``b``, and the prompts are not modified."""
        ...
