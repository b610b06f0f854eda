"""In-context classification prompts: k demonstrations followed by a query.

A :class:`Template` has one demonstration format containing ``{text}`` and ``{label}`` once
each (``{text}`` first), e.g. ``"Review: {text}\\nSentiment: {label}"``, a ``separator`` between
demonstrations (default ``"\\n\\n"``) and an optional ``instruction`` put first. For
demonstrations ``(x_1, w_1) … (x_k, w_k)`` and query ``x_q`` the prompt is::

    instruction + demo(x_1, w_1) + sep + … + demo(x_k, w_k) + sep + context(x_q)

where ``context(x)`` is the demonstration format cut just before ``{label}`` with its trailing
whitespace removed; that whitespace is put in front of the label word instead, so the scored
continuation of label ``w`` is ``" w"`` (the way BPE / SentencePiece tokenizers attach a
leading space to a word). Text after ``{label}`` in the format is kept in demonstrations only.

Scoring rule (implemented in :mod:`iclab.llm.scoring`): the score of label word ``w`` is the
log-likelihood of its *whole* continuation, ``log p(c_1 … c_m | prompt) = Σ_j log p(c_j |
prompt, c_<j)`` (a sum, not length-normalised), where ``prompt ids + c`` is the tokenisation
of ``prompt + " w"``. A set of label words is accepted only if (rules checked by
:func:`label_continuations`, each violation is a one-line :class:`LabelWordError`):

1. the words are non-empty and distinct, and contain no newline;
2. *clean continuation*: for every scored prompt, the tokenisation of ``prompt + " w"`` starts
   with the tokenisation of ``prompt`` (no merge across the boundary), and the remaining ids
   ``c(w)`` are the same for every prompt (checked against a probe prompt);
3. the continuations ``c(w)`` are pairwise different and none is a prefix of another (e.g.
   ``"pos"`` vs ``"positive"`` tokenised ``pos|itive``): a prefix-free set means every label
   is a distinct token path, so comparing their log-likelihoods is a comparison of disjoint
   events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from iclab.errors import ParameterError
from iclab.llm.errors import LabelWordError


@dataclass(frozen=True)
class Template:
    """How one demonstration is written; see the module docstring for the prompt layout."""

    demo: str = "Input: {text}\nLabel: {label}"
    separator: str = "\n\n"
    instruction: str = ""

    def __post_init__(self) -> None:
        ok = self.demo.count("{text}") == 1 and self.demo.count("{label}") == 1
        if not ok or self.demo.index("{text}") > self.demo.index("{label}"):
            raise ParameterError("template", self.demo,
                                 "a format with one {text} followed by one {label}")

    def _head(self) -> tuple[str, str, str]:
        """``(before_label_stripped, whitespace_before_label, after_label)``."""
        before, after = self.demo.split("{label}")
        stripped = before.rstrip()
        return stripped, before[len(stripped):], after

    def context(self, text: str) -> str:
        """The query part: the format up to the label, trailing whitespace removed."""
        return self._head()[0].replace("{text}", text)

    def continuation(self, label: str) -> str:
        """The scored string for ``label``: the whitespace before ``{label}`` + the word."""
        return self._head()[1] + label

    def demonstration(self, text: str, label: str) -> str:
        """One filled-in demonstration."""
        head, space, after = self._head()
        return head.replace("{text}", text) + space + label + after

    def prompt(self, demos: Sequence[tuple[str, str]], query: str) -> str:
        """The full prompt for demonstrations ``[(text, label word), …]`` and ``query``."""
        parts = [self.demonstration(t, w) for t, w in demos] + [self.context(query)]
        return self.instruction + self.separator.join(parts)


def special_prefix(tokenizer: Any) -> list[int]:
    """The special ids the tokenizer puts *before* a text (e.g. ``[bos]`` for Llama, ``[]`` for
    GPT-2). Trailing specials (an appended ``eos``) are never used: a prompt is not finished."""
    plain = list(tokenizer("a", add_special_tokens=False)["input_ids"])
    full = list(tokenizer("a", add_special_tokens=True)["input_ids"])
    for i in range(len(full) - len(plain) + 1):
        if full[i:i + len(plain)] == plain:
            return full[:i]
    return []


def _ids(tokenizer: Any, text: str, prefix: list[int]) -> list[int]:
    return prefix + list(tokenizer(text, add_special_tokens=False)["input_ids"])


def split_continuation(tokenizer: Any, prompt: str, continuation: str,
                       prefix: list[int] | None = None) -> tuple[list[int], list[int]]:
    """``(prompt ids, continuation ids)`` with ``prompt ids + continuation ids`` equal to the
    tokenisation of ``prompt + continuation``; raises ``LabelWordError`` when the prompt's own
    tokenisation is not a prefix of it (rule 2, a merge across the boundary). ``prefix``: the
    tokenizer's leading special ids (:func:`special_prefix`, computed when not given)."""
    prefix = special_prefix(tokenizer) if prefix is None else prefix
    prompt_ids = _ids(tokenizer, prompt, prefix)
    full_ids = _ids(tokenizer, prompt + continuation, prefix)
    n = len(prompt_ids)
    if full_ids[:n] != prompt_ids or len(full_ids) == n:
        raise LabelWordError(
            f"label continuation {continuation!r} is not a clean continuation of the prompt "
            f"(tokens {full_ids[max(0, n - 2):n + 3]} vs prompt end {prompt_ids[-2:]}); "
            "change the template's text before {label} or the label word")
    return prompt_ids, full_ids[n:]


def label_continuations(tokenizer: Any, template: Template, labels: Sequence[str],
                        probe_text: str = "x") -> list[list[int]]:
    """Validate ``labels`` (rules 1–3 of the module docstring) on a probe prompt and return the
    continuation ids ``c(w)`` of every label word, in order."""
    if len(labels) < 2:
        raise LabelWordError(f"need at least two label words, got {list(labels)}")
    for w in labels:
        if not str(w).strip() or "\n" in str(w):
            raise LabelWordError(f"label word {w!r} is empty or contains a newline")
    if len(set(labels)) != len(labels):
        raise LabelWordError(f"label words are not distinct: {list(labels)}")
    probe = template.prompt([], probe_text)
    prefix = special_prefix(tokenizer)
    conts = [split_continuation(tokenizer, probe, template.continuation(w), prefix)[1]
             for w in labels]
    for i, a in enumerate(conts):
        for j, b in enumerate(conts):
            if i != j and b[:len(a)] == a:
                same = "tokenise identically" if a == b else "are ambiguous (one is a prefix)"
                raise LabelWordError(
                    f"label words {labels[i]!r} and {labels[j]!r} {same}: continuation ids "
                    f"{a} vs {b}; choose label words with distinct token sequences")
    return conts


def encode_prompts(tokenizer: Any, template: Template, prompts: Sequence[str],
                   labels: Sequence[str]) -> tuple[list[list[int]], list[list[int]]]:
    """Tokenise every prompt and check every label word against it (rule 2).

    Returns ``(prompt_ids [n_prompts][len_i], continuation_ids [n_labels][m_j])``; the
    continuation of label ``j`` after prompt ``i`` is ``continuation_ids[j]`` for every ``i``.
    """
    conts = label_continuations(tokenizer, template, labels)
    prefix = special_prefix(tokenizer)
    prompt_ids: list[list[int]] = []
    for prompt in prompts:
        ids = None
        for w, cont in zip(labels, conts, strict=True):
            p_ids, c_ids = split_continuation(tokenizer, prompt, template.continuation(w),
                                              prefix)
            if c_ids != cont:
                raise LabelWordError(
                    f"label word {w!r} tokenises differently after this prompt ({c_ids}) than "
                    f"after the probe ({cont}); change the template or the label word")
            ids = p_ids
        prompt_ids.append(ids or [])
    return prompt_ids, conts
