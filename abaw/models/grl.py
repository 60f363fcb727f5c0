"""The gradient-reversal layer and the task discriminator behind it (ABAW 2022 multitask-KD paper, Fig. 1).

The discriminator learns which task set a batch came from; the reversed gradient pushes the shared embedding
the other way, towards features that do not tell the task sets apart. The reversal touches the GRADIENT only:
the forward pass is the identity (the paper's public code also scaled the forward pass, which docs/methods.md lists
as a fault).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, coefficient: float) -> Tensor:
        ctx.coefficient = coefficient
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.coefficient * grad, None


def reverse_gradient(x: Tensor, coefficient: float = 1.0) -> Tensor:
    """Identity forward; backward, the incoming gradient times ``-coefficient`` (lambda, the paper's delta)."""
    return _GradientReversal.apply(x, float(coefficient))


class TaskDiscriminator(nn.Module):
    """Gradient reversal -> MLP (the paper: 64 -> 32) -> one logit per task set.

    Args:
        in_dim: width of the shared embedding.
        task_sets: number of task sets it tells apart (VA, EXPR, AU and MTL: 4).
        hidden: widths of the hidden layers.
    """

    def __init__(self, in_dim: int, task_sets: int, hidden: Sequence[int] = (64, 32)):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for out in hidden:
            layers += [nn.Linear(width, out), nn.ReLU(inplace=True)]
            width = out
        layers.append(nn.Linear(width, task_sets))
        self.net = nn.Sequential(*layers)

    def forward(self, embedding: Tensor, coefficient: float = 1.0) -> Tensor:
        """(B, in_dim) -> (B, task_sets) logits; the embedding's gradient from them is reversed and scaled."""
        return self.net(reverse_gradient(embedding, coefficient))
