r"""Token builders: the token sequences models read, built from prompts.

One function per token format, each with a distinct name. Every format starts from the
per-example token of :meth:`iclab.tasks.prompts.Prompts.tokens`,

.. math::
    z_i = [x_i;\ y_i] \ (i \le n), \qquad z_{n+1} = [x_q;\ 0] ,

stacked into ``[B, n+1, d+1]``; the builders below only arrange that stack for a model.
"""

from __future__ import annotations

import torch

from iclab.errors import ParameterError
from iclab.tasks.prompts import Prompts
from iclab.validation import check_int


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
