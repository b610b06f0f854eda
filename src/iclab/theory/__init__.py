"""iclab.theory."""
