"""Where each drawn face lies in the video: its box and 5 landmarks, in pixels of the video frame.

Recorded for checking face detectors (``abaw-faces``) against the truth; nothing here draws or draws random
numbers. It follows a face-unit point through the two transforms the renderer applies: the crop's small
misalignment (:meth:`FaceRenderer.render`, ``zoom``) and the head's placement in the frame (:meth:`Scene.frame`).
"""

from __future__ import annotations

import numpy as np

from abaw.data.synthetic.face import AU, FaceRenderer, Identity
from abaw.data.synthetic.params import SynthParams
from abaw.tasks import FACE_CROP_SIZE

_OUTLINE = np.linspace(0, 2 * np.pi, 48, endpoint=False)


def _rotate(points: np.ndarray, radians: np.ndarray) -> np.ndarray:
    """(B, n, 2) points rotated by (B,) angles, in image axes (y down)."""
    cos, sin = np.cos(radians)[:, None], np.sin(radians)[:, None]
    x, y = points[..., 0], points[..., 1]
    return np.stack([cos * x - sin * y, sin * x + cos * y], axis=-1)


def face_points(ident: Identity, valence: np.ndarray, aus: np.ndarray, p: SynthParams) -> np.ndarray:
    """(B, 5 + 48, 2) face units: eye centres, nose (between the nostrils), mouth corners, then the face's outline.

    The mouth corners and the chin move as the renderer moves them (valence and AU12/15 bend the lip line,
    AU12/23/24 widen or narrow the mouth, AU26 drops the jaw).
    """
    au = {name: aus[:, k] for name, k in AU.items()}
    width = ident.mouth_w * (1 + 0.12 * au["AU12"] - 0.15 * au["AU23"] - 0.06 * au["AU24"])
    corner_y = (ident.mouth_y + 0.035 * au["AU26"] - p.mouth_valence_lift * valence
                - p.au_lip_corner_lift * (au["AU12"] - au["AU15"]))
    zero = np.zeros_like(width)
    five = np.stack([np.stack([zero - ident.eye_dx, zero + ident.eye_y], -1),
                     np.stack([zero + ident.eye_dx, zero + ident.eye_y], -1),
                     np.stack([zero, zero + ident.nose_y], -1),
                     np.stack([-width, corner_y], -1), np.stack([width, corner_y], -1)], axis=1)
    sin = np.sin(_OUTLINE)[None]
    ry = np.where(sin > 0, ident.face_ry + 0.07 * au["AU26"][:, None], ident.face_ry)
    outline = np.stack([np.broadcast_to(ident.face_rx * np.cos(_OUTLINE), ry.shape), ident.face_cy + ry * sin], -1)
    return np.concatenate([five, outline], axis=1)


def to_crop(points: np.ndarray, jitter: np.ndarray) -> np.ndarray:
    """Face units -> pixels of the 112-pixel crop, through the crop's misalignment ``jitter`` (B, 4)."""
    dx, dy, roll, log_scale = jitter.T
    grid = _rotate(points, roll) * (np.exp(log_scale) * FaceRenderer.zoom)[:, None, None]
    grid = grid + np.stack([dx, dy], -1)[:, None]
    return (grid + 1) / 2 * FACE_CROP_SIZE


def to_frame(points: np.ndarray, anchor: tuple[float, float], face_px: int, frame_width: int, head: np.ndarray
             ) -> np.ndarray:
    """Crop pixels -> video pixels, as :meth:`Scene.frame` scales, rotates and pastes the crop (B heads)."""
    dx, dy, roll, log_scale = head.T
    size = np.maximum(8, np.round(face_px * np.exp(log_scale)))
    corner_x = np.round(anchor[0] + dx * frame_width - size / 2)
    corner_y = np.round(anchor[1] + dy * frame_width - size / 2)
    moved = _rotate(points - FACE_CROP_SIZE / 2, np.deg2rad(roll)) * (size / FACE_CROP_SIZE)[:, None, None]
    return moved + (size / 2)[:, None, None] + np.stack([corner_x, corner_y], -1)[:, None]


def face_in_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, 53, 2) video pixels of :func:`face_points` -> boxes (B, 4) around the outline and landmarks (B, 5, 2)."""
    outline = points[:, 5:]
    return np.concatenate([outline.min(1), outline.max(1)], axis=1), points[:, :5]
