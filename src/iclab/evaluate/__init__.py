"""Evaluation: risk of a predictor on test prompts, and deviation tables.

One home for "how good is this predictor on these prompts" (Monte Carlo over sampled
prompts here; exact errors from second moments live in :mod:`iclab.theory`) and for the
theory-vs-experiment deviation tables the report shows. (Turning prompts into the token
sequences models read is :mod:`iclab.tasks.tokens`, below models.)
"""

from iclab.evaluate.deviation import deviation_frame, deviation_table
from iclab.evaluate.risk import mc_risk, squared_errors

__all__ = ["deviation_frame", "deviation_table", "mc_risk", "squared_errors"]
