"""L-BFGS per member, batched (``iclab.fit.batched_lbfgs``): each member's run is its own (the
same as training it alone), the criterion is met or flagged, and on a problem where the
members need very different curvature it does better than one L-BFGS on the summed loss."""

from __future__ import annotations

import pytest
import torch

from iclab.errors import ParameterError
from iclab.fit.batched_lbfgs import train_lbfgs_independent
from iclab.fit.transformer_lbfgs import train_lbfgs
from iclab.fit.transformer_study import as_float32
from iclab.fit.transformer_training import FixedDataset
from iclab.models.transformer import EnsembleTransformer, lu_linear_attention, lu_softmax_block
from iclab.tasks.regression import InContextRegression


def _sets(d: int, sizes: list[int], seed: int) -> list:
    task = InContextRegression(d=d, context_len=d, rho=0.01, k=None, task_norm="gaussian")
    gen = torch.Generator().manual_seed(seed)
    return [task.sample(n, gen, kind="pretrain") for n in sizes]


def test_each_member_trains_as_if_alone() -> None:
    """Three members with different set sizes (the smallest interpolates first, so they stop
    at different iterations and the ensemble is compacted on the way) end where each ends
    when trained as a one-member ensemble from the same start: nothing is shared. float64;
    tolerance 1e-7 on the parameters after 25 iterations: rounding differs between batch
    shapes (1e-16) and grows over the iterations of this non-convex fit (measured: 3e-10 at
    25 iterations, 2e-7 at 40, 6e-4 at 60), so a longer run could not be compared."""
    cfg = lu_softmax_block(3)
    sets = _sets(3, [3, 30, 60], seed=0)
    model = EnsembleTransformer(cfg, 3, generator=torch.Generator().manual_seed(1)).double()
    start = [p.detach().clone() for p in model.parameters()]
    report = train_lbfgs_independent(model, FixedDataset(sets), max_iter=25, loss_tol=1e-4,
                                     grad_tol=1e-6)
    assert len(set(report.steps.tolist())) > 1, report  # members stopped at different steps
    for m in range(3):
        solo = model.select([m])
        with torch.no_grad():
            for p, p0 in zip(solo.parameters(), start, strict=True):
                p.copy_(p0[m : m + 1])
        solo_report = train_lbfgs_independent(solo, FixedDataset([sets[m]]), max_iter=25,
                                              loss_tol=1e-4, grad_tol=1e-6)
        assert int(solo_report.steps[0]) == int(report.steps[m])
        for p, q in zip(model.parameters(), solo.parameters(), strict=True):
            torch.testing.assert_close(p[m], q[0], rtol=0, atol=1e-7)
        assert float(solo_report.train_loss[0]) == pytest.approx(float(report.train_loss[m]),
                                                                 rel=1e-6, abs=1e-12)


def test_interpolates_below_the_threshold_and_flags_the_rest() -> None:
    """n = 10 contexts (far fewer than the parameters): the training MSE reaches the
    criterion; n = 400 cannot be interpolated: that member stops at a stationary point or is
    flagged. The reported losses are the members' full-batch losses at the returned
    parameters."""
    sets = _sets(3, [10, 400], seed=2)
    model = EnsembleTransformer(lu_linear_attention(3), 2,
                                generator=torch.Generator().manual_seed(1)).double()
    data = FixedDataset(sets)
    report = train_lbfgs_independent(model, data, max_iter=300, loss_tol=1e-6, grad_tol=1e-5)
    assert float(report.train_loss[0]) <= 1e-6 and bool(report.converged[0])
    assert int(report.steps[0]) < 300
    assert float(report.train_loss[1]) > 1e-3
    assert bool(report.converged[1]) == (float(report.grad_norm[1]) <= 1e-5)
    torch.testing.assert_close(report.train_loss, data.full_loss(model).detach(), rtol=1e-6,
                               atol=1e-9)


def test_reaches_the_criterion_where_the_summed_loss_run_does_not() -> None:
    """Near the interpolation threshold (n = 1.0-1.5 d^2 at d = 6, linear attention) the
    members need different step lengths and curvature: in the same 300 iterations from the
    same start, per-member L-BFGS meets the criterion (loss <= 1e-4 or gradient <= 2e-3) for
    more members and ends with a lower summed training loss than one L-BFGS on the sum."""
    d = 6
    sets = _sets(d, [round(t * d * d) for t in (0.5, 0.75, 1.0, 1.25, 1.5) for _ in range(2)],
                 seed=3)
    runs = {}
    for name, trainer in (("independent", train_lbfgs_independent), ("coupled", train_lbfgs)):
        model = EnsembleTransformer(lu_linear_attention(d), len(sets),
                                    generator=torch.Generator().manual_seed(4))
        runs[name] = trainer(model, FixedDataset([as_float32(p) for p in sets]),
                             max_iter=300, loss_tol=1e-4, grad_tol=2e-3)
    ind, cpl = runs["independent"], runs["coupled"]
    assert int(ind.converged.sum()) > int(cpl.converged.sum()), (ind, cpl)
    assert float(ind.train_loss.sum()) < float(cpl.train_loss.sum()), (ind, cpl)


def test_bad_arguments_name_the_parameter() -> None:
    model = EnsembleTransformer(lu_linear_attention(2), 1)
    data = FixedDataset(_sets(2, [5], seed=0))
    with pytest.raises(ParameterError, match="max_iter"):
        train_lbfgs_independent(model, data, max_iter=0)
    with pytest.raises(ParameterError, match="grad_tol"):
        train_lbfgs_independent(model, data, grad_tol=-1.0)
