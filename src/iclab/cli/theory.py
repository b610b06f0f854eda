"""``iclab theory``: closed-form learning curves of linear attention at one point."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from iclab._cli_errors import dumps as _strict_json
from iclab._cli_errors import one_line_errors as _one_line_errors
from iclab.cli.common import parse_value
from iclab.cli.root import console, theory_app
from iclab.errors import ParameterError


def _theory_value(metric: str, tau: float, alpha: float, kappa: str, rho: float, lam: float,
                  as_json: bool) -> None:
    from iclab.theory import asymptotic

    kappa_value = parse_value(kappa)
    if not isinstance(kappa_value, int | float) or isinstance(kappa_value, bool):
        raise ParameterError("kappa", kappa, "a number > 0 or inf")
    fn = asymptotic.e_icl if metric == "e_icl" else asymptotic.e_idg
    value = float(fn(tau, alpha, float(kappa_value), rho, lam=lam))
    params = {"tau": tau, "alpha": alpha, "kappa": float(kappa_value), "rho": rho, "lam": lam}
    if as_json:
        typer.echo(_strict_json({**{k: (str(v) if math.isinf(v) else v) for k, v in params.items()},
                               metric: value}))
    else:
        console.print(f"{metric} = {value:.10g}")


TauOpt = Annotated[float, typer.Option(help="tau = n/d^2 (pretraining contexts / d^2).")]
AlphaOpt = Annotated[float, typer.Option(help="alpha = l/d (context length / d).")]
KappaOpt = Annotated[str, typer.Option(help="kappa = k/d (task diversity); 'inf' allowed.")]
RhoOpt = Annotated[float, typer.Option(help="rho: label-noise variance (>= 0).")]
LamOpt = Annotated[float, typer.Option(help="lambda: ridge strength (0 = ridgeless).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@theory_app.command("e-icl")
@_one_line_errors
def theory_e_icl(tau: TauOpt, alpha: AlphaOpt, kappa: KappaOpt, rho: RhoOpt, lam: LamOpt = 0.0,
                 as_json: JsonOpt = False) -> None:
    """Asymptotic ICL error of linear attention (Lu et al.).

    Example: ``iclab theory e-icl --tau 2 --alpha 10 --kappa 0.5 --rho 0.01 --json``
    """
    _theory_value("e_icl", tau, alpha, kappa, rho, lam, as_json)


@theory_app.command("e-idg")
@_one_line_errors
def theory_e_idg(tau: TauOpt, alpha: AlphaOpt, kappa: KappaOpt, rho: RhoOpt, lam: LamOpt = 0.0,
                 as_json: JsonOpt = False) -> None:
    """Asymptotic in-distribution (IDG) error of linear attention, ridgeless (Lu et al.).

    Example: ``iclab theory e-idg --tau 0.5 --alpha 1 --kappa 0.5 --rho 0.01``
    """
    _theory_value("e_idg", tau, alpha, kappa, rho, lam, as_json)
