"""Keep the claims ledger in step: ``python -m iclab.experiments.ledger_tool status|record``.

``status`` lists the registered claims whose fingerprint differs from the ledger's (exit 1 if
any); ``record`` adds a ledger entry for them (or for the claims named) with what changed, the
verdicts before the change and why, and stores their new fingerprints and revisions. See
:mod:`iclab.claims_ledger`.
"""

from __future__ import annotations

import argparse

from iclab.claims_ledger import changed_claims, record_change
from iclab.experiments import all_experiments, get_experiment


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iclab.experiments.ledger_tool",
                                     description="Keep the claims ledger in step.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("status", help="list claims whose fingerprint changed")
    rec = sub.add_parser("record", help="add a ledger entry for changed claims")
    rec.add_argument("claims", nargs="*", help="experiment:claim (default: every changed one)")
    rec.add_argument("--change", required=True)
    rec.add_argument("--before", required=True, help="the verdicts before the change")
    rec.add_argument("--why", required=True)
    rec.add_argument("--after-run", action="store_true",
                     help="the change was made after a run had shown a verdict")
    rec.add_argument("--commit", default="")
    args = parser.parse_args(argv)
    experiments = [get_experiment(n) for n in all_experiments()]
    changed = changed_claims(experiments)
    if args.cmd == "status":
        for key, why in changed.items():
            print(f"{key}: {why}")
        print(f"{len(changed)} claim(s) changed")
        return 1 if changed else 0
    keys = args.claims or sorted(changed)
    entry = record_change(keys, args.change, args.before, args.why, args.after_run,
                          experiments, commit=args.commit)
    print(f"recorded for {len(entry['claims'])} claim(s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
