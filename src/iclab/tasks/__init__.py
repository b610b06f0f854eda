"""Tasks: distributions over prompts (see :class:`iclab.tasks.prompts.Prompts`)."""

from iclab.tasks.prompts import Prompts

__all__ = ["Prompts"]
