"""Throughput of ensemble training: M models in ONE tensor program vs a loop of M single runs.

Both sides run the same code path (:func:`iclab.fit.li_training.train_icl_ensemble`,
i.e. :func:`iclab.fit.ensemble.train_ensemble`): the baseline calls it M times with an ensemble
of size 1, the ensemble side once with size M. Same architecture, task, batch and steps.

    .venv/bin/python benchmarks/ensemble_training.py            # M = 64, linear attention
    .venv/bin/python benchmarks/ensemble_training.py --kind h3 --device cuda

Prints model-steps per second of each side and their ratio (targets: >= 3x on 2 CPU cores,
>= 10x on an H100).
"""

from __future__ import annotations

import argparse
import time

import torch

from iclab.devices import resolve_device
from iclab.fit.li_training import TrainConfig, train_icl_ensemble
from iclab.tasks.gaussian_design import GaussianDesignTask


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(kind: str, M: int, d: int, n: int, steps: int, batch: int, device: torch.device,
        singles: int, threads: int | None) -> dict[str, float]:
    task = GaussianDesignTask(d)
    config = TrainConfig(steps=steps, batch=batch, warmup=0, cpu_threads=threads)
    gen = torch.Generator(device=device).manual_seed(0)
    train_icl_ensemble(kind, task, n, 2, gen, TrainConfig(steps=5, batch=batch))  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    train_icl_ensemble(kind, task, n, M, gen, config)
    _sync(device)
    t_ens = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(singles):
        train_icl_ensemble(kind, task, n, 1, gen, config)
    _sync(device)
    t_loop = (time.perf_counter() - t0) * M / singles
    return {"ensemble_s": t_ens, "loop_s": t_loop,
            "ensemble_model_steps_per_s": M * steps / t_ens,
            "loop_model_steps_per_s": M * steps / t_loop, "ratio": t_loop / t_ens}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", default="linear_attention", choices=["linear_attention", "h3"])
    ap.add_argument("--M", type=int, default=64)
    ap.add_argument("--d", type=int, default=5)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--singles", type=int, default=None,
                    help="single runs actually timed (default M; fewer = extrapolated to M)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads while training (0: leave torch's default)")
    args = ap.parse_args()
    device = resolve_device(args.device)
    singles = args.M if args.singles is None else args.singles
    threads = args.threads or None
    res = run(args.kind, args.M, args.d, args.n, args.steps, args.batch, device, singles, threads)
    shown = threads or torch.get_num_threads()
    print(f"{args.kind}: M={args.M} d={args.d} n={args.n} steps={args.steps} "
          f"batch={args.batch} device={device} cpu_threads={shown}")
    print(f"  ensemble (one program): {res['ensemble_s']:8.2f} s  "
          f"{res['ensemble_model_steps_per_s']:10.0f} model-steps/s")
    print(f"  loop of {args.M} single runs: {res['loop_s']:8.2f} s  "
          f"{res['loop_model_steps_per_s']:10.0f} model-steps/s"
          + ("" if singles == args.M else f"  (timed {singles}, scaled to {args.M})"))
    print(f"  throughput ratio: {res['ratio']:.1f}x")


if __name__ == "__main__":
    main()
