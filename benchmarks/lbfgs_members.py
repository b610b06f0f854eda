"""Benchmark: a separate L-BFGS per member against one L-BFGS on the members' summed loss.

The quick Fig. 5 problem of one architecture and d: one member per (τ, seed), member (τ, seed)
on its own pretraining set of n = τd² contexts (α = 1, ρ = 0.01, fresh task per context),
trained from the same initialisation by
:func:`iclab.fit.batched_lbfgs.train_lbfgs_independent` and by
:func:`iclab.fit.transformer_lbfgs.train_lbfgs` (the baseline), both to the Fig. 5 criterion
(training MSE ≤ 1e-4 or gradient norm ≤ 2e-3) for at most ``--iters`` iterations, one after
the other in this process on one thread. Prints, per trainer: seconds, members meeting the
criterion, summed final training loss, and the seed-mean test error per τ (2000 fresh-task
prompts).

Usage: ``.venv/bin/python benchmarks/lbfgs_members.py [--d 12] [--arch linear]
[--iters 500] [--seeds 4]``
"""

from __future__ import annotations

import argparse
import time

import torch

from iclab.evaluate.risk import mc_risk
from iclab.experiments.lu2024.transformer_common import ARCHITECTURES
from iclab.fit.batched_lbfgs import train_lbfgs_independent
from iclab.fit.transformer_lbfgs import train_lbfgs
from iclab.fit.transformer_study import as_float32
from iclab.fit.transformer_training import FixedDataset
from iclab.models.transformer import EnsembleTransformer
from iclab.tasks.regression import InContextRegression

TAUS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=12)
    parser.add_argument("--arch", default="linear", choices=sorted(ARCHITECTURES))
    parser.add_argument("--iters", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    d = args.d
    members = [(tau, s) for tau in TAUS for s in range(args.seeds)]
    task = InContextRegression(d=d, context_len=d, rho=0.01, k=None, task_norm="gaussian")
    gen = torch.Generator().manual_seed(0)
    sets = [as_float32(task.sample(round(tau * d * d), gen, kind="pretrain"))
            for tau, _ in members]
    test = as_float32(task.sample(2000, gen, kind="icl"))
    cfg = ARCHITECTURES[args.arch](d)
    print(f"{args.arch}, d={d}, {len(members)} members (taus {TAUS} x {args.seeds} seeds), "
          f"at most {args.iters} iterations, one thread")
    for name, trainer in (("per member", train_lbfgs_independent),
                          ("summed loss (baseline)", train_lbfgs)):
        model = EnsembleTransformer(cfg, len(members), generator=torch.Generator().manual_seed(1))
        start = time.perf_counter()
        report = trainer(model, FixedDataset(sets, cfg.token_format), max_iter=args.iters,
                         loss_tol=1e-4, grad_tol=2e-3)
        seconds = time.perf_counter() - start
        err = mc_risk(model, test).view(len(TAUS), args.seeds).mean(1)
        print(f"{name:24s} {seconds:7.1f} s; criterion met by {int(report.converged.sum())} "
              f"of {len(members)}; summed training loss {float(report.train_loss.sum()):.4f}")
        print("    seed-mean test error per tau:", " ".join(f"{float(e):.2f}" for e in err))


if __name__ == "__main__":
    main()
