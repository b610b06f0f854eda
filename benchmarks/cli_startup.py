"""CLI start-up time against ``import torch``, measured in one run (ratios are what count).

``iclab --help`` and ``iclab theory ...`` must not import torch, transformers or pandas, so
they should start faster than ``python -c "import torch"``. Each command runs ``--repeat``
times, interleaved (so machine load affects both alike); the table shows the median wall
time and its ratio to ``import torch``.

Usage: ``python benchmarks/cli_startup.py [--repeat 7]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS: dict[str, list[str]] = {
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
    "iclab --help": [sys.executable, "-m", "iclab", "--help"],
    "iclab --version": [sys.executable, "-m", "iclab", "--version"],
    "iclab theory e-icl ...": [sys.executable, "-m", "iclab", "theory", "e-icl", "--tau", "2",
                               "--alpha", "10", "--kappa", "0.5", "--rho", "0.01"],
    'python -c "import iclab"': [sys.executable, "-c", "import iclab"],
}


def time_once(cmd: list[str]) -> float:
    """Wall seconds of one run of ``cmd`` (output discarded); raises if it fails."""
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for cmd in COMMANDS.values():  # warm the file cache once
        time_once(cmd)
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, cmd in COMMANDS.items():
            samples[name].append(time_once(cmd))
    base = statistics.median(samples['python -c "import torch"'])
    print(f"{'command':32s} {'median s':>9s} {'min s':>7s} {'vs import torch':>16s}")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:32s} {med:9.3f} {min(values):7.3f} {med / base:15.2f}x")


if __name__ == "__main__":
    main()
