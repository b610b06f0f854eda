"""Bad input never writes, and every failure a user can cause is one line.

Each probe runs the CLI (in-process with typer's ``CliRunner``; a few as real subprocesses)
and asserts: a non-zero exit, at most 3 lines of output, no traceback, and nothing written
(the folder the command runs in is unchanged, so no store, figure or report appears).

The bad-setting probes are generated from the pydantic settings of every registered
experiment: for each field a wrong type, ``true`` for a number, NaN, an empty grid, a value
below the field's lower bound, an unknown choice.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import typing
from contextlib import closing
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from typer.testing import CliRunner

from iclab.cli import app
from iclab.experiments import all_experiments

RUNNER = CliRunner()
EXPERIMENTS = all_experiments()
ICLAB = [sys.executable, "-m", "iclab.cli"]


# ---- helpers -------------------------------------------------------------------------------
def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and modification time (ns)."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.stat()
        out[str(p.relative_to(root))] = (st.st_size if p.is_file() else -1, st.st_mtime_ns)
    return out


def invoke(args: list[str], cwd: Path) -> tuple[int, str]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = RUNNER.invoke(app, args)
    finally:
        os.chdir(old)
    return result.exit_code, result.output


def assert_one_line_failure(code: int, output: str, before: dict, cwd: Path,
                            names: str | None = None) -> None:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert code != 0, output
    assert 1 <= len(lines) <= 3, output
    assert "Traceback" not in output and "╭" not in output, output
    assert any(ln.startswith("error: ") for ln in lines), output
    assert snapshot(cwd) == before, f"something was written: {output}"
    if names is not None:
        assert names in output, output


def probe(args: list[str], cwd: Path, names: str | None = None) -> str:
    before = snapshot(cwd)
    code, output = invoke(args, cwd)
    assert_one_line_failure(code, output, before, cwd, names)
    return output


def run_args(name: str, *extra: str) -> list[str]:
    return ["run", name, "--quick", "--store", "store.sqlite", "--out", "out", *extra]


# ---- the probes of the report, on Lu et al. ------------------------------------------------
ISSUE_PROBES = [
    ("lu2024.fig1", "d=0", "d"), ("lu2024.fig1", "d=-5", "d"), ("lu2024.fig1", "rho=-1", "rho"),
    ("lu2024.fig1", "lam_ridgeless=-1", "lam_ridgeless"), ("lu2024.fig1", "trials=0", "trials"),
    ("lu2024.fig1", "trials=-1", "trials"), ("lu2024.fig1", "taus=[-1]", "taus"),
    ("lu2024.fig1", "d=true", "d"), ("lu2024.fig1", "theory_points=-1", "theory_points"),
    ("lu2024.fig4", "kappas=[NaN]", "kappas"), ("lu2024.fig4", "kappas=[]", "kappas"),
    ("lu2024.fig1", "d=100000", "d"), ("lu2024.fig1", "trials=1000000000", "trials"),
    ("lu2024.fig1", "d=1.5", "d"), ("lu2024.fig1", "kappa=NaN", "kappa"),
]


@pytest.mark.parametrize(("name", "setting", "key"), ISSUE_PROBES,
                         ids=[f"{n}:{s}" for n, s, _ in ISSUE_PROBES])
def test_issue_probe_refused_before_writing(tmp_path: Path, name: str, setting: str,
                                            key: str) -> None:
    probe(run_args(name, "--set", setting), tmp_path, names=key)


@pytest.mark.parametrize("setting", ["d=100000", "trials=1000000000"])
def test_absurd_sizes_refused_fast(tmp_path: Path, setting: str) -> None:
    """The size guards answer in well under a second of CPU (CPU time, not wall time, so
    a loaded machine does not make the check flaky); the override flag is named."""
    invoke(run_args("lu2024.fig1", "--set", "d=0"), tmp_path)  # warm the imports
    start = time.process_time()
    out = probe(run_args("lu2024.fig1", "--set", setting), tmp_path)
    assert time.process_time() - start < 1.0
    assert "--allow-large" in out


# ---- generated: every setting of every experiment, with a bad value -----------------------
def _lower_bound(metadata: list[Any]) -> float | None:
    for m in metadata:
        if isinstance(m, annotated_types.Ge):
            return float(m.ge)
        if isinstance(m, annotated_types.Gt):
            return float(m.gt)
    return None


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """(bare type, metadata) of ``Annotated[T, ...]`` / ``T | None``."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            args = typing.get_args(annotation)
            for extra in args[1:]:
                metadata.extend(getattr(extra, "metadata", []) or [extra])
            annotation = args[0]
        elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation, metadata
            annotation = args[0]
        else:
            return annotation, metadata


def _scalar_bad(annotation: Any, metadata: list[Any]) -> list[tuple[str, Any]]:
    bare, meta = _unwrap(annotation)
    meta = meta + metadata
    if bare is bool:
        return [("not-a-bool", "maybe")]
    if bare is int:
        out = [("bool", True), ("fraction", 1.5), ("text", "abc")]
        low = _lower_bound(meta)
        if low is not None:
            out.append(("below-bound", int(low) - 1 if low == int(low) else int(low) - 1))
        return out
    if bare is float:
        out = [("nan", "NaN"), ("bool", True), ("text", "abc")]
        low = _lower_bound(meta)
        if low is not None:
            out.append(("below-bound", low - 1.0))
        return out
    if typing.get_origin(bare) is typing.Literal or bare is str:
        return [("unknown-choice" if bare is not str else "number", 12345
                 if bare is str else "no-such-choice")]
    return []


def bad_values(field: Any) -> list[tuple[str, Any]]:
    """Generated bad values for one pydantic field (label, value); empty if none is known."""
    bare, meta = _unwrap(field.annotation)
    meta = meta + list(field.metadata)
    origin = typing.get_origin(bare)
    if origin in (list, tuple):
        args = [a for a in typing.get_args(bare) if a is not Ellipsis]
        item = args[0] if args else Any
        default = field.get_default(call_default_factory=True)
        out: list[tuple[str, Any]] = [("not-a-list", {"not": "a list"})]
        if isinstance(default, list | tuple) and default:
            out.append(("empty", []))
        for label, value in _scalar_bad(item, []):
            out.append((f"item-{label}", [value]))
        return out
    return [("wrong-type", {"not": "allowed"}), *_scalar_bad(bare, meta)]


def _setting_text(key: str, value: Any) -> str:
    if value == "NaN":
        return f"{key}=NaN"
    if isinstance(value, list) and value == ["NaN"]:
        return f"{key}=[NaN]"
    return f"{key}={json.dumps(value)}"


def _generated_probes() -> list[tuple[str, str, str]]:
    seen: set[tuple[type, str, str]] = set()
    out = []
    for name, cls in EXPERIMENTS.items():
        for key, field in cls.Settings.model_fields.items():
            if key == "seed" or key.endswith("_seed"):
                continue  # any integer is a valid seed
            for label, value in bad_values(field):
                ident = (cls.Settings, key, label)
                if ident in seen:
                    continue
                seen.add(ident)
                out.append((name, key, _setting_text(key, value)))
    return out


GENERATED = _generated_probes()


def _finite_only(metadata: list[Any]) -> bool:
    return any(getattr(m, "allow_inf_nan", None) is False for m in metadata)


def test_every_numeric_setting_has_a_lower_bound() -> None:
    """Sizes, counts, rates and variances are bounded in the settings models themselves (a
    signed quantity, e.g. a task vector's entries, is at least declared finite)."""
    missing = []
    shipped = {n: c for n, c in EXPERIMENTS.items() if c.__module__.startswith("iclab.")}
    for name, cls in shipped.items():
        for key, field in cls.Settings.model_fields.items():
            if key == "seed" or key.endswith("_seed"):
                continue
            bare, meta = _unwrap(field.annotation)
            meta = meta + list(field.metadata)
            if typing.get_origin(bare) in (list, tuple):
                args = [a for a in typing.get_args(bare) if a is not Ellipsis]
                bare, meta = _unwrap(args[0]) if args else (None, [])
            if bare in (int, float) and _lower_bound(meta) is None and not _finite_only(meta):
                missing.append(f"{name}.{key}")
    assert not missing, f"numeric settings without a lower bound: {missing}"


@pytest.mark.parametrize(("name", "key", "setting"), GENERATED,
                         ids=[f"{n}:{s}" for n, _, s in GENERATED])
def test_bad_setting_refused_before_writing(tmp_path: Path, name: str, key: str,
                                            setting: str) -> None:
    names = None if name.startswith("llm.") else key  # llm: 'models' is refused first
    probe(run_args(name, "--set", setting), tmp_path, names=names)


# ---- paths: corrupt, truncated, unwritable, not a folder -----------------------------------
def _make_store(path: Path) -> None:
    code, output = invoke(["run", "toy.rel", "--quick", "--store", str(path), "--no-plot"],
                          path.parent)
    assert code == 0, output


def _bad_store(kind: str, root: Path) -> str:
    if kind == "not_a_database":
        (root / "bad.sqlite").write_text("this is not a database\n" * 50)
        return "bad.sqlite"
    if kind == "truncated":
        src = root / "made"
        src.mkdir()
        _make_store(src / "good.sqlite")
        conn = sqlite3.connect(src / "good.sqlite")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        data = (src / "good.sqlite").read_bytes()
        (root / "trunc.sqlite").write_bytes(data[: len(data) // 2])
        return "trunc.sqlite"
    if kind == "is_a_folder":
        (root / "folder.sqlite").mkdir()
        return "folder.sqlite"
    if kind == "under_a_file":
        (root / "plain").write_text("x")
        return "plain/store.sqlite"
    if kind == "unwritable":
        return "/sys/iclab-probe/store.sqlite"  # not writable, even for root
    raise AssertionError(kind)


STORE_KINDS = ["not_a_database", "truncated", "is_a_folder", "under_a_file", "unwritable"]
COMMANDS = {
    "run": ["run", "toy.rel", "--quick", "--no-plot"],
    "check": ["check", "toy.rel", "--quick"],
    "plot": ["plot", "toy.rel", "--quick", "--out", "out"],
    "export": ["export", "toy.rel", "--out", "out.csv"],
    "report": ["report", "--out", "out"],
}
READS_ONLY = {"plot", "export", "report"}


@pytest.mark.parametrize("kind", STORE_KINDS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_bad_store_is_one_line(tmp_path: Path, command: str, kind: str) -> None:
    store = _bad_store(kind, tmp_path)
    probe([*COMMANDS[command], "--store", store], tmp_path)


OUT_KINDS = {"unwritable": "/sys/iclab-probe-out", "is_a_file": "plain", "under_a_file":
             "plain/sub"}


@pytest.mark.parametrize("kind", list(OUT_KINDS))
@pytest.mark.parametrize("command", ["run", "plot", "report", "export", "demo"])
def test_bad_out_is_one_line(tmp_path: Path, command: str, kind: str) -> None:
    (tmp_path / "made").mkdir()
    _make_store(tmp_path / "made" / "s.sqlite")
    (tmp_path / "plain").write_text("x")
    out = OUT_KINDS[kind] + ("/t.csv" if command == "export" and kind == "is_a_file" else "")
    args = {"run": ["run", "toy.rel", "--quick"], "plot": ["plot", "toy.rel", "--quick"],
            "report": ["report"], "export": ["export", "toy.rel"],
            "demo": ["demo", "--only", "toy.rel"]}[command]
    store = [] if command == "demo" else ["--store", "made/s.sqlite"]
    probe([*args, *store, "--out", out], tmp_path)


# ---- typer usage errors ----------------------------------------------------------------------
USAGE = [
    ["theory", "e-icl", "--tau", "abc", "--alpha", "1", "--kappa", "0.5", "--rho", "0"],
    ["theory", "e-icl", "--alpha", "1", "--kappa", "0.5", "--rho", "0"],
    ["theory", "e-icl", "--tau", "1", "--alpha", "1", "--kappa", "abc", "--rho", "0"],
    ["theory", "e-icl", "--tau", "1", "--alpha", "1", "--kappa", "0.5", "--rho", "-1"],
    ["run", "toy.rel", "--variant", "x"],
    ["run", "toy.rel", "--workers", "abc"],
    ["run", "toy.rel", "--bogus"],
    ["run"],
    ["nosuchcommand"],
    ["run", "nosuch.experiment"],
    ["run", "toy.rel", "--set", "novalue"],
    ["run", "toy.rel", "--set", "unknown_key=1"],
    ["run", "toy.rel", "--device", "tpu"],
    ["run", "toy.rel", "--workers", "0"],
    ["export", "toy.rel", "--format", "xls"],
]


@pytest.mark.parametrize("args", USAGE, ids=[" ".join(a) for a in USAGE])
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str]) -> None:
    probe([*args, *(["--store", "s.sqlite"] if args[:1] == ["run"] and len(args) > 1 else [])],
          tmp_path)


# ---- numbers -------------------------------------------------------------------------------
def _strict(text: str) -> Any:
    def refuse(token: str) -> Any:
        raise ValueError(f"non-JSON constant {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("metric", ["e-icl", "e-idg"])
def test_theory_json_is_strict_json(tmp_path: Path, metric: str) -> None:
    """At the interpolation threshold (tau = 1, ridgeless, no noise) the error is infinite:
    --json prints null there, never bare Infinity/NaN."""
    code, out = invoke(["theory", metric, "--tau", "1", "--alpha", "10", "--kappa", "inf",
                        "--rho", "0", "--json"], tmp_path)
    assert code == 0, out
    value = _strict(out)
    assert value["kappa"] == "inf"
    assert value[metric.replace("-", "_")] is None


# ---- a few real processes ------------------------------------------------------------------
def _subprocess(args: list[str], cwd: Path, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run([*ICLAB, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, **kw)


@pytest.mark.parametrize("args", [
    ["theory", "e-icl", "--tau", "abc", "--alpha", "1", "--kappa", "0.5", "--rho", "0"],
    ["run", "lu2024.fig1", "--quick", "--set", "d=100000", "--store", "s.sqlite"],
    ["run", "toy.rel", "--quick", "--store", "bad.sqlite"],
])
def test_real_process_one_line(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "bad.sqlite").write_text("not a database\n")
    before = snapshot(tmp_path)
    proc = _subprocess(args, tmp_path)
    assert_one_line_failure(proc.returncode, proc.stdout + proc.stderr, before, tmp_path)


def test_ctrl_c_reports_stored_units_and_resumes(tmp_path: Path) -> None:
    env = {**os.environ, "RELIABILITY_TOY_DELAY": "0.2"}
    args = ["run", "toy.rel", "--full", "--store", "s.sqlite", "--no-plot"]
    # A shell without job control starts background jobs with SIGINT ignored, and Python keeps
    # an inherited SIG_IGN: restore the default so the child gets its KeyboardInterrupt.
    proc = subprocess.Popen([*ICLAB, *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    stored = 0
    while time.monotonic() < deadline and stored < 3:
        time.sleep(0.3)
        if (tmp_path / "s.sqlite").exists():
            try:
                with closing(sqlite3.connect(tmp_path / "s.sqlite", timeout=1)) as conn:
                    stored = conn.execute("SELECT count(*) FROM units").fetchone()[0]
            except sqlite3.Error:
                stored = 0
    assert stored >= 3, "the run did not store units in time"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    last = [ln for ln in err.splitlines() if ln.strip()][-1]
    assert last.startswith("error: interrupted: ") and "rerun" in last, err
    n_stored = int(last.split("interrupted: ")[1].split(" of ")[0])
    with closing(sqlite3.connect(tmp_path / "s.sqlite")) as conn:
        assert conn.execute("SELECT count(*) FROM units").fetchone()[0] == n_stored
        status = conn.execute("SELECT status FROM runs ORDER BY id DESC").fetchone()[0]
    assert status == "interrupted"
    again = _subprocess(args, tmp_path, env={**os.environ})
    assert again.returncode == 0, again.stderr
    assert f"80 units, {80 - n_stored} computed" in again.stdout, again.stdout


# ---- the guards do not refuse what the package ships ----------------------------------------
@pytest.mark.parametrize("name", [n for n in EXPERIMENTS if not n.startswith("llm.")])
def test_shipped_variants_pass_the_guards(name: str) -> None:
    """Every quick and full variant plans without tripping a size guard (no false alarm)."""
    from iclab.engine.runner import prepare_run
    from iclab.experiments import get_experiment

    for variant in EXPERIMENTS[name].variants:
        plan = prepare_run(get_experiment(name), variant)
        assert plan.units
