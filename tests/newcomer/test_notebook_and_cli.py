"""A newcomer's iclab: notebooks keep their backend, the notebook example runs, the CLI starts
light and reports its version."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "docs" / "examples" / "quickstart.py"


def _python(code: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout)


def test_importing_and_using_iclab_keeps_the_matplotlib_backend(tmp_path: Path) -> None:
    """MPLBACKEND=svg stays svg through import, a run, a plot and a saved figure."""
    code = f"""
import matplotlib
import iclab, iclab.figures, iclab.experiments, iclab.report, iclab.demo
before = matplotlib.rcParams["backend"]
res = iclab.run_experiment("lu2024.fig1", "quick", overrides={{"d": 6, "trials": 1}},
                           store=r"{tmp_path / 's.sqlite'}")
fig = res.experiment.plot(res.settings, res.results, res.theory)
iclab.figures.save_figure(fig, r"{tmp_path}", "fig")
import matplotlib.pyplot as plt
print(before, matplotlib.get_backend(), len(plt.get_fignums()))
"""
    done = _python(code, env={"MPLBACKEND": "svg"})
    assert done.returncode == 0, done.stderr[-2000:]
    before, after, open_figures = done.stdout.split()
    assert before.lower() == "svg" and after.lower() == "svg"
    assert open_figures == "0"  # iclab's figures never join pyplot's global list
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"


def test_notebook_example_runs_top_to_bottom(tmp_path: Path) -> None:
    """docs/examples/quickstart.py (percent format) executes as a script, writing its outputs
    under the working directory."""
    done = subprocess.run([sys.executable, str(QUICKSTART)], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "MPLBACKEND": "Agg"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "units" in done.stdout and "computed" in done.stdout
    figures = list((tmp_path / "quickstart_results" / "figures").glob("*.png"))
    assert [f.name for f in figures] == ["lu2024.fig1_quick_d12_trials3.png"]
    assert (tmp_path / "quickstart_results" / "iclab.sqlite").exists()


def test_notebook_example_is_percent_format() -> None:
    text = QUICKSTART.read_text()
    assert text.startswith("# %% [markdown]")
    assert text.count("# %%") >= 8


def test_python_m_iclab_version() -> None:
    done = subprocess.run([sys.executable, "-m", "iclab", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"iclab {version('iclab')}"
    import iclab

    assert iclab.__version__ == version("iclab")


@pytest.mark.parametrize("args", [["--help"], ["theory", "e-icl", "--tau", "2", "--alpha", "10",
                                               "--kappa", "0.5", "--rho", "0.01"]])
def test_help_and_theory_do_not_import_torch(args: list[str]) -> None:
    code = (f"import sys; sys.argv = ['iclab', *{args!r}]\n"
            "from iclab.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'transformers', 'pandas') if m in sys.modules]\n"
            "print('HEAVY', ','.join(heavy))")
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY", done.stdout[-500:]


def test_help_lists_llm_and_llm_help_loads_it() -> None:
    top = subprocess.run([sys.executable, "-m", "iclab", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert top.returncode == 0 and " llm " in top.stdout
    pytest.importorskip("transformers")
    sub = subprocess.run([sys.executable, "-m", "iclab", "llm", "--help"], capture_output=True,
                         text=True, timeout=300)
    assert sub.returncode == 0, sub.stderr
    assert "tasks" in sub.stdout and "run" in sub.stdout
