"""iclab.models."""
