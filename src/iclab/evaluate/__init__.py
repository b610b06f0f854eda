"""Evaluation: risk of a predictor on test prompts, token building, deviation tables.

One home for "how good is this predictor on these prompts" (Monte Carlo over sampled
prompts here; exact errors from second moments live in :mod:`iclab.theory`), for turning
prompts into the token sequences models read, and for the theory-vs-experiment deviation
tables the report shows.
"""

from iclab.evaluate.deviation import deviation_frame, deviation_table
from iclab.evaluate.risk import mc_risk, squared_errors

__all__ = ["deviation_frame", "deviation_table", "mc_risk", "squared_errors"]
