"""Benchmark: the three quick trained-transformer checks together, as a user runs them.

Runs ``iclab check lu2024.fig5 lu2024.fig6 shi2024.fig_transformer_noise --quick --json
--workers W`` as one fresh process on an empty temporary store, and prints its wall-clock
time, when each experiment's last unit finished (from the command's own lines; the three
experiments' units share the workers), the verdicts and the load average before and after
(the machine may be shared). The time budget these checks
are held to is 10 minutes on 2 cores; this script measures it, it does not assert it.

Usage: ``.venv/bin/python benchmarks/transformer_quick_checks.py [--workers 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAMES = ("lu2024.fig5", "lu2024.fig6", "shi2024.fig_transformer_noise")
DONE = re.compile(r"(\S+): (\d+) units, (\d+) computed \(done after ([\d.]+) s\)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"cores {os.cpu_count()}, workers {args.workers}, load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "iclab", "check", *NAMES, "--quick", "--json",
               "--workers", str(args.workers), "--store", str(Path(tmp) / "s.sqlite")]
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"iclab check exited {done.returncode}: {done.stderr.strip()[-500:]}")
    for m in DONE.finditer(done.stderr):
        print(f"  {m.group(1):32s} {m.group(2)} units, last done after {float(m.group(4)):6.1f} s")
    verdicts = json.loads(done.stdout)
    held = sum(v["verdict"] == "holds" for v in verdicts)
    print(f"total {wall:.1f} s wall-clock ({wall / 60:.1f} min; budget 10 min); "
          f"{held} of {len(verdicts)} claims hold; load average now {os.getloadavg()[0]:.1f}")
    for v in verdicts:
        if v["verdict"] != "holds":
            print(f"  {v['experiment']}:{v['claim']} {v['verdict']} "
                  f"({v['statistic']:.4g} ± {v['uncertainty']:.2g} vs {v['threshold']:.4g})")


if __name__ == "__main__":
    main()
