"""Errors of the LLM study: every one is an :class:`~iclab.errors.ICLabError` with a one-line
message, so the CLI prints ``error: <message>`` and exits 2."""

from __future__ import annotations

from collections.abc import Sequence

from iclab.errors import ICLabError


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class LLMError(ICLabError):
    """Base class of the errors raised by :mod:`iclab.llm` (message is always one line)."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


class ModelNotFoundError(LLMError):
    """A model path that does not exist, or a name that is not in the local Hugging Face cache."""

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        super().__init__(f"model {model!r} not found: {reason}")


class MissingDependencyError(LLMError):
    """An optional package (``transformers``, ``datasets``) is needed but not installed."""

    def __init__(self, package: str, purpose: str, extra: str | None = None) -> None:
        hint = f"pip install 'iclab[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{purpose} needs the optional package {package!r} ({hint})")


class DatasetColumnError(LLMError):
    """A dataset lacks a declared column."""

    def __init__(self, role: str, column: str, source: str, existing: Sequence[str]) -> None:
        self.column, self.existing = column, list(existing)
        super().__init__(
            f"{role} column {column!r} not found in {source}; "
            f"columns that exist: {', '.join(map(str, existing)) or '(none)'}"
        )


class LabelWordError(LLMError):
    """A label word that cannot be scored unambiguously (see :mod:`iclab.llm.prompts`)."""
