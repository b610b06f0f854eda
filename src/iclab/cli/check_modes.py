"""``iclab check --controls`` and ``iclab check --replicate K``: the two other ways to check.

``--controls`` runs every claim's negative controls (real configurations in which the claimed
effect is absent; each check must say ``fails``) and lists the claims that have none, with the
reason. ``--replicate K`` runs the experiments at K experiment seeds drawn at random (kept in a
JSON file beside the store, so a rerun resumes) and counts, per claim, the seeds on which it
holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from iclab._cli_errors import dumps as _strict_json
from iclab.cli.common import VERDICT_STYLE, print_claims


def run_controls(experiments: list[Any], variant: str, store: Any, executor: Any,
                 device: str, as_json: bool, log: Console, progress: bool,
                 overrides: dict[str, Any] | None = None) -> int:
    """Run and print the negative controls (with ``overrides``, e.g. another seed, under each
    control's own); exit status 0 when every control says fails."""
    from iclab.engine.check import check_controls, controls_exit_code

    log.print(f"[bold]▶ negative controls[/bold] of {len(experiments)} experiment(s) "
              f"[{variant}]")
    results, missing = check_controls(experiments, variant, store=store, executor=executor,
                                      device=device, progress=progress, overrides=overrides)
    if as_json:
        typer.echo(_strict_json({"controls": [r.to_dict() for r in results],
                                 "without_control": [m.to_dict() for m in missing]},
                                indent=1))
    else:
        print_claims(log, results, f"negative controls [{variant}] (each check must say "
                     "fails)")
        if missing:
            table = Table(title="claims without a negative control")
            for col in ("experiment", "claim", "reason"):
                table.add_column(col, overflow="fold")
            for m in missing:
                table.add_row(m.experiment, m.claim, m.reason)
            log.print(table)
        n_ok = sum(r.verdict == "fails" for r in results)
        log.print(f"{n_ok} of {len(results)} controls fail as they must; "
                  f"{len(missing)} claim(s) without a control")
    return controls_exit_code(results)


def run_replication(experiments: list[Any], variant: str, overrides: dict[str, Any] | None,
                    k: int, fresh: bool, store: Any, executor: Any, device: str,
                    as_json: bool, log: Console, progress: bool) -> int:
    """Run the experiments at ``k`` random seeds and print each claim's count of holds.

    Exit status 0 when every claim holds on every seed, else 1.
    """
    from iclab.engine.replication import replicate_claims, replication_seeds

    names = [e.name for e in experiments]
    seeds_file = Path(store).with_name(Path(store).name + ".replication.json")
    seeds = replication_seeds(seeds_file, names, variant, k, fresh)
    log.print(f"[bold]▶ replication[/bold] at {k} experiment seed(s): "
              f"{', '.join(map(str, seeds))} (kept in {seeds_file})")
    reps = replicate_claims(experiments, seeds, variant, overrides, store=store,
                            executor=executor, device=device, progress=progress)
    if as_json:
        typer.echo(_strict_json([r.to_dict() for r in reps], indent=1))
    else:
        table = Table(title=f"claims over {k} fresh seeds [{variant}]")
        for col in ("experiment", "claim", "holds", "median margin", "P(holds) est.",
                    "not holding (seed: verdict)"):
            table.add_column(col, overflow="fold")
        for r in reps:
            bad = [f"{s}: {v}" for s, v in zip(r.seeds, r.verdicts, strict=True)
                   if v != "holds"]
            style = VERDICT_STYLE["holds" if not bad else "fails"]
            table.add_row(r.experiment, r.claim,
                          f"[{style}]{r.n_holds} of {len(r.verdicts)}[/{style}]",
                          f"{r.median_margin:.2g}", r.hold_rate_text,
                          "; ".join(bad) or "—")
        log.print(table)
        log.print("margin: distance beyond the threshold on the claimed side, in half-widths "
                  "of the 95 % interval (> 1 holds); P(holds) est.: a robust normal fit of the "
                  "margins (of their logarithms when all are positive), at most the observed "
                  "fraction (needs 5 seeds; docs/claims.md)")
    return 0 if reps and all(r.n_holds == len(r.verdicts) for r in reps) else 1
