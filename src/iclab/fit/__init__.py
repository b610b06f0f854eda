"""iclab.fit."""
