"""Task heads on the shared embedding: valence/arousal, the 8 expressions, the 12 action units."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from abaw.tasks import AU_NAMES, EXPR_CLASSES, VA_COLUMNS


class MultitaskHeads(nn.Module):
    """One linear head per task (ABAW 2022 paper: VA = tanh(2), EXPR = 8 logits, AU = 12 logits).

    Args:
        in_dim: width of the shared embedding.
    """

    def __init__(self, in_dim: int):
        super().__init__()
        self.va = nn.Linear(in_dim, len(VA_COLUMNS))
        self.expr = nn.Linear(in_dim, len(EXPR_CLASSES))
        self.au = nn.Linear(in_dim, len(AU_NAMES))

    def forward(self, embedding: Tensor) -> dict[str, Tensor]:
        """Predictions for a batch of embeddings.

        Args:
            embedding: (B, in_dim).

        Returns:
            ``va`` (B, 2) in (-1, 1), ``expr`` (B, 8) logits, ``au`` (B, 12) logits.
        """
        return {
            # tanh in float32: a half-precision tanh rounds moderate inputs to exactly +-1.
            "va": torch.tanh(self.va(embedding).float()),
            "expr": self.expr(embedding),
            "au": self.au(embedding),
        }
