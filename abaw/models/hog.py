"""``face_hog``: a fixed, parameter-free face descriptor registered as a timm model, for CPU-scale visual paths.

Histograms of oriented gradients of an aligned face (HOG; the descriptor that OpenFace's AU models read with
linear regressors) describe the shape of brows, lids and lips by their edges, and divide each cell by the
gradient energy around it, so skin tone, lighting and contrast largely cancel. A CNN trained from scratch on a
few dozen people instead learns who they are: on the synthetic set it fits the training videos' valence to CCC
0.7-0.9 within three epochs while its validation CCC stays near 0 (``benchmarks/learnability.py``), where a
linear read-out of HOG reaches 0.57. With no face-pretrained weights to start from (none installs offline),
the CPU configs therefore read faces through this descriptor and train the temporal model, the fusion and the
heads on top; with pretrained weights (``model.weights``), a timm CNN is the better front-end.

    timm.create_model("face_hog", num_classes=0)   # (N, 3, S, S) in [0, 1] -> (N, 7 * 7 * 9)

It has no parameters: it needs no weights, never trains, and ``data.face_cache=features`` can store it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.models import register_model
from torch import Tensor, nn

CELLS = 7  # cells per side: 16 pixels each on the 112-px aligned crop
BINS = 9  # unsigned orientations, 20 degrees each


class FaceHOG(nn.Module):
    """(N, 3, S, S) faces in [0, 1] -> (N, CELLS * CELLS * BINS) normalised HOG.

    Grey level = the mean of the channels. Central-difference gradients; each pixel votes its gradient magnitude
    into the bin of its unsigned orientation; votes are summed per cell (S // CELLS pixels; a remainder at the
    right and bottom is left out); each cell's histogram is divided by the root of the mean gradient energy of
    its 3x3 neighbourhood of cells (zero-padded at the border), which makes a cell of average contrast unit-sized.
    """

    def __init__(self, num_classes: int = 0, cells: int = CELLS, bins: int = BINS, **_: object):
        super().__init__()
        if num_classes:
            raise ValueError("face_hog is a descriptor without a classifier: create it with num_classes=0")
        self.cells, self.bins = cells, bins
        self.num_features = cells * cells * bins
        # The encoder normalises faces with these before the backbone: identity, so HOG sees grey levels in [0, 1].
        self.pretrained_cfg = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}

    def forward(self, x: Tensor) -> Tensor:
        grey = x.float().mean(dim=1, keepdim=True)
        padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")
        gx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2
        gy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
        magnitude = torch.hypot(gx, gy)
        orientation = torch.remainder(torch.atan2(gy, gx), math.pi)
        index = torch.clamp((orientation / math.pi * self.bins).long(), max=self.bins - 1)
        votes = torch.zeros(x.shape[0], self.bins, *x.shape[2:], device=x.device, dtype=magnitude.dtype)
        votes.scatter_(1, index, magnitude)
        cell = x.shape[-1] // self.cells
        span = cell * self.cells
        histograms = F.avg_pool2d(votes[..., :span, :span], cell) * cell * cell  # (N, bins, cells, cells) sums
        energy = (histograms**2).sum(dim=1, keepdim=True)
        local = F.avg_pool2d(F.pad(energy, (1, 1, 1, 1)), 3, stride=1)  # mean over the 3x3 neighbourhood
        normalised = histograms / torch.sqrt(local + 1e-6)
        return normalised.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # cell-major, bins innermost


@register_model
def face_hog(pretrained: bool = False, **kwargs) -> FaceHOG:
    """The parameter-free HOG face descriptor (see the module docstring); ``pretrained`` has nothing to load."""
    return FaceHOG(**kwargs)
