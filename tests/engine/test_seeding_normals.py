"""``iclab.seeding.standard_normal``: float64 normals drawn via float32 on the CPU."""

import torch
from scipy import stats

from iclab.seeding import standard_normal


def test_standard_normal_is_float64_reproducible_and_standard() -> None:
    gen = torch.Generator().manual_seed(3)
    z = standard_normal((200_000,), gen, torch.device("cpu"), torch.float64)
    again = standard_normal((200_000,), torch.Generator().manual_seed(3), torch.device("cpu"),
                            torch.float64)
    assert z.dtype == torch.float64 and torch.equal(z, again)
    # moments within 5 standard errors (SE of the mean 1/sqrt(N), of the variance sqrt(2/N))
    n = z.numel()
    assert abs(float(z.mean())) < 5 / n**0.5
    assert abs(float(z.var()) - 1.0) < 5 * (2 / n) ** 0.5
    # Kolmogorov-Smirnov against N(0, 1) at the 0.1 % level
    assert stats.kstest(z.numpy(), "norm").pvalue > 1e-3


def test_standard_normal_keeps_float32() -> None:
    z = standard_normal((4, 3), torch.Generator().manual_seed(0), torch.device("cpu"),
                        torch.float32)
    assert z.dtype == torch.float32 and z.shape == (4, 3)
