"""Replication of the quick claims on fresh seeds: per claim, on how many seeds it holds.

Runs every registered experiment shipped with iclab (except the LLM study, which needs local
checkpoints) at ``--seeds`` experiment seeds drawn at random (``--tf-seeds`` for the three
trained-transformer experiments), through :func:`iclab.engine.check.replicate_claims` with the
units of all experiments on one pool of ``--workers`` processes. The seeds are printed and kept
in ``<store>.replication.json``, and every unit is stored in ``--store``: an interrupted run
resumes where it stopped, so the table may be built in several sittings.

Prints a Markdown table (experiment, claim, holds k of n, the seeds on which it does not hold)
and the total time, and writes it to ``--out`` (default
``results/claim_replication.md``) for ``docs/claims.md``.

Usage: ``.venv/bin/python benchmarks/claim_replication.py --seeds 20 [--tf-seeds 10]
[--workers 2] [--only li2024] [--store results/replication.sqlite]``
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

TRANSFORMERS = ("lu2024.fig5", "lu2024.fig6", "shi2024.fig_transformer_noise")
LEFT_OUT = ("llm.noise_sensitivity",)


def markdown(reps: list, seeds: dict[str, list[int]], seconds: float) -> str:
    """The replication table as Markdown, with the seeds and the time."""
    lines = ["| experiment | claim | holds | median margin | P(holds) est. "
             "| seeds where it does not hold (verdict) |",
             "|---|---|---|---|---|---|"]
    for r in reps:
        bad = [f"{s} ({v})" for s, v in zip(r.seeds, r.verdicts, strict=True) if v != "holds"]
        lines.append(f"| `{r.experiment}` | `{r.claim}` | {r.n_holds} of {len(r.verdicts)} | "
                     f"{r.median_margin:.2g} | {r.hold_rate_text} | {', '.join(bad) or '—'} |")
    lines.append("")
    for group, values in seeds.items():
        lines.append(f"Seeds ({group}): {', '.join(map(str, values))}.")
    lines.append(f"Total time {seconds:.0f} s on {platform.processor() or platform.machine()}"
                 f" ({platform.system()}).")
    return "\n".join(lines) + "\n"


def main() -> None:
    from iclab.engine import make_executor
    from iclab.engine.replication import replicate_claims, replication_seeds
    from iclab.experiments import all_experiments, get_experiment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--tf-seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default="", help="run only experiments whose name has this")
    parser.add_argument("--store", type=Path, default=Path("results/replication.sqlite"))
    parser.add_argument("--out", type=Path, default=Path("results/claim_replication.md"))
    args = parser.parse_args()
    names = [n for n in all_experiments() if n not in LEFT_OUT and args.only in n
             and get_experiment(n).__module__.startswith("iclab.experiments")]
    args.store.parent.mkdir(parents=True, exist_ok=True)
    seeds_file = args.store.with_name(args.store.name + ".replication.json")
    groups = {"other experiments": ([n for n in names if n not in TRANSFORMERS], args.seeds),
              "trained transformers": ([n for n in names if n in TRANSFORMERS], args.tf_seeds)}
    executor = make_executor("process" if args.workers > 1 else "local",
                             workers=args.workers)
    start = time.perf_counter()
    reps, kept = [], {}
    for group, (members, k) in groups.items():
        if not members or k <= 0:
            continue
        seeds = replication_seeds(seeds_file, members, "quick", k)
        kept[group] = seeds
        print(f"{group}: {len(members)} experiments at seeds {', '.join(map(str, seeds))}",
              flush=True)
        reps += replicate_claims([get_experiment(n) for n in members], seeds, "quick",
                                 store=args.store, executor=executor)
    seconds = time.perf_counter() - start
    text = markdown(reps, kept, seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
