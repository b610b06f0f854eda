"""Mixed-precision PCG (float32 sweeps, float64 residuals) for the Γ* ridge problem."""

from __future__ import annotations

import pytest
import torch

from iclab.errors import ParameterError
from iclab.fit import gamma_trials, ridge_pcg
from iclab.fit.closed_form import ridge_scale
from iclab.fit.ridge_pcg import solve_pcg_batched


def _batch(d: int, tau: float, lam: float) -> tuple[torch.Tensor, ...]:
    draws = [gamma_trials.draw_sample(d, 4.0, 1.0, tau, 0.01, torch.Generator().manual_seed(s),
                                      "sphere", True) for s in range(3)]
    x, h, y = (torch.stack([dr[2][j] for dr in draws]) for j in range(3))
    return x, h, y, torch.tensor(ridge_scale(x.shape[1], d, lam))


@pytest.mark.parametrize("tau, lam", [(10.0, 1e-6), (1.0, 1.0)])
def test_mixed_and_double_agree(tau: float, lam: float) -> None:
    """Both precisions meet the tolerance on the exact float64 residual and agree to 1e-7
    relative (d = 12; n = 10p ridgeless, and n ≈ p with a ridge)."""
    x, h, y, lam_s = _batch(12, tau, lam)
    mixed, _, res_m = solve_pcg_batched(x, h, y, float(lam_s), precision="mixed")
    double, _, res_d = solve_pcg_batched(x, h, y, float(lam_s), precision="double")
    assert float(res_m.max()) <= ridge_pcg.DEFAULT_TOL
    assert float(res_d.max()) <= ridge_pcg.DEFAULT_TOL
    assert float((mixed - double).norm() / double.norm()) < 1e-7


def test_mixed_switches_to_double_when_float32_stalls(monkeypatch: pytest.MonkeyPatch) -> None:
    """A float32 operator with a 30 % relative error cannot reduce the residual tenfold per
    sweep; the solve detects the stall, finishes with the float64 operator and still meets
    the tolerance."""
    original = ridge_pcg._apply_gram
    original_build = ridge_pcg._Whitened.build
    built: list[torch.dtype] = []

    def noisy(xt: torch.Tensor, ht: torch.Tensor, h: torch.Tensor, g: torch.Tensor,
              block: int = ridge_pcg._NORMAL_BLOCK) -> torch.Tensor:
        out = original(xt, ht, h, g, block)
        if out.dtype == torch.float32:
            out = out * (1 + 0.3 * torch.randn_like(out))
        return out

    def recording_build(x: torch.Tensor, h: torch.Tensor, lam_scaled: float,
                        dtype: torch.dtype) -> ridge_pcg._Whitened:
        built.append(dtype)
        return original_build(x, h, lam_scaled, dtype)

    monkeypatch.setattr(ridge_pcg, "_apply_gram", noisy)
    monkeypatch.setattr(ridge_pcg._Whitened, "build", staticmethod(recording_build))
    x, h, y, lam_s = _batch(8, 10.0, 1e-6)
    gamma, _, res = solve_pcg_batched(x, h, y, float(lam_s), precision="mixed")
    assert built == [torch.float32, torch.float64]  # started in float32, switched to float64
    ref, _, _ = solve_pcg_batched(x, h, y, float(lam_s), precision="double")
    assert float(res.max()) <= ridge_pcg.DEFAULT_TOL
    assert float((gamma - ref).norm() / ref.norm()) < 1e-7


def test_unknown_precision_is_refused() -> None:
    x, h, y, lam_s = _batch(4, 10.0, 1e-6)
    with pytest.raises(ParameterError, match="precision"):
        solve_pcg_batched(x, h, y, float(lam_s), precision="half")  # type: ignore[arg-type]


def test_exact_residual_matches_the_dense_normal_equations() -> None:
    """The float64 residual read from the data in row layout (blocks of contexts) equals
    B - (G + λ'I) vec Γ with G = Φᵀ Φ formed from the explicit features Φ_μ = x_μ ⊗ h_μ,
    to 1e-12 relative (n = 3000 spans several blocks)."""
    g = torch.Generator().manual_seed(5)
    batch, n, d, lam_s = 3, 3000, 4, 0.7
    x = torch.randn(batch, n, d, generator=g, dtype=torch.float64)
    h = torch.randn(batch, n, d + 1, generator=g, dtype=torch.float64)
    b = torch.randn(batch, d, d + 1, generator=g, dtype=torch.float64)
    gamma = torch.randn(batch, d, d + 1, generator=g, dtype=torch.float64)
    got = ridge_pcg._residual(x, h, b, gamma, lam_s)
    for i in range(batch):
        phi = (x[i].unsqueeze(-1) * h[i].unsqueeze(-2)).reshape(n, -1)  # row-major x ⊗ h
        vec = gamma[i].reshape(-1)
        dense = b[i].reshape(-1) - phi.T @ (phi @ vec) - lam_s * vec
        assert float((got[i].reshape(-1) - dense).norm() / dense.norm()) < 1e-12
