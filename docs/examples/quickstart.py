# %% [markdown]
# # iclab quickstart (a notebook in percent format)
#
# Open this file in Jupyter (with `jupytext`), VS Code or Spyder and run it cell by cell, or
# run it as a script: `python docs/examples/quickstart.py`. It takes well under a minute on a
# laptop CPU and writes only under `quickstart_results/`.
#
# It shows the three things a user does with iclab: evaluate a closed-form learning curve,
# run (or resume) a registered paper figure, and read everything stored back as a table.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import iclab
from iclab.theory.asymptotic import e_icl

print("iclab", iclab.__version__)
OUT = Path("quickstart_results")

# %% [markdown]
# ## 1. Theory: the ICL error of linear attention (Lu et al.)
#
# $e^{\mathrm{ICL}}(\tau, \alpha, \kappa, \rho)$ is the asymptotic test error of the optimal
# linear-attention predictor, trained on $n = \tau d^2$ contexts of length $\ell = \alpha d$
# drawn from $k = \kappa d$ tasks, with label noise $\rho$. Ridgeless ($\lambda \to 0$) it
# diverges at $\tau = 1$: the sample-wise double descent. Every function is vectorised.

# %%
tau = np.linspace(0.05, 3, 300)
fig, ax = plt.subplots(figsize=(4.5, 3))
for alpha in (1, 10, 100):
    ax.semilogy(tau, e_icl(tau, alpha=alpha, kappa=0.5, rho=0.01), label=rf"$\alpha={alpha}$")
ax.plot(tau, e_icl(tau, alpha=10, kappa=np.inf, rho=0.01, lam=0.1), "k:",
        label=r"$\alpha=10$, $\kappa=\infty$, $\lambda=0.1$")
ax.set_xlabel(r"$\tau = n/d^2$")
ax.set_ylabel(r"$e^{\mathrm{ICL}}$")
ax.legend(fontsize=8)
plt.show()  # importing iclab did not change the backend: this plot shows in a notebook

# %% [markdown]
# ## 2. Run a paper figure (small settings)
#
# `run_experiment` plans every (point, trial) unit, computes what is not stored yet and
# commits each unit to an SQLite store as it finishes; running the cell again recomputes
# nothing. Here Lu et al. Fig. 1 runs at d = 12 with three trials per point (the quick variant
# uses d = 24): enough to see the peak at τ = 1.

# %%
res = iclab.run_experiment("lu2024.fig1", "quick", overrides={"d": 12, "trials": 3},
                           store=OUT / "iclab.sqlite")
print(f"{res.n_units} units, {res.n_computed} computed in {res.seconds:.1f} s")
res.results.head()

# %% [markdown]
# The experiment draws its own figure (theory dotted, experiment markers). It is a
# `matplotlib.figure.Figure`: a notebook shows it as a cell's value, and
# `iclab.figures.save_figure` writes PNG and PDF.

# %%
from iclab.figures import figure_stem, save_figure  # noqa: E402

fig = res.experiment.plot(res.settings, res.results, res.theory)
paths = save_figure(fig, OUT / "figures", figure_stem(res.experiment, res.settings, "quick"))
print("wrote", *paths)
fig  # noqa: B018  (a notebook shows the figure here)

# %% [markdown]
# ## 3. Everything stored, as one table
#
# `iclab.stored_results` returns every stored row of an experiment, for every settings that
# was run, with the columns named by the papers' symbols plus `variant` and `settings_hash`
# (the same table `iclab export` writes). Use it to make your own plots.

# %%
table = iclab.stored_results("lu2024.fig1", store=OUT / "iclab.sqlite")
print(table.columns.tolist())
curve = table[table.panel == "A"].groupby(["alpha", "tau"]).e_icl.mean().unstack("alpha")
curve  # noqa: B018  mean e^ICL over trials, one column per alpha: the peak near tau = 1

# %% [markdown]
# ## 4. The claims a figure is meant to show
#
# Every figure states claims with thresholds fixed in code; `iclab check` and the report
# evaluate them on the stored rows. At these small settings a claim may say "inconclusive":
# the data are too few to decide, which is the honest answer.

# %%
from iclab.engine.check import claims_of_run  # noqa: E402

for verdict in claims_of_run(res):
    print(f"{verdict.claim:28s} {verdict.verdict:12s} {verdict.statement}")
