"""iclab.theory — closed-form learning curves (pure NumPy/SciPy, vectorised).

Lu et al. 2024 (asymptotic theory of ICL by linear attention), see ``docs/theory.md``:

- :func:`mp_transform`, :func:`mp_transform_derivative` — Marchenko–Pastur transform M_κ(q).
- :func:`e_icl`, :func:`e_idg`, :func:`g_task`, :func:`e_kappa_inf` — asymptotic errors.
- :func:`e_bayes_ridge` — Bayes-optimal ridge baseline; :func:`optimal_lambda_kappa_inf`.
- :func:`interior_minimum_alpha`, :func:`refine_minimum_alpha`, :func:`error_grid` —
  the Figure 3 landscape of where e(α) is non-monotone.
"""

from iclab.theory.asymptotic import (
    e_bayes_ridge,
    e_icl,
    e_idg,
    e_kappa_inf,
    g_task,
    optimal_lambda_kappa_inf,
    solve_ridge_epsilon,
)
from iclab.theory.landscape import error_grid, interior_minimum_alpha, refine_minimum_alpha
from iclab.theory.mp import mp_transform, mp_transform_derivative

__all__ = [
    "e_bayes_ridge",
    "e_icl",
    "e_idg",
    "e_kappa_inf",
    "error_grid",
    "g_task",
    "interior_minimum_alpha",
    "mp_transform",
    "mp_transform_derivative",
    "optimal_lambda_kappa_inf",
    "refine_minimum_alpha",
    "solve_ridge_epsilon",
]
