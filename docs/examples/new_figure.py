# %% [markdown]
# # Adding a formula, a model and a figure (a worked example)
#
# The three additions docs/architecture.md walks through, in one runnable file
# (`python docs/examples/new_figure.py`, a few seconds on a laptop CPU; writes only under
# `new_figure_results/`). In the package each part goes to its own folder, named in the cell.
#
# The question: one step of gradient descent from zero on the context,
# $\hat w = \frac{\eta}{n} X^\top y$, predicts $\hat y = x_q^\top \hat w$. With
# $x \sim \mathcal N(0, I_d)$, $w \sim \mathcal N(0, I_d/d)$ and $y = x^\top w + \varepsilon$,
# $\varepsilon \sim \mathcal N(0, \sigma^2)$, what is its risk, and which step is best?

# %% [markdown]
# ## 1. A formula (goes to `iclab/theory/`, pure NumPy)
#
# With $S = X^\top X / n$ (a Wishart matrix, $\mathbb E S^2 = (1 + \frac{d+1}{n}) I$) and
# $\mathbb E\|w\|^2 = 1$:
#
# $$R(\eta) = \eta^2\Big(1 + \tfrac{d+1}{n} + \tfrac{\sigma^2 d}{n}\Big) - 2\eta + 1 + \sigma^2,
# \qquad \eta^* = \Big(1 + \tfrac{d+1}{n} + \tfrac{\sigma^2 d}{n}\Big)^{-1}.$$

# %%
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
import torch

from iclab.claims import Claim, ClaimData, Evidence, all_of, compare_interval, scale_column
from iclab.contract import Experiment, ExperimentSettings, RunContext
from iclab.engine import run_experiment
from iclab.evaluate import mc_risk
from iclab.figures import save_figure
from iclab.models.base import Predictor
from iclab.tasks.prompts import Prompts

OUT = Path("new_figure_results")


def one_step_gd_risk(eta: np.ndarray | float, n: int, d: int, sigma2: float) -> np.ndarray:
    """R(η) of one GD step from zero (formula above); broadcasts over ``eta``."""
    curvature = 1.0 + (d + 1) / n + sigma2 * d / n
    return np.asarray(eta) ** 2 * curvature - 2.0 * np.asarray(eta) + 1.0 + sigma2


# %% [markdown]
# ## 2. A model (goes to `iclab/models/`; its training, if any, to `iclab/fit/`)
#
# Every model is a `Predictor`: a `members` count and `predict(prompts) -> [members, B]`.
# Here one member per step size, so one call scores a whole grid of η. In the package, add a
# factory for it to `tests/architecture/predictors_<area>.py` and the conformance tests check
# it (shapes, determinism, prompts independent, query label unseen).

# %%
class OneStepGD:
    """ŷ_m = η_m x_qᵀ Xᵀy / n for each step size η_m: ``predict`` → ``[M, B]``."""

    def __init__(self, etas: torch.Tensor) -> None:
        self.etas = etas

    @property
    def members(self) -> int:
        return int(self.etas.numel())

    def predict(self, prompts: Prompts) -> torch.Tensor:
        w_hat = torch.einsum("bnd,bn->bd", prompts.X, prompts.y) / prompts.n  # [B, d]
        base = (w_hat * prompts.x_q).sum(-1)  # [B]
        return self.etas.to(base)[:, None] * base[None, :]


def gaussian_prompts(batch: int, n: int, d: int, sigma2: float, g: torch.Generator) -> Prompts:
    """x ~ N(0, I_d), w ~ N(0, I_d / d), y = xᵀw + N(0, σ²): ``X [B, n, d]``."""
    X = torch.randn(batch, n + 1, d, generator=g, dtype=torch.float64)
    w = torch.randn(batch, d, generator=g, dtype=torch.float64) / d**0.5
    y = torch.einsum("bnd,bd->bn", X, w)
    y = y + sigma2**0.5 * torch.randn(y.shape, generator=g, dtype=torch.float64)
    return Prompts(X[:, :n], y[:, :n], X[:, n], y[:, n], w)


assert isinstance(OneStepGD(torch.ones(3)), Predictor)

# %% [markdown]
# ## 3. A figure (goes to `iclab/experiments/<paper>/<figure>.py`)
#
# An experiment declares its settings (pydantic, with bounds: bad input is refused with a
# one-line error), its grid, one unit of work, the theory, the figure and the claims it tests,
# each claim a statistical check fixed before the run. Registered with `@register` in the
# package, it is found by name (`iclab run example.one_step_gd`); here it is passed directly.
# Kept outside iclab, the same class decorated with `@register` is found by every `iclab`
# command through `ICLAB_EXPERIMENT_MODULES=path/to/this_file.py` or an entry point of the
# group `iclab.experiments` in its own package: `docs/examples/plugin` is such a package.

# %%
class OneStepGDSettings(ExperimentSettings):
    d: int = pydantic.Field(10, ge=1, le=2000, strict=True)
    n_values: list[int] = pydantic.Field([5, 20, 80], min_length=1)
    sigma2: float = pydantic.Field(0.25, ge=0, allow_inf_nan=False)
    etas: list[float] = pydantic.Field(list(np.linspace(0.1, 1.5, 15)), min_length=2)
    test_prompts: int = pydantic.Field(20000, ge=10, strict=True)
    trials: int = pydantic.Field(5, ge=2, strict=True)


def risk_matches_theory(data: ClaimData) -> Evidence:
    """Per n: mean over trials of max_η |R̂ − R| / R is below 5 %."""
    frame = data.results
    panels = []
    for n, group in frame.groupby("n"):
        theory = one_step_gd_risk(group["eta"], int(n), data.settings.d, data.settings.sigma2)
        group = group.assign(rel=(group["risk"] - theory).abs() / theory)
        worst = group.groupby("trial")["rel"].max()
        panels.append(compare_interval(worst.to_numpy(), 0.05, "<", f"max rel. dev. n={n}"))
    return all_of(panels, "every n")


class OneStepGDFigure(Experiment[OneStepGDSettings]):
    name = "example.one_step_gd"
    title = "One GD step on the context: risk against step size"
    paper = "worked example (ours)"
    Settings = OneStepGDSettings
    variants = {"quick": {}, "full": {"d": 100, "n_values": [50, 200, 800], "trials": 10}}
    claims = (
        Claim("risk_matches_theory",
              "The Monte Carlo risk of one GD step is R(η) within 5 % at every step size.",
              "ours", risk_matches_theory, scale_column("risk", 1.3)),
    )

    def points(self, settings: OneStepGDSettings) -> list[dict[str, int]]:
        return [{"n": n} for n in settings.n_values]

    def run_point(self, settings: OneStepGDSettings, point: dict[str, int], trial: int,
                  ctx: RunContext) -> list[dict[str, float]]:
        prompts = gaussian_prompts(settings.test_prompts, point["n"], settings.d,
                                   settings.sigma2, ctx.cpu_generator())
        risks = mc_risk(OneStepGD(torch.tensor(settings.etas)), prompts)
        return [{"eta": eta, "risk": float(r)} for eta, r in zip(settings.etas, risks, strict=True)]

    def theory(self, settings: OneStepGDSettings) -> pd.DataFrame:
        eta = np.linspace(min(settings.etas), max(settings.etas), 200)
        return pd.concat([pd.DataFrame({"n": n, "eta": eta, "risk": one_step_gd_risk(
            eta, n, settings.d, settings.sigma2)}) for n in settings.n_values])

    def plot(self, settings: OneStepGDSettings, results: pd.DataFrame,
             theory: pd.DataFrame | None):  # noqa: ANN201 - a matplotlib Figure
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 3))
        for n, group in results.groupby("n"):
            mean = group.groupby("eta")["risk"].mean()
            (line,) = ax.plot(mean.index, mean.to_numpy(), "o", ms=3, label=f"n = {n}")
            if theory is not None:
                curve = theory[theory["n"] == n]
                ax.plot(curve["eta"], curve["risk"], "-", color=line.get_color())
        ax.set_xlabel(r"step size $\eta$")
        ax.set_ylabel("test risk")
        ax.legend(fontsize=8)
        return fig


# %%
run = run_experiment(OneStepGDFigure(), "quick", store=OUT / "iclab.sqlite")
data = ClaimData(run.settings, run.results, run.theory, "quick")
for claim in OneStepGDFigure.claims:
    found = claim.check(data)
    print(f"{claim.id}: {found.verdict} ({found.detail})")
    assert found.verdict == "holds"
fig = OneStepGDFigure().plot(run.settings, run.results, run.theory)
print("figure:", *save_figure(fig, OUT, "one_step_gd"))
