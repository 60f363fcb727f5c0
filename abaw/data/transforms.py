"""Training augmentation of a face window with albumentations: ONE random draw per clip, applied to every
frame of the window, so that augmentation never fakes motion between the frames the temporal model reads."""

from __future__ import annotations

import albumentations as A
import numpy as np
import torch


class WindowAugmentation:
    """Flip, small affine jitter (as residual misalignment of the organisers' crops) and photometric jitter
    (lighting varies within and across Aff-Wild2 videos).

    Each call takes the seed of its draw. ``ClipDataset`` draws it from torch's generator, which the DataLoader
    seeds per worker and epoch and accelerate saves and restores with a checkpoint, so the augmentation is
    reproducible and no two workers repeat each other's draws.

    Args:
        frames: faces per window.
    """

    def __init__(self, frames: int):
        self.frames = frames
        targets = {f"image{i}": "image" for i in range(1, frames)}
        self.compose = A.Compose([
            A.HorizontalFlip(p=0.5),
            A.Affine(scale=(0.92, 1.08), translate_percent=(-0.05, 0.05), rotate=(-8, 8), p=0.7),
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.7),
        ], additional_targets=targets)

    def __call__(self, faces: torch.Tensor, seed: int) -> torch.Tensor:
        """faces: uint8 (T, 3, S, S) -> the same, augmented by the draw of ``seed``."""
        self.compose.set_random_seed(seed)
        images = faces.permute(0, 2, 3, 1).numpy()
        named = {"image": images[0], **{f"image{i}": images[i] for i in range(1, self.frames)}}
        out = self.compose(**named)
        stacked = np.stack([out["image"], *(out[f"image{i}"] for i in range(1, self.frames))])
        return torch.from_numpy(np.ascontiguousarray(stacked.transpose(0, 3, 1, 2)))  # contiguous: fast collate
