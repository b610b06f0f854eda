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


def _frame(clean: dict[float, float], keep: dict[float, float], seeds: int = 6) -> pd.DataFrame:
    """Two-class rows per (size, seed): accuracy ``clean[size]`` at p = 0 and, at p = 0.5,
    chance plus ``keep[size]`` of the clean gain over chance (tiny seed jitter)."""
    rows = []
    for size in clean:
        for seed in range(seeds):
            jitter = 0.002 * ((seed * 7 + int(size)) % 5 - 2)
            noisy = 0.5 + keep[size] * (clean[size] - 0.5)
            for p, acc in ((0.0, clean[size]), (0.5, noisy + jitter)):
                rows.append({"noise": "label", "k": 8, "kind": "base", "p": p,
                             "n_params": size, "seed": seed, "n_classes": 2,
                             "accuracy": acc})
    return pd.DataFrame(rows)


def test_llm_claim_normalises_the_drop_by_the_clean_gain() -> None:
    """A larger model that is more accurate on clean prompts and keeps the same fraction of its
    gain over chance loses more accuracy in absolute terms, but is not more sensitive: no
    "holds". One that keeps a smaller fraction is; one at chance on clean prompts has nothing
    to lose and is left out."""
    same = _frame({1e8: 0.7, 1e9: 0.9}, {1e8: 0.5, 1e9: 0.5})
    assert CLAIM.check(ClaimData(None, same, None, "quick")).verdict != "holds"
    more = _frame({1e8: 0.7, 1e9: 0.9}, {1e8: 0.6, 1e9: 0.3})
    assert CLAIM.check(ClaimData(None, more, None, "quick")).verdict == "holds"
    at_chance = _frame({1e8: 0.5, 1e9: 0.9}, {1e8: 0.5, 1e9: 0.3})
    assert CLAIM.check(ClaimData(None, at_chance, None, "quick")).verdict == "inconclusive"
