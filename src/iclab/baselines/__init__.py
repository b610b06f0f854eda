"""iclab.baselines."""
