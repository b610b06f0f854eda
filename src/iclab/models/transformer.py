"""GPT-2-style transformers for in-context regression, as an *ensemble* of M independent models.

Every parameter carries a leading ensemble axis ``M`` (seeds × hyper-parameters of one
architecture), and the forward pass folds ``M`` into the batch of one
``scaled_dot_product_attention`` call, so M models train as one tensor program (no Python
loop, no per-model kernel launches). ``M = 1`` is an ordinary single model.

Architecture (:class:`TransformerConfig`):

- prompt → tokens: ``"joint"`` — one token per example, ``[x_i; y_i]`` with ``y = 0`` at the
  query (``[B, n+1, d+1]``); ``"interleaved"`` — ``[x_1; 0], [0; y_1], …, [x_q; 0]``
  (``[B, 2n+1, d+1]``); the prediction is read from the last (query) token;
- linear embedding to ``width``; optional learned positional embedding;
- ``n_layers`` blocks of multi-head attention (``"softmax"`` with a causal mask, or
  ``"linear"``: :math:`(QK^\\top/\\sqrt{h})V` with no softmax) and an optional MLP
  (``"gelu"``: width → 4·width → width with GELU; ``"linear"``: a single width×width dense
  layer, the authors' ``n_mlp_layers=1``; ``"none"``), with residual connections and
  LayerNorm before (``"pre"``, GPT-2) or after (``"post"``, the authors' Flax code) each
  sub-layer, or none;
- a linear read-out of the query token to a scalar.

The three architectures of Lu et al. 2024 (Figs. 5–6) are :func:`lu_linear_attention`,
:func:`lu_softmax_block` and :func:`lu_two_softmax_mlp`. Choices where the paper is silent or
where we differ (documented in ``docs/transformers.md``): the linear-attention model embeds
the raw tokens before Q/K/V (the same function class as Q/K/V on raw tokens when
``width ≥ d``); it has no residual and no LayerNorm, as in the authors' code.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from iclab.errors import ParameterError
from iclab.tasks.prompts import Prompts
from iclab.tasks.tokens import TokenFormat, prompt_tokens
from iclab.validation import check_choice, check_int


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters shared by every member of an ensemble.

    Attributes:
        d: input dimension of x (tokens have d+1 entries).
        n_layers, n_heads, width: depth, heads per layer, residual width (``width`` must be a
            multiple of ``n_heads``).
        attention: ``"softmax"`` (causal) or ``"linear"`` (no softmax, no mask).
        mlp: ``"gelu"``, ``"linear"`` or ``"none"``.
        norm: ``"pre"``, ``"post"`` or ``"none"``.
        residual: residual connections around each sub-layer.
        pos_encoding: learned absolute positional embedding.
        token_format: ``"joint"`` or ``"interleaved"``.
        max_tokens: longest token sequence (for the positional table).
    """

    d: int
    n_layers: int = 2
    n_heads: int = 1
    width: int = 32
    attention: Literal["softmax", "linear"] = "softmax"
    mlp: Literal["gelu", "linear", "none"] = "gelu"
    norm: Literal["pre", "post", "none"] = "pre"
    residual: bool = True
    pos_encoding: bool = False
    token_format: TokenFormat = "joint"
    max_tokens: int = 1024

    def __post_init__(self) -> None:
        check_int("d", self.d)
        check_int("n_layers", self.n_layers)
        check_int("n_heads", self.n_heads)
        check_int("width", self.width)
        if self.width % self.n_heads:
            from iclab.errors import ParameterError

            raise ParameterError("width", self.width,
                                 f"a multiple of n_heads={self.n_heads}")
        check_choice("attention", self.attention, ["softmax", "linear"])
        check_choice("mlp", self.mlp, ["gelu", "linear", "none"])
        check_choice("norm", self.norm, ["pre", "post", "none"])
        check_choice("token_format", self.token_format, ["joint", "interleaved"])


def lu_linear_attention(d: int) -> TransformerConfig:
    """Lu et al. ``model_type=1``: one linear-attention layer, no residual/norm/MLP/positions."""
    return TransformerConfig(d=d, n_layers=1, n_heads=1, width=d + 1, attention="linear",
                             mlp="none", norm="none", residual=False)


def lu_softmax_block(d: int) -> TransformerConfig:
    """Lu et al. ``model_type=2``: one softmax block without MLP, post-LayerNorm, no positions."""
    return TransformerConfig(d=d, n_layers=1, n_heads=1, width=d, attention="softmax",
                             mlp="none", norm="post")


def lu_two_softmax_mlp(d: int) -> TransformerConfig:
    """Lu et al. ``model_type=3``: two softmax blocks, each with the authors' one-dense-layer
    "MLP" (no activation), post-LayerNorm, no positions."""
    return TransformerConfig(d=d, n_layers=2, n_heads=1, width=d, attention="softmax",
                             mlp="linear", norm="post")


class EnsembleLinear(nn.Module):
    """M independent affine maps: ``x [M, ..., fin] → x W_m + b_m``, ``W [M, fin, fout]``.

    Initialised like ``nn.Linear`` (uniform ±1/√fin), independently per member.
    """

    def __init__(self, members: int, fin: int, fout: int, bias: bool = True) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(fin)
        self.weight = nn.Parameter(torch.empty(members, fin, fout).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, fout).uniform_(-bound, bound)) \
            if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, fin = x.shape[0], x.shape[-1]
        flat = x.reshape(m, -1, fin)
        out = (torch.baddbmm(self.bias.unsqueeze(1), flat, self.weight) if self.bias is not None
               else torch.bmm(flat, self.weight))
        return out.reshape(*x.shape[:-1], self.weight.shape[-1])


class EnsembleLayerNorm(nn.Module):
    """LayerNorm over the last axis with a per-member affine ``[M, width]``."""

    def __init__(self, members: int, width: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(members, width))
        self.shift = nn.Parameter(torch.zeros(members, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        view = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        y = F.layer_norm(x, x.shape[-1:])
        return y * self.gain.view(view) + self.shift.view(view)


class _Block(nn.Module):
    def __init__(self, cfg: TransformerConfig, members: int) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.qkv = EnsembleLinear(members, w, 3 * w, bias=cfg.attention == "linear")
        self.proj = EnsembleLinear(members, w, w)
        self.norm1 = EnsembleLayerNorm(members, w) if cfg.norm != "none" else None
        self.norm2 = EnsembleLayerNorm(members, w) if cfg.norm != "none" and cfg.mlp != "none" \
            else None
        if cfg.mlp == "gelu":
            self.mlp = nn.ModuleList([EnsembleLinear(members, w, 4 * w),
                                      EnsembleLinear(members, 4 * w, w)])
        elif cfg.mlp == "linear":
            self.mlp = nn.ModuleList([EnsembleLinear(members, w, w)])
        else:
            self.mlp = None

    def attend(self, h: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """Multi-head attention on ``h [M, B, L, W]`` with M folded into the batch.

        ``last_only``: compute the output of the last (query) position only, ``[M, B, 1, W]``
        (the last query attends to every key, so the causal mask drops out). This is exactly
        the last row of the full output, at a fraction of the cost.
        """
        M, B, L, W = h.shape
        H = self.cfg.n_heads
        q, k, v = (self.qkv(h).view(M * B, L, 3, H, W // H).permute(2, 0, 3, 1, 4))
        if last_only:
            q = q[:, :, -1:]
        if self.cfg.attention == "softmax":
            out = F.scaled_dot_product_attention(q, k, v, is_causal=not last_only)
        elif last_only:
            out = q @ (k.transpose(-1, -2) @ v) / math.sqrt(W // H)
        else:
            out = (q @ k.transpose(-1, -2)) @ v / math.sqrt(W // H)
        return self.proj(out.transpose(1, 2).reshape(M, B, q.shape[2], W))

    def feed_forward(self, h: torch.Tensor) -> torch.Tensor:
        assert self.mlp is not None
        if len(self.mlp) == 1:
            return self.mlp[0](h)
        return self.mlp[1](F.gelu(self.mlp[0](h)))

    def forward(self, h: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """``h [M, B, L, W] → [M, B, L, W]``, or ``[M, B, 1, W]`` (the last position) when
        ``last_only``."""
        cfg = self.cfg
        sublayers = [(lambda x: self.attend(x, last_only), self.norm1)]
        if self.mlp is not None:
            sublayers.append((self.feed_forward, self.norm2))
        for i, (fn, norm) in enumerate(sublayers):
            if i == 0 and last_only:
                # the residual stream keeps only the last position from here on
                out = fn(norm(h) if cfg.norm == "pre" and norm is not None else h)
                h = h[:, :, -1:] + out if cfg.residual else out
                if cfg.norm == "post" and norm is not None:
                    h = norm(h)
                continue
            if cfg.norm == "pre" and norm is not None:
                out = fn(norm(h))
                h = h + out if cfg.residual else out
            else:
                out = fn(h)
                h = h + out if cfg.residual else out
                if cfg.norm == "post" and norm is not None:
                    h = norm(h)
        return h


class EnsembleTransformer(nn.Module):
    """M independent transformers of one :class:`TransformerConfig`.

    ``forward(tokens [M, B, L, d+1]) → predictions [M, B]`` (read from the last token);
    ``predict(prompts)`` evaluates every member on the same prompts and returns ``[M, B]``,
    so a trained ensemble is a :class:`~iclab.models.base.Predictor`.
    """

    def __init__(self, cfg: TransformerConfig, members: int = 1,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self._members = check_int("members", members)
        w = cfg.width
        with _seeded(generator):
            self.embed = EnsembleLinear(members, cfg.d + 1, w)
            self.pos = (nn.Parameter(0.02 * torch.randn(members, cfg.max_tokens, w))
                        if cfg.pos_encoding else None)
            self.blocks = nn.ModuleList([_Block(cfg, members) for _ in range(cfg.n_layers)])
            self.final_norm = EnsembleLayerNorm(members, w) if cfg.norm == "pre" else None
            self.readout = EnsembleLinear(members, w, 1)

    @property
    def members(self) -> int:
        """Number of independent models ``M`` (the leading axis of every parameter)."""
        return self._members

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens)
        if self.pos is not None:
            h = h + self.pos[:, None, : tokens.shape[-2]]
        for i, block in enumerate(self.blocks):
            h = block(h, last_only=i == len(self.blocks) - 1)
        last = h[:, :, -1]
        if self.final_norm is not None:
            last = self.final_norm(last)
        return self.readout(last).squeeze(-1)

    def predict(self, prompts: Prompts) -> torch.Tensor:
        """Predictions ``[M, B]`` of every member on one batch of prompts."""
        tokens = prompt_tokens(prompts, self.cfg.token_format)
        return self(tokens.unsqueeze(0).expand(self.members, *tokens.shape))

    def predict_each(self, prompts: Sequence[Prompts]) -> torch.Tensor:
        """Predictions ``[M, B]`` where member ``m`` sees its own batch ``prompts[m]``.

        The batches must have equal shapes; one forward pass serves every member (against
        ``M`` passes of :meth:`predict`, each evaluating all members on one batch).
        Raises :class:`~iclab.errors.ParameterError` unless there is one batch per member.
        """
        if len(prompts) != self.members:
            raise ParameterError("prompts", f"{len(prompts)} batches",
                                 f"one batch per member ({self.members})")
        return self(torch.stack([prompt_tokens(p, self.cfg.token_format) for p in prompts]))

    def select(self, index: list[int]) -> EnsembleTransformer:
        """A new ensemble whose member ``i`` is a copy of member ``index[i]`` of this one
        (same configuration, device and dtype; the global RNG is not touched)."""
        if not index or any(not 0 <= i < self.members for i in index):
            raise ValueError(f"index must list members in [0, {self.members}), got {index}")
        picked = copy.deepcopy(self)
        rows = torch.tensor(index, device=next(self.parameters()).device)
        with torch.no_grad():
            for p in picked.parameters():
                p.data = p.data.index_select(0, rows)
        picked._members = len(index)
        return picked

    def member_parameters(self, m: int) -> dict[str, torch.Tensor]:
        """The parameters of member ``m`` (views without the ensemble axis)."""
        return {name: p[m] for name, p in self.named_parameters()}


class _seeded:
    """Initialise parameters from ``generator`` (via a forked global RNG) when given."""

    def __init__(self, generator: torch.Generator | None) -> None:
        self.generator = generator
        self._fork: object | None = None

    def __enter__(self) -> None:
        if self.generator is None:
            return
        seed = int(torch.randint(2**62, (1,), generator=self.generator,
                                 device=self.generator.device).item())
        self._fork = torch.random.fork_rng(devices=[])
        self._fork.__enter__()  # type: ignore[attr-defined]
        torch.manual_seed(seed)

    def __exit__(self, *exc: object) -> None:
        if self._fork is not None:
            self._fork.__exit__(*exc)  # type: ignore[attr-defined]
