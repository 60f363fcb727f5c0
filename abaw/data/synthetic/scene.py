"""The video frames: a static room, each person's shoulders, and the rendered heads pasted where the pose says.

The heads in the video are the rendered face crops themselves (rotated, scaled and moved with the head pose), so
the video shows the same face and expression as ``cropped_aligned``. Frames where no face is "detected" show the
back of the head instead: the person has turned away.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from abaw.data.synthetic.face import Identity
from abaw.tasks import FACE_CROP_SIZE


def _ellipse(h: int, w: int, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return (((x + 0.5 - cx) / rx) ** 2 + ((y + 0.5 - cy) / ry) ** 2 <= 1).astype(np.float32)


class Scene:
    """One video's room and camera; ``frame`` composes a frame from the heads of its people."""

    def __init__(self, rng: np.random.Generator, width: int, height: int, identities: list[Identity]):
        self.width, self.height = width, height
        y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
        top, bottom = rng.uniform(0.25, 0.9, (2, 3))
        room = np.broadcast_to(top + y * (bottom - top), (height, width, 3)).copy()
        for _ in range(int(rng.integers(3, 7))):  # shelves, frames, windows, doors
            x0, y0 = rng.integers(0, width), rng.integers(0, height)
            x1, y1 = x0 + rng.integers(width // 10, width // 3), y0 + rng.integers(height // 10, height // 2)
            room[y0:y1, x0:x1] = rng.uniform(0.1, 0.95, 3)
        room[int(height * rng.uniform(0.75, 0.9)) :] *= 0.7  # a table or the floor
        people = len(identities)
        self.face_px = int(height * (rng.uniform(0.42, 0.55) if people == 1 else 0.4))
        centres = [rng.uniform(0.35, 0.65)] if people == 1 else [0.28, 0.72]  # left person on the left
        self.anchors = [(c * width, height * rng.uniform(0.38, 0.48)) for c in centres]
        for cx, cy in self.anchors:
            body = _ellipse(height, width, cx, cy + 0.95 * self.face_px, 0.8 * self.face_px, 0.6 * self.face_px)
            room += body[..., None] * (rng.uniform(0.05, 0.8, 3) - room)
        room += rng.normal(0, 0.01, room.shape).astype(np.float32)  # fixed-pattern sensor noise
        self.room = room
        self.backs = [self._back_of_head(ident) for ident in identities]
        self._lit: dict[int, Image.Image] = {}

    @staticmethod
    def _back_of_head(ident: Identity, size: int = FACE_CROP_SIZE) -> Image.Image:
        """What the camera sees when the person has turned away: hair, and a little neck."""
        rgba = np.zeros((size, size, 4), dtype=np.uint8)
        rgba[..., :3] = (ident.hair * 255).astype(np.uint8)
        head = _ellipse(size, size, size / 2, size * 0.48, size * 0.36, size * 0.44)
        neck = _ellipse(size, size, size / 2, size, size * 0.2, size * 0.3)
        rgba[..., 3] = (255 * np.maximum(head, neck)).astype(np.uint8)
        rgba[neck > head, :3] = (ident.skin * 200).astype(np.uint8)
        return Image.fromarray(rgba, "RGBA")

    def _room(self, brightness: float) -> Image.Image:
        """The lit room; brightness comes in 2% steps so a handful of lit copies serve the whole video."""
        level = int(round(brightness * 50))
        if level not in self._lit:
            self._lit[level] = Image.fromarray(np.clip(self.room * (level / 50) * 255, 0, 255).astype(np.uint8))
        return self._lit[level].copy()

    def frame(self, brightness: float, heads: list[tuple[Image.Image | None, np.ndarray]]) -> Image.Image:
        """One frame. ``heads``: per person, the face sprite (RGBA crop, or None when turned away) and the head pose
        (dx share of width, dy, roll in degrees, log-scale)."""
        img = self._room(brightness)
        for k, (sprite, (dx, dy, roll, log_scale)) in enumerate(heads):
            sprite = self.backs[k] if sprite is None else sprite
            size = max(8, int(round(self.face_px * np.exp(log_scale))))
            head = _rotate_scale(sprite, float(roll), size)
            cx, cy = self.anchors[k]
            img.paste(head, (int(round(cx + dx * self.width - size / 2)), int(round(cy + dy * self.width - size / 2))),
                      head)
        return img


def _rotate_scale(sprite: Image.Image, degrees: float, size: int) -> Image.Image:
    """``sprite`` rotated by ``degrees`` about its centre and scaled to ``size`` pixels, in one resampling."""
    theta, k = np.deg2rad(degrees), size / sprite.width
    cos, sin, c, c_in = np.cos(theta) / k, np.sin(theta) / k, size / 2, sprite.width / 2
    affine = (cos, sin, c_in - (cos + sin) * c, -sin, cos, c_in - (cos - sin) * c)
    return sprite.transform((size, size), Image.AFFINE, affine, resample=Image.NEAREST)


def face_sprite(rgb: np.ndarray, coverage: np.ndarray) -> Image.Image:
    """RGBA image of a rendered crop whose alpha is the head's coverage (no crop background)."""
    alpha = (coverage * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
