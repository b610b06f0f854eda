"""Benchmark: the whole ``iclab run`` process for the authors' quick Figure 4 at d = 10
against the authors' own ``quick_and_easy_figure/run.py --d=10``, in the same script.

Both compute the same thing: 12 κ × 20 Γ* trials (α = τ = 10, ρ = 0.01, λ = 1e-6) and 1000
dMMSE test prompts per kind and κ (iclab: 50 per trial × 20 trials). Each side runs as a
fresh process (start-up, imports, figure and result writing included), ``--repeat`` times,
interleaved so that machine load affects both alike; the medians and their ratio are printed
with the load average. iclab writes to a fresh temporary store each time (nothing reused).

The authors' code (github.com/mletey/incontext-cleanup, NumPy/SciPy only for this script) is
not part of iclab: point ``ICLAB_AUTHORS_CODE`` at a checkout, or the script looks for the
mirror ``/work/.mirror/mletey+incontext-cleanup/repo`` (a bare git repository, exported to a
temporary folder). Without either it skips with a message.

Usage: ``.venv/bin/python benchmarks/lu_fig4_vs_authors.py [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIRROR = Path("/work/.mirror/mletey+incontext-cleanup/repo")
ICLAB = [sys.executable, "-m", "iclab", "run", "lu2024.fig4", "--quick", "--set", "d=10",
         "--set", "trials=20", "--set", "dmmse_prompts=50"]


def authors_checkout(tmp: Path) -> Path | None:
    """A folder holding the authors' ``quick_and_easy_figure`` (None if unavailable)."""
    env = os.environ.get("ICLAB_AUTHORS_CODE")
    if env:
        root = Path(env)
        return root if (root / "quick_and_easy_figure" / "run.py").exists() else None
    if not MIRROR.exists():
        return None
    dest = tmp / "authors"
    dest.mkdir()
    archive = subprocess.run(["git", "--git-dir", str(MIRROR), "archive", "HEAD",
                              "quick_and_easy_figure", "theory_runs"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def run_authors(root: Path, tmp: Path) -> float:
    work = tmp / "authors_run"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(root, work)
    fig = work / "quick_and_easy_figure"
    (fig / "saved_data").mkdir(exist_ok=True)
    t = time.perf_counter()
    subprocess.run([sys.executable, "run.py", "--d=10", "--name", "bench"], cwd=fig, check=True,
                   capture_output=True)
    return time.perf_counter() - t


def run_iclab(tmp: Path, i: int) -> float:
    out = tmp / f"iclab_{i}"
    t = time.perf_counter()
    subprocess.run([*ICLAB, "--store", str(out / "store.sqlite"), "--out", str(out)],
                   check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        root = authors_checkout(tmp)
        if root is None:
            print("skipped: the authors' code was not found (set ICLAB_AUTHORS_CODE to a "
                  "checkout of github.com/mletey/incontext-cleanup)")
            return
        print(f"cores {os.cpu_count()}, load average at start {os.getloadavg()}")
        ours, theirs = [], []
        for i in range(args.repeat):
            ours.append(run_iclab(tmp, i))
            theirs.append(run_authors(root, tmp))
            print(f"  run {i + 1}: iclab {ours[-1]:.1f} s, authors {theirs[-1]:.1f} s, "
                  f"load {os.getloadavg()[0]:.1f}")
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"median: iclab run (whole process) {a:.1f} s, authors' run.py --d=10 {b:.1f} s "
              f"-> iclab is x{b / a:.1f} faster (target >= 8x)")


if __name__ == "__main__":
    main()
