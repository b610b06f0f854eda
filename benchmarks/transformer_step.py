"""Training-step speed: a faithful Garg et al. baseline loop vs iclab's trainer, same setup.

Setup (Garg et al. 2022): d = 20, 41 points per prompt (interleaved x/y tokens, 81 tokens),
12 layers, width 256, 8 heads, batch 64, Adam lr 1e-4.

- baseline: Hugging Face ``GPT2Model`` with linear read-in/read-out, fp32, prompts sampled on
  the CPU and moved to the device every step, ``loss.item()`` every step;
- iclab (one model): :class:`EnsembleTransformer` (M = 1), prompts sampled on the device,
  no host sync, fused AdamW on CUDA, optional ``torch.compile``;
- iclab (packed): M models trained at once (``--members``), or one model with an M-times
  larger batch; reported as prompts per second.

Usage::

    python benchmarks/transformer_step.py                 # CUDA if available, else CPU
    python benchmarks/transformer_step.py --small         # a CPU-sized setup (4 layers, 64)
    python benchmarks/transformer_step.py --compile --members 8

Prints ms/step and prompts/s per configuration and the ratio to the baseline. Needs the
``llm`` extra (transformers) for the baseline.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from iclab.fit.transformer_training import TrainSettings, train
from iclab.models.transformer import EnsembleTransformer, TransformerConfig
from iclab.tasks.regression import InContextRegression
from iclab.tasks.tokens import prompt_tokens


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def baseline_ms_per_step(d: int, points: int, layers: int, width: int, heads: int,
                         batch: int, steps: int, device: torch.device) -> float:
    from transformers import GPT2Config, GPT2Model

    cfg = GPT2Config(n_positions=2 * points, n_embd=width, n_layer=layers, n_head=heads,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, use_cache=False)
    backbone = GPT2Model(cfg).to(device)
    read_in, read_out = nn.Linear(d + 1, width).to(device), nn.Linear(width, 1).to(device)
    params = [*backbone.parameters(), *read_in.parameters(), *read_out.parameters()]
    opt = torch.optim.Adam(params, lr=1e-4)
    task = InContextRegression(d=d, context_len=points - 1, rho=0.0, task_norm="gaussian")
    gen = torch.Generator().manual_seed(0)

    def step() -> float:
        prompts = task.sample(batch, gen, kind="pretrain")          # on the CPU
        tokens = prompt_tokens(prompts, "interleaved").float().to(device)
        target = prompts.y_q.float().to(device)
        hidden = backbone(inputs_embeds=read_in(tokens)).last_hidden_state
        loss = ((read_out(hidden[:, -1]).squeeze(-1) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()                                           # host sync every step

    for _ in range(3):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - start) / steps * 1e3


def iclab_ms_per_step(d: int, points: int, layers: int, width: int, heads: int, batch: int,
                      steps: int, members: int, device: torch.device, compile: bool) -> float:
    cfg = TransformerConfig(d=d, n_layers=layers, n_heads=heads, width=width, mlp="gelu",
                            norm="pre", pos_encoding=True, token_format="interleaved",
                            max_tokens=2 * points)
    model = EnsembleTransformer(cfg, members).to(device)
    task = InContextRegression(d=d, context_len=points - 1, rho=0.0, task_norm="gaussian")
    gen = torch.Generator(device=device).manual_seed(0)

    def next_batch(_: int) -> tuple[torch.Tensor, torch.Tensor]:
        p = task.sample(members * batch, gen, kind="pretrain")      # on the device
        tokens = prompt_tokens(p, "interleaved").float()
        return (tokens.view(members, batch, *tokens.shape[1:]),
                p.y_q.float().view(members, batch))

    settings = TrainSettings(steps=steps, batch=batch, lr=1e-4, weight_decay=0.0,
                             log_every=max(1, steps), compile=compile)
    train(model, next_batch, TrainSettings(steps=3, batch=batch, lr=1e-4, compile=compile))
    _sync(device)
    start = time.perf_counter()
    train(model, next_batch, settings)
    _sync(device)
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--members", type=int, default=8, help="models packed at once")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--small", action="store_true", help="4 layers, width 64 (CPU)")
    args = parser.parse_args()
    device = torch.device(args.device)
    layers, width, heads = (4, 64, 4) if args.small else (12, 256, 8)
    d, points, batch = 20, 41, 64
    steps = args.steps or (50 if device.type == "cuda" else 5)
    print(f"device={device} layers={layers} width={width} heads={heads} batch={batch} "
          f"steps={steps} compile={args.compile}")
    base = baseline_ms_per_step(d, points, layers, width, heads, batch, steps, device)
    rows = [("baseline (HF GPT2Model, CPU data, .item())", 1, base)]
    rows.append(("iclab, one model", 1,
                 iclab_ms_per_step(d, points, layers, width, heads, batch, steps, 1, device,
                                   args.compile)))
    rows.append((f"iclab, {args.members} models packed", args.members,
                 iclab_ms_per_step(d, points, layers, width, heads, batch, steps,
                                   args.members, device, args.compile)))
    rows.append((f"iclab, one model, batch {args.members}x{batch}", args.members,
                 iclab_ms_per_step(d, points, layers, width, heads, args.members * batch,
                                   steps, 1, device, args.compile)))
    print(f"{'configuration':45s} {'ms/step':>9s} {'prompts/s':>11s} {'vs baseline':>12s}")
    base_rate = batch / base * 1e3
    for name, members, ms in rows:
        rate = members * batch / ms * 1e3
        print(f"{name:45s} {ms:9.2f} {rate:11.0f} {rate / base_rate:11.2f}x")


if __name__ == "__main__":
    main()
