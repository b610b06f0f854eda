"""The claim of ``llm.noise_sensitivity`` on tiny local models built in the test.

Its quick variant needs the user's checkpoints, so ``make test`` cannot run it; here two tiny
random GPT-2s of different sizes (tests/llm/conftest.py) stand in. Random models say nothing
about the paper's claim: the test shows that the check compares model sizes and gives a
verdict, that its counterexample does not say "holds", and that it is "inconclusive" without
rows or with fewer than two model sizes.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from iclab import run_experiment
from iclab.claims import VERDICTS, ClaimData
from iclab.experiments.llm.noise_sensitivity import NoiseSensitivity
from iclab.llm.loading import clear_model_cache

CLAIM = NoiseSensitivity.claims[0]
SWEEP = {"task": "sentiment", "p": [0.0, 0.5], "k": [4], "seeds": 3, "n_queries": 8,
         "batch_size": 4}


def _data(models: list, store: Path) -> ClaimData:
    clear_model_cache()
    run = run_experiment("llm.noise_sensitivity", "quick", {**SWEEP, "models": models},
                         store=store)
    return ClaimData(run.settings, run.results, run.theory, "quick")


def test_llm_claim_compares_sizes_and_can_fail(tiny_models, tmp_path) -> None:
    models = [{"path": str(tiny_models["gpt2"]), "kind": "base"},
              {"path": str(tiny_models["gpt2-large"]), "kind": "base"}]
    data = _data(models, tmp_path / "s.sqlite")
    assert len(data.results) == 2 * 2 * 3                    # models x p x seeds
    found = CLAIM.check(data)
    assert found.verdict in VERDICTS
    assert math.isfinite(found.statistic) and "params" in found.detail  # a size comparison
    wrong = CLAIM.check(CLAIM.counterexample(data))
    assert wrong.verdict == "fails", wrong.detail


def test_llm_claim_inconclusive_without_rows_or_sizes(tiny_models, tmp_path) -> None:
    one = _data([str(tiny_models["gpt2"])], tmp_path / "one.sqlite")
    assert CLAIM.check(one).verdict == "inconclusive"
    # two sizes, but one base and one chat model (kind guessed from "-chat"): no pair to compare
    mixed = _data([str(tiny_models["gpt2"]), str(tiny_models["gpt2-large"])],
                  tmp_path / "mixed.sqlite")
    assert set(mixed.results["kind"]) == {"base", "chat"}
    assert CLAIM.check(mixed).verdict == "inconclusive"
    none = _data([], tmp_path / "none.sqlite")
    assert none.results.empty and CLAIM.check(none).verdict == "inconclusive"
    empty = ClaimData(none.settings, pd.DataFrame(), None, "quick")
    assert CLAIM.check(CLAIM.counterexample(empty)).verdict == "inconclusive"
