"""The claims ledger: every change to a claim, with the verdicts before it and the reason.

A claim's *fingerprint* is a SHA-256 digest of everything that decides its verdict:

* its experiment's name and version, its id, statement, source and variants;
* the code of its check: the check's source (comments, formatting and docstrings left out),
  the values of the constants it reads (e.g. a threshold ``FINITE_D_C = 5.0``), and, followed
  recursively, the code of every iclab function it calls (the statistics helpers included);
* the settings of every variant it is stated for (``experiment.make_settings(variant)``).

The ledger (``iclab/data/claims_ledger.json``) records, per claim, its current revision and
fingerprint, and a list of entries (the first entry naming a claim introduced it: revision
1; each later one adds one): date, the claims changed, what changed, the verdicts
before the change, why, and whether the change was made after a run had shown a verdict
(``revised_after_run``). The test suite recomputes every fingerprint: a claim whose
fingerprint differs from the ledger's fails the test until an entry is added::

    python -m iclab.experiments.ledger_tool status              # which claims changed
    python -m iclab.experiments.ledger_tool record lu2024.fig1:ridge_removes_peak \\
        --change "threshold 1.0 -> 0.95" --before "holds (0.93 +- 0.02)" \\
        --why "..." --after-run

``iclab check`` (and ``--json``: ``revision``, ``revised_after_run``) and the report show
each claim's revision.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import hashlib
import inspect
import io
import json
import re
import textwrap
import tokenize
import types
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

LEDGER_PATH = Path(__file__).with_name("data") / "claims_ledger.json"
_SIMPLE = (int, float, str, bool, type(None))


# ---- fingerprints ----------------------------------------------------------------------------
def _normalised_source(fn: types.FunctionType) -> str:
    """``fn``'s source text without comments, docstrings or formatting.

    Comments (found by :mod:`tokenize`) and docstrings (found by :mod:`ast`; skipped for a
    fragment that does not parse alone, e.g. a lambda inside a call) are cut from the raw
    text, and every run of whitespace becomes one space. Working on the raw text, not on
    ``ast.unparse`` or token streams, keeps the result the same across Python versions.
    """
    try:
        src = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return f"<no source: {fn.__qualname__}>"
    lines = src.splitlines(keepends=True)
    spans: list[tuple[tuple[int, int], tuple[int, int]]] = []
    try:
        for node in ast.walk(ast.parse(src)):
            body = getattr(node, "body", None)
            if (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                    and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                doc = body[0]
                spans.append(((doc.lineno, doc.col_offset),
                              (doc.end_lineno or doc.lineno, doc.end_col_offset or 0)))
    except SyntaxError:
        pass
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type == tokenize.COMMENT:
                spans.append((tok.start, tok.end))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    for (l0, c0), (l1, c1) in sorted(spans, reverse=True):
        if l0 == l1:
            lines[l0 - 1] = lines[l0 - 1][:c0] + " " + lines[l0 - 1][c1:]
        else:
            lines[l0 - 1] = lines[l0 - 1][:c0] + " "
            lines[l1 - 1] = lines[l1 - 1][c1:]
            for i in range(l0, l1 - 1):
                lines[i] = ""
    return re.sub(r"\s+", " ", "".join(lines)).strip()


def _names(code: types.CodeType) -> Iterator[str]:
    """Global and attribute names read by ``code`` and the code objects nested in it."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def _is_iclab(obj: Any) -> bool:
    return str(getattr(obj, "__module__", "") or "").startswith("iclab")


def _value_digest(value: Any, seen: set[int]) -> str | None:
    """A stable text for a value a check reads, or None for values that do not count."""
    if isinstance(value, _SIMPLE):
        return repr(value)
    if isinstance(value, tuple | list | frozenset) and all(isinstance(v, _SIMPLE)
                                                          for v in value):
        return repr(sorted(value, key=repr) if isinstance(value, frozenset) else value)
    if isinstance(value, dict) and all(isinstance(v, _SIMPLE) for v in value.values()):
        return json.dumps(value, sort_keys=True, default=repr)
    if isinstance(value, functools.partial | types.FunctionType) and (
            _is_iclab(value) or isinstance(value, functools.partial)):
        return code_digest(value, seen)
    return None


def code_digest(fn: Any, seen: set[int] | None = None) -> str:
    """Text that changes when the behaviour of check ``fn`` can change (module docstring).

    Follows ``functools.partial`` (function and arguments), closures, defaults, the
    constants the function reads from its module, and — recursively — every iclab
    function it calls, directly or through a module attribute (``lc.theory_agreement``).
    """
    seen = set() if seen is None else seen
    if id(fn) in seen:
        return f"<seen {getattr(fn, '__qualname__', type(fn).__name__)}>"
    seen.add(id(fn))
    if isinstance(fn, functools.partial):
        args = [_value_digest(a, seen) or type(a).__name__ for a in fn.args]
        kwargs = {k: _value_digest(v, seen) or type(v).__name__
                  for k, v in sorted(fn.keywords.items())}
        return f"partial({code_digest(fn.func, seen)}, {args}, {kwargs})"
    if not isinstance(fn, types.FunctionType):
        return f"<{type(fn).__name__}>"
    # the qualified name without the module: moving a function between modules changes no
    # behaviour, so it changes no fingerprint
    parts = [fn.__qualname__, _normalised_source(fn)]
    for value in (fn.__defaults__ or ()):
        parts.append(f"default={_value_digest(value, seen)}")
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
        try:
            parts.append(f"closure {name}={_value_digest(cell.cell_contents, seen)}")
        except ValueError:  # an empty cell
            parts.append(f"closure {name}=<empty>")
    names = sorted(set(_names(fn.__code__)))
    glb = fn.__globals__
    for name in names:
        if name in glb:
            value = glb[name]
            if isinstance(value, types.ModuleType):
                if not value.__name__.startswith("iclab"):
                    continue
                for attr in names:
                    if hasattr(value, attr):
                        text = _value_digest(getattr(value, attr), seen)
                        if text is not None:
                            parts.append(f"{name}.{attr}={text}")
                continue
            text = _value_digest(value, seen)
            if text is not None:
                parts.append(f"{name}={text}")
    return "\n".join(parts)


def claim_fingerprint(experiment: Any, claim: Any) -> str:
    """SHA-256 of the claim's statement, check code and variants' settings (not its controls,
    which test the check but do not change its verdict)."""
    settings = {}
    for variant in claim.variants:
        if variant in experiment.variants:
            settings[variant] = experiment.make_settings(variant).model_dump(mode="json")
    payload = {
        "experiment": experiment.name,
        "version": str(getattr(experiment, "version", "")),
        "id": claim.id,
        "statement": claim.statement,
        "source": claim.source,
        "variants": list(claim.variants),
        "check": code_digest(claim.check),
        "settings": settings,
    }
    text = json.dumps(payload, sort_keys=True, default=repr)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def claim_key(experiment_name: str, claim_id: str) -> str:
    """The ledger's key of a claim: ``experiment:claim``."""
    return f"{experiment_name}:{claim_id}"


# ---- the ledger file -------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _cached_ledger() -> dict[str, Any]:
    return load_ledger()


def load_ledger(path: Path = LEDGER_PATH) -> dict[str, Any]:
    """The ledger as a dict with ``claims`` (key → revision, fingerprint) and ``entries``."""
    if not path.exists():
        return {"claims": {}, "entries": []}
    return json.loads(path.read_text())


def save_ledger(ledger: dict[str, Any], path: Path = LEDGER_PATH) -> None:
    """Write the ledger (sorted claims, entries in date order) atomically."""
    ledger["claims"] = dict(sorted(ledger["claims"].items()))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(ledger, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(path)
    _cached_ledger.cache_clear()


def entries_of(key: str, ledger: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The ledger entries that name claim ``key`` (or its whole experiment, ``exp:*``)."""
    ledger = _cached_ledger() if ledger is None else ledger
    exp = key.split(":", 1)[0]
    return [e for e in ledger["entries"]
            if key in e["claims"] or f"{exp}:*" in e["claims"]]


def ledger_status(experiment_name: str, claim_id: str) -> tuple[int, bool]:
    """``(revision, revised_after_run)`` of a claim; ``(0, False)`` when not in the ledger."""
    key = claim_key(experiment_name, claim_id)
    ledger = _cached_ledger()
    record = ledger["claims"].get(key)
    if record is None:
        return 0, False
    revised = any(e.get("revised_after_run", False) for e in entries_of(key, ledger))
    return int(record["revision"]), revised


def current_fingerprints(experiments: Iterable[Any]) -> dict[str, str]:
    """``{experiment:claim: fingerprint}`` of every claim of ``experiments``."""
    return {claim_key(e.name, c.id): claim_fingerprint(e, c)
            for e in experiments for c in e.claims}


def changed_claims(experiments: Iterable[Any], ledger: dict[str, Any] | None = None
                   ) -> dict[str, str]:
    """Claims whose fingerprint differs from the ledger's (or that it lacks), and claims of
    these experiments that the ledger holds but the experiments no longer state: key → reason.
    """
    ledger = load_ledger() if ledger is None else ledger
    experiments = list(experiments)
    current = current_fingerprints(experiments)
    out = {}
    for key, fp in current.items():
        record = ledger["claims"].get(key)
        if record is None:
            out[key] = "not in the ledger"
        elif record.get("retired") or record["fingerprint"] != fp:
            out[key] = f"fingerprint {record['fingerprint']} -> {fp}"
    names = {e.name for e in experiments}
    for key, record in ledger["claims"].items():
        if key.split(":", 1)[0] in names and key not in current and not record.get("retired"):
            out[key] = "no longer stated (record its retirement)"
    return out


def record_change(keys: list[str], change: str, before: str, why: str, after_run: bool,
                  experiments: Iterable[Any], date: str | None = None,
                  commit: str = "") -> dict[str, Any]:
    """Append a ledger entry for ``keys`` and store their new fingerprints and revisions."""
    ledger = load_ledger()
    fps = current_fingerprints(experiments)
    unknown = [k for k in keys if k not in fps and k not in ledger["claims"]]
    if unknown:
        raise SystemExit(f"error: claims={unknown} are not registered claims "
                         "(experiment:claim)")
    entry = {"date": date or dt.date.today().isoformat(), "commit": commit,
             "claims": sorted(keys), "change": change, "verdicts_before": before, "why": why,
             "revised_after_run": bool(after_run)}
    ledger["entries"].append(entry)
    for key in keys:
        old = ledger["claims"].get(key)
        revision = (old["revision"] + 1) if old else 1
        if key in fps:
            ledger["claims"][key] = {"revision": revision, "fingerprint": fps[key]}
        else:  # a claim no longer stated: retired, its history kept
            ledger["claims"][key] = {"revision": revision, "fingerprint": None,
                                     "retired": True}
    save_ledger(ledger)
    return entry
