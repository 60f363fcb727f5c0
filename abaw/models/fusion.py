"""Fusion of the per-modality embeddings into the one embedding the heads and the distillation losses use.

A fusion is built from ``in_dims`` (modality name -> embedding width), exposes ``out_dim`` and maps a dict of
embeddings to a (B, out_dim) tensor, so new fusions (cross-attention, transformers) slot in behind the same
interface and a new modality needs no change here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
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


def _common_length(sequences: Mapping[str, Tensor], modalities: Sequence[str]) -> list[Tensor]:
    """Every modality's (B, L_m, D) sequence resampled over time to the first modality's length (adaptive
    average pooling, or linear interpolation where a sequence is shorter)."""
    length = sequences[modalities[0]].shape[1]
    out = []
    for m in modalities:
        x = sequences[m]
        if x.shape[1] != length:
            x = F.interpolate(x.transpose(1, 2), size=length, mode="linear", align_corners=False) \
                if x.shape[1] < length else F.adaptive_avg_pool1d(x.transpose(1, 2), length)
            x = x.transpose(1, 2)
        out.append(x)
    return out


class JointCrossAttentionFusion(nn.Module):
    """Joint cross-attention (Praveen et al., CVPRW 2022) over the modalities' sequences, then the dense
    feature extractor.

    Each modality's sequence is projected to ``width`` and resampled to the first modality's length L (the
    visual window). With J the concatenation of all of them (B, L, M*width), for each modality m::

        C_m = tanh(X_m W_jm J^T / sqrt(width))          (B, L, L): joint correlation of m with all modalities
        H_m = ReLU(X_m W_m + C_m X_m W_cm)               attended features
        X_att_m = H_m W_hm + X_m                        residual

    The paper writes W_cm C_m^T with a W_cm of L columns, which ties a model to one sequence length (the public
    code hard-codes it); applying C_m to the modality's own projected features over time keeps the same joint
    correlation and works for any length. Each X_att_m is averaged over time; their concatenation goes through
    the dense layers. Attention runs within a sample only.

    Args:
        in_dims: embedding width of each modality (in fusion order).
        dims: widths of the dense layers after fusion.
        dropout: dropout after each dense layer.
        width: common width of the projected sequences.
    """

    uses_sequences = True

    def __init__(self, in_dims: Mapping[str, int], dims: Sequence[int] = (1024, 512), dropout: float = 0.5,
                 width: int = 128):
        super().__init__()
        if len(in_dims) < 2:
            raise ValueError("joint cross-attention needs at least two modalities")
        self.modalities: tuple[str, ...] = tuple(in_dims)
        self.width = width
        joint = width * len(in_dims)
        self.inputs = nn.ModuleDict({m: nn.Linear(d, width) for m, d in in_dims.items()})
        self.joint = nn.ModuleDict({m: nn.Linear(width, joint, bias=False) for m in in_dims})
        self.own = nn.ModuleDict({m: nn.Linear(width, width, bias=False) for m in in_dims})
        self.cross = nn.ModuleDict({m: nn.Linear(width, width, bias=False) for m in in_dims})
        self.out = nn.ModuleDict({m: nn.Linear(width, width) for m in in_dims})
        self.mlp = feature_extractor(joint, dims, dropout)
        self.out_dim: int = dims[-1] if dims else joint

    def forward(self, sequences: Mapping[str, Tensor]) -> Tensor:
        """``sequences``: modality name -> (B, L_m, D_m) -> (B, out_dim)."""
        xs = [self.inputs[m](x) for m, x in zip(self.modalities, _common_length(sequences, self.modalities))]
        joint = torch.cat(xs, dim=-1)  # (B, L, M*width)
        pooled = []
        for m, x in zip(self.modalities, xs):
            correlation = torch.tanh(self.joint[m](x) @ joint.transpose(1, 2) / self.width**0.5)  # (B, L, L)
            attended = torch.relu(self.own[m](x) + correlation @ self.cross[m](x))
            pooled.append((self.out[m](attended) + x).mean(dim=1))
        return self.mlp(torch.cat(pooled, dim=-1))


class TransformerFusion(nn.Module):
    """A multimodal transformer: every modality's sequence projected to ``width`` tokens, tagged with a learned
    modality embedding and a sinusoidal position, encoded together (batch-first, so attention runs within a
    sample's own tokens, never across the batch), averaged, then the dense feature extractor.

    Args:
        in_dims: embedding width of each modality.
        dims: widths of the dense layers after fusion.
        dropout: dropout after each dense layer and inside the transformer.
        width: token width.
        heads: attention heads.
        layers: encoder layers.
    """

    uses_sequences = True

    def __init__(self, in_dims: Mapping[str, int], dims: Sequence[int] = (1024, 512), dropout: float = 0.5,
                 width: int = 128, heads: int = 4, layers: int = 2):
        super().__init__()
        self.modalities: tuple[str, ...] = tuple(in_dims)
        self.width = width
        self.inputs = nn.ModuleDict({m: nn.Linear(d, width) for m, d in in_dims.items()})
        self.modality = nn.ParameterDict({m: nn.Parameter(torch.zeros(width)) for m in in_dims})
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.mlp = feature_extractor(width, dims, dropout)
        self.out_dim: int = dims[-1] if dims else width

    def positions(self, length: int, device: torch.device) -> Tensor:
        """(length, width) sinusoidal position codes (Vaswani et al.)."""
        position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
        rate = torch.exp(torch.arange(0, self.width, 2, device=device, dtype=torch.float32)
                         * (-torch.log(torch.tensor(10000.0)) / self.width))
        codes = torch.zeros(length, self.width, device=device)
        codes[:, 0::2] = torch.sin(position * rate)
        codes[:, 1::2] = torch.cos(position * rate[: self.width // 2])
        return codes

    def forward(self, sequences: Mapping[str, Tensor]) -> Tensor:
        """``sequences``: modality name -> (B, L_m, D_m) -> (B, out_dim)."""
        tokens = []
        for m in self.modalities:
            x = self.inputs[m](sequences[m])
            tokens.append(x + self.modality[m] + self.positions(x.shape[1], x.device).to(x.dtype))
        encoded = self.encoder(torch.cat(tokens, dim=1))
        return self.mlp(encoded.mean(dim=1))
