"""Generated command lines and API calls keep the contract (Hypothesis property tests).

From the pydantic settings schema of the registered experiments, Hypothesis draws ``--set``
values (valid and invalid: numbers of every sign, NaN, inf, bools, strings, lists, empty
lists), executor options, and stores and output paths of every kind (new, an intact store,
a text file, a folder, a foreign SQLite file, the store itself, a symlink to it). Each
command line must either succeed, or exit non-zero with one ``error:`` line, no traceback,
no "internal error", and nothing written; in every case the stores present before are
byte-identical unless the command was a successful ``run``. API calls drawn the same way
(``prepare_run``, ``run_experiment``, the theory functions) return or raise an
:class:`~iclab.errors.ICLabError`, never another exception.

The number of examples is fixed (``max_examples``) and derandomised, so a run is repeatable;
``ICLAB_PROPERTY_EXAMPLES`` scales it up for a longer search. By default 820 cases: 120
command lines (about 19 s on a shared 2-core machine), 300 ``prepare_run`` calls (about 3 s)
and 400 theory calls (about 4 s); ``ICLAB_PROPERTY_EXAMPLES=5`` draws 4100 in about 140 s.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_bad_input_probes import invoke

from iclab.engine.runner import prepare_run
from iclab.errors import ICLabError
from iclab.experiments import all_experiments, get_experiment
from iclab.theory import e_icl, e_idg

SCALE = int(os.environ.get("ICLAB_PROPERTY_EXAMPLES", "1") or 1)
PROFILE = settings(deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))
EXPERIMENTS = all_experiments()
NAMES = sorted(n for n in EXPERIMENTS if not n.startswith("llm."))

# ---- values drawn for a setting ------------------------------------------------------------
NUMBERS = st.one_of(st.integers(-3, 40), st.floats(allow_nan=True, allow_infinity=True,
                                                    width=32), st.sampled_from([0, 1, 0.5]))
SCALARS = st.one_of(NUMBERS, st.booleans(), st.text(max_size=4), st.none())
VALUES = st.one_of(SCALARS, st.lists(NUMBERS, max_size=3), st.just([]),
                   st.lists(SCALARS, max_size=2))


def as_cli(value: Any) -> str:
    """How a user would type ``value`` after ``--set key=``."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return value
    return json.dumps(value, allow_nan=True).replace("Infinity", "1e999")


def _default(exp: Any, key: str) -> Any:
    field = exp.Settings.model_fields[key]
    return field.get_default(call_default_factory=True)


@st.composite
def set_options(draw: st.DrawFn, name: str) -> list[str]:
    """Up to 3 ``--set`` options of experiment ``name``: a field's default (valid), a drawn
    value (mostly invalid), or an unknown key."""
    exp = EXPERIMENTS[name]
    keys = sorted(exp.Settings.model_fields)
    out: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from([*keys, "no_such_setting"]))
        if key != "no_such_setting" and draw(st.integers(0, 2)):
            value = _default(exp, key)
            if isinstance(value, tuple):
                value = list(value)
        else:
            value = draw(VALUES)
        try:
            out += ["--set", f"{key}={as_cli(value)}"]
        except (TypeError, ValueError):  # a default JSON cannot show: leave it out
            continue
    return out


# ---- the folder a command runs in ---------------------------------------------------------------
# the kinds a command can succeed with come twice, so that successes are drawn often too
STORE_KINDS = ["new", "new", "intact", "intact", "text", "folder", "foreign", "empty",
               "under_a_file", "dev_null", "long_name", "odd_name", "dangling_link"]
OUT_KINDS = ["new", "new", "new", "file", "store", "symlink", "foreign", "dev_null",
             "long_name", "odd_name"]
ODD = "a b\nc;'\"$é"  # a space, a newline, quotes, a dollar, an accent


def _intact(path: Path) -> None:
    code, output = invoke(["run", "toy.rel", "--quick", "--set", "trials=1", "--store",
                           path.name, "--no-plot"], path.parent)
    assert code == 0, output
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


_INTACT_BYTES: list[bytes] = []


def make_store(root: Path, kind: str) -> str:
    odd = {"dev_null": "/dev/null", "long_name": "s" * 300 + ".sqlite",
           "odd_name": f"{ODD}.sqlite"}
    if kind in odd:
        return odd[kind]
    if kind == "under_a_file":
        (root / "plainfile").write_text("x")
        return "plainfile/s.sqlite"
    if kind == "dangling_link":
        (root / "s.sqlite").symlink_to("nowhere/s.sqlite")
        return "s.sqlite"
    path = root / "s.sqlite"
    if kind == "intact":
        if not _INTACT_BYTES:
            with tempfile.TemporaryDirectory() as tmp:
                _intact(Path(tmp) / "s.sqlite")
                _INTACT_BYTES.append((Path(tmp) / "s.sqlite").read_bytes())
        path.write_bytes(_INTACT_BYTES[0])
    elif kind == "text":
        path.write_text("not a database\n" * 20)
    elif kind == "folder":
        path.mkdir()
    elif kind == "empty":
        path.touch()
    elif kind == "foreign":
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("CREATE TABLE customers (id INTEGER)")
            conn.commit()
    return "s.sqlite"


def make_out(root: Path, kind: str, is_file: bool) -> str:
    if kind == "file":
        (root / "plain").write_text("x")
        return "plain/x.csv" if is_file else "plain"
    if kind == "store":
        return "s.sqlite"
    if kind == "dev_null":
        return "/dev/null"
    if kind == "long_name":
        return "o" * 300 + (".csv" if is_file else "")
    if kind == "odd_name":
        return ODD + (".csv" if is_file else "")
    if kind == "symlink":
        (root / "link.csv").symlink_to("s.sqlite")
        return "link.csv"
    if kind == "foreign":
        with closing(sqlite3.connect(root / "f.db")) as conn:
            conn.execute("CREATE TABLE t (x)")
            conn.commit()
        return "f.db"
    return "o/x.csv" if is_file else "o"


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` (links not followed) with its size and modification time."""
    out = {}
    for p in sorted(root.rglob("*")):
        st_ = p.lstat()
        out[str(p.relative_to(root))] = (st_.st_size, st_.st_mtime_ns)
    return out


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and not p.is_symlink()
            and (p.suffix in {".sqlite", ".db"})}


def check_contract(args: list[str], root: Path, writes_store: bool) -> tuple[int, str]:
    """Run ``args`` in ``root``: success (exit 0; for ``check`` also 1, claims that do not
    hold), or a one-line error with nothing written. Returns 0 for a success."""
    before, stores = snapshot(root), digests(root)
    code, output = invoke(args, root)
    if args[0] == "check" and code == 1 and "error:" not in output:
        code = 0  # verdicts were printed: the claims did not all hold, not a failure
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert "Traceback" not in output and "internal error" not in output, (args, output)
    if code != 0:
        assert 1 <= len(lines) <= 3 and lines[0].startswith("error: "), (args, output)
        assert snapshot(root) == before, (args, output)
    if code != 0 or not writes_store:
        assert digests(root) == stores, (args, output)
    return code, output


COMMANDS = ["run", "check", "plot", "export", "report"]


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[list[str], str, str]:
    command = draw(st.sampled_from(COMMANDS))
    name = "toy.rel" if command in {"run", "check"} else draw(st.sampled_from(
        ["toy.rel", *NAMES]))
    args = [command] if command == "report" else [command, name]
    if command in {"run", "check", "plot"}:
        args += draw(set_options(name))
    if command in {"run", "check"}:
        args += ["--workers", draw(st.sampled_from(["1", "1", "1", "0", "-1", "3", "1000", "abc"]))]
    if command == "run":
        args += draw(st.sampled_from([[], [], [], ["--executor", "local"], ["--executor", "dask"],
                                      ["--gpu-fraction", "-1"], ["--gpu-fraction", "0.5"],
                                      ["--address", "auto"], ["--no-plot"]]))
    if command == "export":
        args += ["--format", draw(st.sampled_from(["csv", "parquet", "xls"]))]
    return args, draw(st.sampled_from(STORE_KINDS)), draw(st.sampled_from(OUT_KINDS))


@pytest.mark.timeout(900)
@settings(PROFILE, max_examples=120 * SCALE)
@given(command_lines())
def test_generated_command_lines_keep_the_contract(case: tuple[list[str], str, str]) -> None:
    args, store_kind, out_kind = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = make_store(root, store_kind)
        command = args[0]
        if command != "check":
            out = make_out(root, out_kind, is_file=command == "export")
            args = [*args, "--out", out]
        code, output = check_contract([*args, "--store", store], root,
                                      writes_store=command in {"run", "check"})
        event(f"{command}: {'success' if code == 0 else 'refused'}")
        if out_kind in {"store", "symlink", "foreign"} and command in {"export", "report"}:
            assert code != 0 or command == "report", (args, output)  # never onto a database


# ---- API calls ----------------------------------------------------------------------------------
@st.composite
def overrides(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(["toy.rel", *NAMES]))
    exp = EXPERIMENTS[name]
    keys = sorted(exp.Settings.model_fields)
    out: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        value = draw(st.one_of(VALUES, st.just(_default(exp, key))))
        if draw(st.booleans()) and isinstance(value, int | float) and not isinstance(value,
                                                                                    bool):
            value = np.float64(value) if isinstance(value, float) else np.int64(value)
        out[key] = value
    return name, out


@pytest.mark.timeout(600)
@settings(PROFILE, max_examples=300 * SCALE)
@given(overrides())
def test_generated_api_calls_return_or_raise_iclab_errors(case: tuple[str, dict]) -> None:
    name, values = case
    try:
        plan = prepare_run(get_experiment(name), "quick", values)
    except ICLabError as exc:
        assert len(str(exc).splitlines()) >= 1 and str(exc).strip()
        event("refused")
        return
    event("planned")
    assert plan.units and all(u.trial >= 0 for u in plan.units)


THEORY_ARGS = st.one_of(
    NUMBERS, st.booleans(), st.text(max_size=3), st.none(),
    st.builds(np.float64, st.floats(allow_nan=True, allow_infinity=True)),
    st.builds(np.int64, st.integers(-5, 5)), st.just(np.array([])),
    st.lists(st.floats(0.1, 10), min_size=1, max_size=3).map(np.array))


@pytest.mark.timeout(600)
@settings(PROFILE, max_examples=400 * SCALE)
@given(st.sampled_from([e_icl, e_idg]), st.tuples(*[THEORY_ARGS] * 4))
def test_generated_theory_calls_return_numbers_or_parameter_errors(
        func: Any, args: tuple[Any, ...]) -> None:
    try:
        value = func(*args)
    except ICLabError as exc:
        named = str(exc).splitlines()[0].split("=")[0].split(", ")  # the argument(s) at fault
        assert named and set(named) <= {"tau", "alpha", "kappa", "rho", "lam"}, str(exc)
        event("refused")
        return
    event("computed")
    arr = np.asarray(value, dtype=float)
    assert arr.size >= 1 and not np.isnan(arr).any()
    assert not any(isinstance(a, bool | np.bool_) for a in args)  # bools are never numbers
