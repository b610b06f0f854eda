"""CUDA paths against the CPU reference (run on the GPU machine; skipped where no CUDA).

Run with ``python -m pytest -q tests/gpu`` on a machine with a GPU. Each test computes the
same quantity on the CPU and on CUDA from identical inputs and compares within a stated
tolerance (float64 paths: 1e-8 relative; float32 training: 1e-3 relative after 20 steps,
because fused AdamW and cuBLAS reorder floating-point sums).
"""

from __future__ import annotations

import copy

import pytest
import torch

from iclab.fit.closed_form import fit_gamma
from iclab.fit.transformer_training import TrainSettings, train
from iclab.models.reduced import sample_features
from iclab.models.transformer import EnsembleTransformer, TransformerConfig
from iclab.tasks.regression import InContextRegression
from iclab.tasks.tokens import prompt_tokens

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
CUDA = torch.device("cuda")


@pytest.mark.parametrize("method", ["primal", "dual", "pcg"])
def test_closed_form_fit_on_cuda_equals_cpu(method: str) -> None:
    gen = torch.Generator().manual_seed(0)
    task = InContextRegression(d=12, context_len=24, rho=0.01, k=None)
    x, h, y = sample_features(task.pretraining_tasks(600, None, gen), 24, 0.01, gen)
    cpu = fit_gamma(x, h, y, 1e-4, method=method).gamma
    gpu = fit_gamma(x.to(CUDA), h.to(CUDA), y.to(CUDA), 1e-4, method=method).gamma
    assert torch.allclose(gpu.cpu(), cpu, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("compile", [False, True])
def test_transformer_training_on_cuda_matches_cpu(compile: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    cfg = TransformerConfig(d=5, n_layers=2, n_heads=2, width=32, mlp="gelu", norm="pre",
                            pos_encoding=True, token_format="joint", max_tokens=16)
    model_cpu = EnsembleTransformer(cfg, 3, generator=torch.Generator().manual_seed(1))
    model_gpu = copy.deepcopy(model_cpu).to(CUDA)
    task = InContextRegression(d=5, context_len=10, rho=0.01, k=None, task_norm="gaussian")
    gen = torch.Generator().manual_seed(2)
    batches = []
    for _ in range(20):
        p = task.sample(3 * 16, gen, kind="pretrain")
        tok = prompt_tokens(p, "joint").float()
        batches.append((tok.view(3, 16, *tok.shape[1:]), p.y_q.float().view(3, 16)))
    settings = TrainSettings(steps=20, batch=16, lr=1e-3, log_every=1, compile=compile)
    hist_cpu = train(model_cpu, lambda s: batches[s], settings)
    hist_gpu = train(model_gpu, lambda s: tuple(t.to(CUDA) for t in batches[s]), settings)
    assert torch.allclose(hist_gpu.cpu(), hist_cpu, rtol=1e-3, atol=1e-5)
    for (name, a), b in zip(model_cpu.state_dict().items(), model_gpu.state_dict().values(),
                            strict=True):
        assert torch.allclose(b.cpu(), a, rtol=1e-3, atol=1e-4), name
