"""Aligned face crops: the similarity transform that puts 5 landmarks on canonical positions, and the warp.

The canonical positions are the widely used 5-point template of 112x112 face-recognition crops (ArcFace's):
eyes level, the face centred and filling the crop much as the organisers' ``cropped_aligned`` images do. A
margin shrinks the template towards the crop's centre, to keep more of the head.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

# Left eye, right eye, nose tip, left and right mouth corners, in pixels of a 112x112 crop.
TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


def canonical_landmarks(size: int = 112, margin: float = 0.0) -> np.ndarray:
    """Where the 5 landmarks land in a ``size`` x ``size`` crop.

    Args:
        size: crop side, pixels.
        margin: extra context on each side, as a share of the template's extent: 0 is the template itself,
            0.2 shows the face 1/1.4 as large.

    Returns:
        (5, 2) x, y in the crop's pixels.
    """
    if margin < 0:
        raise ValueError(f"margin must be 0 or more, got {margin}")
    return (TEMPLATE_112 / 112 - 0.5) / (1 + 2 * margin) * size + size / 2


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The least-squares similarity (rotation, uniform scale, translation; no reflection) taking ``source``
    points to ``target`` points (Umeyama, 1991).

    Args:
        source, target: (n, 2) corresponding points, n >= 2.

    Returns:
        (2, 3) matrix ``M`` with ``target ~= source @ M[:, :2].T + M[:, 2]``.
    """
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    mean_s, mean_t = source.mean(0), target.mean(0)
    s, t = source - mean_s, target - mean_t
    covariance = t.T @ s / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / (s**2).sum(1).mean()
    linear = scale * rotation
    return np.hstack([linear, (mean_t - linear @ mean_s)[:, None]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (..., 2) through a (2, 3) affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def warp_crops(images: torch.Tensor, frame_of: np.ndarray, matrices: np.ndarray, size: int) -> np.ndarray:
    """Cut aligned crops out of a batch of frames in one bilinear resampling.

    Args:
        images: (B, 3, H, W) float pixels 0..255.
        frame_of: (K,) the frame of each crop.
        matrices: (K, 2, 3) frame -> crop similarity of each crop (:func:`similarity`).
        size: crop side, pixels.

    Returns:
        (K, size, size, 3) uint8 RGB crops; outside the frame they are black.
    """
    if len(matrices) == 0:
        return np.zeros((0, size, size, 3), np.uint8)
    height, width = images.shape[2:]
    inverse = np.stack([np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2] for m in matrices])  # crop -> frame
    # grid_sample reads normalised coordinates: x_norm = 2 x / W - 1 in both spaces (align_corners=False).
    to_norm = np.array([[2 / width, 0, -1], [0, 2 / height, -1], [0, 0, 1]])
    from_norm = np.array([[size / 2, 0, size / 2], [0, size / 2, size / 2], [0, 0, 1]])
    theta = np.stack([(to_norm @ np.vstack([m, [0, 0, 1]]) @ from_norm)[:2] for m in inverse])
    theta = torch.as_tensor(theta, dtype=images.dtype, device=images.device)
    grid = F.affine_grid(theta, [len(theta), 3, size, size], align_corners=False)
    source = images[torch.as_tensor(frame_of, device=images.device)]
    crops = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return crops.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
