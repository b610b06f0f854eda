r"""Token builders: the token sequences models read, built from prompts.

The one home of token building, below models, fit and evaluate (all three use it). Every
format starts from the per-example token of :meth:`iclab.tasks.prompts.Prompts.tokens`,

.. math::
    z_i = [x_i;\ y_i] \ (i \le n), \qquad z_{n+1} = [x_q;\ 0] ,

stacked into ``[B, n+1, d+1]`` (the "joint" format); the builders below arrange that stack
for a model: the interleaved format of a transformer (:func:`prompt_tokens`), one batch
split among ensemble members (:func:`per_member_tokens`), or the same batch for every member
with per-member context lengths (:func:`shared_member_tokens`, :func:`context_keep_mask`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

from iclab.errors import ParameterError
from iclab.tasks.prompts import Prompts
from iclab.validation import check_int

#: How a transformer reads a prompt: one token per example ("joint", ``[x; y]``) or two
#: ("interleaved", ``[x; 0]`` then ``[0; y]``).
TokenFormat = Literal["joint", "interleaved"]


def prompt_tokens(prompts: Prompts, token_format: TokenFormat) -> torch.Tensor:
    """Token sequence of a batch of prompts: ``[B, n+1, d+1]`` (joint) or ``[B, 2n+1, d+1]``."""
    if token_format == "joint":
        return prompts.tokens()
    B, n, d = prompts.X.shape
    x_tok = F.pad(prompts.X, (0, 1))                                  # [B, n, d+1]
    y_tok = F.pad(prompts.y.unsqueeze(-1), (d, 0))                    # [B, n, d+1]
    pairs = torch.stack([x_tok, y_tok], dim=2).reshape(B, 2 * n, d + 1)
    return torch.cat([pairs, F.pad(prompts.x_q, (0, 1)).unsqueeze(1)], dim=1)


def per_member_tokens(prompts: Prompts, members: int) -> torch.Tensor:
    """Tokens ``[M, B, n+1, d+1]`` of one draw of ``M * B`` prompts split among ``M`` members.

    Member ``m`` gets prompts ``m B .. (m+1) B - 1`` (its own fresh batch): the stack
    ``[M B, n+1, d+1]`` is viewed as ``[M, B, n+1, d+1]`` without copying.
    Raises :class:`~iclab.errors.ParameterError` if ``members`` does not divide the batch.
    """
    members = check_int("members", members)
    if prompts.batch % members:
        raise ParameterError("members", members, f"a divisor of the batch {prompts.batch}")
    tok = prompts.tokens()
    return tok.view(members, tok.shape[0] // members, *tok.shape[1:])


def context_keep_mask(ns: Sequence[int], dtype: torch.dtype = torch.float32,
                      device: torch.device | str = "cpu", n_max: int | None = None) -> torch.Tensor:
    """``[M, 1, n_max+1, 1]`` 0/1 mask keeping each member's last ``n_m`` examples and the query.

    Members with different context lengths share one ensemble: the first ``n_max - n_m``
    context tokens are zeroed. A zero token contributes nothing to linear attention (its value
    is 0) nor to H3 (its ``k * v`` is 0), so member ``m`` sees exactly an ``n_m``-example
    prompt (for i.i.d. examples; for a stationary drift the kept examples are the ``n_m``
    closest to the query).
    """
    n_max = max(ns) if n_max is None else n_max
    pos = torch.arange(n_max + 1, device=device)
    start = n_max - torch.as_tensor(list(ns), device=device)
    keep = pos[None, :] >= start[:, None]
    return keep.to(dtype)[:, None, :, None]


def shared_member_tokens(prompts: Prompts, members: int,
                  context: Sequence[int] | None = None) -> torch.Tensor:
    """The same prompts for every member, ``[M, B, n+1, d+1]``, with member ``m`` reading only
    the last ``context[m]`` examples (all of them when ``context`` is ``None``)."""
    tok = prompts.tokens()
    tokens = tok.unsqueeze(0).expand(members, *tok.shape)
    if context is None:
        return tokens
    return tokens * context_keep_mask(context, tok.dtype, tok.device, prompts.n)
