"""Fusion of the per-modality embeddings into the one embedding the heads and the distillation losses use.

A fusion is built from ``in_dims`` (modality name -> embedding width), exposes ``out_dim`` and maps a dict of
embeddings to a (B, out_dim) tensor, so new fusions (cross-attention, transformers) slot in behind the same
interface and a new modality needs no change here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn


def feature_extractor(in_dim: int, dims: Sequence[int], dropout: float) -> nn.Sequential:
    """The paper's dense feature extractor: per layer Linear -> BatchNorm1d -> SiLU (swish) -> Dropout.

    The linear layers carry no bias because the batch norm right after them has its own shift.
    """
    layers: list[nn.Module] = []
    for dim in dims:
        layers += [nn.Linear(in_dim, dim, bias=False), nn.BatchNorm1d(dim), nn.SiLU(), nn.Dropout(dropout)]
        in_dim = dim
    return nn.Sequential(*layers)


class ConcatFusion(nn.Module):
    """Concatenation of the modality embeddings (in a fixed order), then the dense feature extractor.

    With a single modality this is the same feature extractor on that embedding, which is what makes a
    visual-only student's embedding comparable (same width, same kind of map) to the teacher's fused one.

    Args:
        in_dims: embedding width of each modality; its order is the concatenation order.
        dims: widths of the dense layers (the paper: 1024, 512); empty = the concatenation itself.
        dropout: dropout after each dense layer (the paper: 0.5).

    Note:
        The batch norm needs more than one sample per batch in training mode.
    """

    def __init__(self, in_dims: Mapping[str, int], dims: Sequence[int] = (1024, 512), dropout: float = 0.5):
        super().__init__()
        if not in_dims:
            raise ValueError("ConcatFusion needs at least one modality")
        self.modalities: tuple[str, ...] = tuple(in_dims)
        total = sum(in_dims.values())
        self.mlp = feature_extractor(total, dims, dropout)
        self.out_dim: int = dims[-1] if dims else total

    def forward(self, embeddings: Mapping[str, Tensor]) -> Tensor:
        """Fuse ``embeddings`` (modality name -> (B, D_m)) into (B, out_dim)."""
        missing = [m for m in self.modalities if m not in embeddings]
        if missing:
            raise KeyError(f"fusion over {self.modalities} is missing the embedding of {', '.join(missing)}")
        return self.mlp(torch.cat([embeddings[m] for m in self.modalities], dim=-1))
