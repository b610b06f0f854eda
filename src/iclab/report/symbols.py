"""Claim statements in the papers' symbols: ``e^ICL`` → eᴵᶜᴸ, ``Gamma*`` → Γ*, ``tau`` → τ.

Claims are written in ASCII in the code (they are also printed by ``iclab check`` on any
terminal); the report shows them with the symbols the figures use, as Unicode text, so the
page needs no fonts or scripts.
"""

from __future__ import annotations

import re

_SUPERSCRIPT = str.maketrans("ICLDGT0123456789-+", "ᴵᶜᴸᴰᴳᵀ⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")
_GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "Gamma": "Γ", "delta": "δ", "eta": "η",
          "kappa": "κ", "lambda": "λ", "lam": "λ", "mu": "μ", "rho": "ρ", "sigma": "σ",
          "tau": "τ", "theta": "θ", "eps": "ε", "epsilon": "ε", "omega": "ω"}
_WORD = re.compile(r"(?<![A-Za-z_])(" + "|".join(sorted(_GREEK, key=len, reverse=True))
                   + r")(?![A-Za-z])")


def paper_symbols(text: str) -> str:
    """``text`` with ``x^ABC`` / ``x^2`` as superscripts, Greek names as letters, ``<=``,
    ``>=``, ``!=``, ``->`` and ``~`` as their signs.

    >>> paper_symbols("e^ICL vs tau = n/d^2 with Gamma*, alpha <= d")
    'eᴵᶜᴸ vs τ = n/d² with Γ*, α ≤ d'
    """
    text = re.sub(r"\be_(ICL|IDG)\b", r"e^\1", text)
    text = re.sub(r"sqrt\((\w+)\)", r"√\1", text)
    text = re.sub(r"\^\(?([ICLDGT]+|-?\d+)\)?",
                  lambda m: m.group(1).translate(_SUPERSCRIPT), text)
    text = _WORD.sub(lambda m: _GREEK[m.group(1)], text)
    for plain, sign in (("<=", "≤"), (">=", "≥"), ("!=", "≠"), ("->", "→"), (" ~ ", " ≈ "),
                       ("+-", "±")):
        text = text.replace(plain, sign)
    return text
