"""MTCNN face detection (box, score, 5 landmarks) on batches of video frames, on the CPU or a GPU.

The three networks and their weights come from the ``facenet-pytorch`` package (MIT licence; the weights ship
inside its wheel, so detection runs offline). Only its networks are used: the cascade around them is written
here for batches of frames, with ``torchvision.ops.roi_align`` cutting every candidate of every frame in one
call, and :meth:`MTCNN.refine` runs the last network alone on known boxes, which is how a face is tracked
between full detections (``abaw.faces.track``). Why MTCNN: ``docs/faces.md``.

Coordinates are in pixels of the frame, continuous: pixel ``i`` spans ``[i, i + 1)``. Landmarks come in the
order left eye, right eye, nose, left mouth corner, right mouth corner, "left" meaning the image's left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import batched_nms, roi_align


@dataclass
class Detections:
    """The faces found in one frame (``n`` of them; ``n`` may be 0)."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # (n, 4) x1, y1, x2, y2
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # (n,) face probability
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((0, 5, 2), np.float32))  # (n, 5, 2) x, y

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass(frozen=True)
class DetectorConfig:
    """The cascade's settings.

    Attributes:
        min_face: smallest face searched for, pixels of the frame; the image pyramid starts at the scale that
            shows a face of this size as PNet's 12 pixels, so a larger value is faster.
        thresholds: face probability each stage keeps (PNet, RNet, ONet); MTCNN's published defaults.
        pyramid_factor: ratio between two scales of the image pyramid.
    """

    min_face: int = 40
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    pyramid_factor: float = 0.709


def _load_networks() -> tuple[nn.Module, nn.Module, nn.Module]:
    try:
        from facenet_pytorch.models.mtcnn import ONet, PNet, RNet
    except ImportError as error:  # a dependency of the toolkit; only a broken install lacks it
        raise ImportError("abaw.faces needs the facenet-pytorch package (pip install facenet-pytorch)") from error
    return PNet(), RNet(), ONet()


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes grown to squares about their centres (each stage's network sees a square crop)."""
    centre = (boxes[:, :2] + boxes[:, 2:4]) / 2
    half = (boxes[:, 2:4] - boxes[:, :2]).max(dim=1, keepdim=True).values / 2
    return torch.cat([centre - half, centre + half], dim=1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Apply a network's box regression: offsets are shares of the box's width and height."""
    size = (boxes[:, 2:4] - boxes[:, :2]).repeat(1, 2)
    return boxes + offsets * size


class MTCNN(nn.Module):
    """The three-stage MTCNN cascade over batches of frames.

    Args:
        config: the cascade's settings (default :class:`DetectorConfig`).
    """

    def __init__(self, config: DetectorConfig | None = None):
        super().__init__()
        self.config = config or DetectorConfig()
        self.pnet, self.rnet, self.onet = _load_networks()
        self.eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def prepare(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Frames (B, H, W, 3) uint8 RGB -> a float (B, 3, H, W) tensor on the detector's device."""
        frames = torch.as_tensor(frames).to(self.device, non_blocking=True)
        return frames.permute(0, 3, 1, 2).float()

    @torch.no_grad()
    def detect(self, images: torch.Tensor) -> list[Detections]:
        """Every face in every frame of a batch.

        Args:
            images: (B, 3, H, W) float pixels 0..255, from :meth:`prepare`.

        Returns:
            One :class:`Detections` per frame.
        """
        t_pnet, t_rnet, t_onet = self.config.thresholds
        boxes, scores, frame_of = self._proposals(images, t_pnet)
        if len(boxes):
            boxes = _square(boxes)
            offsets, probability = self.rnet(self._crops(images, boxes, frame_of, 24))
            keep = probability[:, 1] >= t_rnet
            boxes, scores, frame_of, offsets = boxes[keep], probability[keep, 1], frame_of[keep], offsets[keep]
            keep = batched_nms(boxes, scores, frame_of, 0.7)
            boxes = _square(_regress(boxes[keep], offsets[keep]))
            scores, frame_of = scores[keep], frame_of[keep]
        landmarks = torch.zeros(0, 5, 2, device=images.device)
        if len(boxes):
            boxes, scores, landmarks, keep = self._output_stage(images, boxes, frame_of, t_onet)
            frame_of = frame_of[keep]
            keep = batched_nms(boxes, scores, frame_of, 0.5)
            boxes, scores, landmarks, frame_of = boxes[keep], scores[keep], landmarks[keep], frame_of[keep]
        return _per_frame(len(images), frame_of, boxes, scores, landmarks)

    @torch.no_grad()
    def refine(self, image: torch.Tensor, boxes: np.ndarray) -> Detections:
        """Run the last network alone on given boxes of one frame (a face tracked from the previous frame).

        Args:
            image: (1, 3, H, W) from :meth:`prepare`.
            boxes: (n, 4) boxes where faces are expected.

        Returns:
            The refined boxes, their face probability and landmarks, in the order given (none dropped).
        """
        if len(boxes) == 0:
            return Detections()
        boxes = _square(torch.as_tensor(boxes, dtype=torch.float32, device=image.device))
        frame_of = torch.zeros(len(boxes), dtype=torch.long, device=image.device)
        boxes, scores, landmarks, _ = self._output_stage(image, boxes, frame_of, threshold=0.0)
        return Detections(*(t.cpu().numpy() for t in (boxes, scores, landmarks)))

    def _proposals(self, images: torch.Tensor, threshold: float
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """PNet over the image pyramid: candidate boxes, scores and the frame each belongs to."""
        height, width = images.shape[2:]
        normalised = (images - 127.5) / 128.0
        scale = 12.0 / self.config.min_face
        found = []
        while min(height, width) * scale >= 12:
            size = (math.ceil(height * scale), math.ceil(width * scale))
            offsets, probability = self.pnet(F.interpolate(normalised, size=size, mode="area"))
            frame, row, col = torch.nonzero(probability[:, 1] >= threshold, as_tuple=True)
            if len(frame):
                # PNet slides a 12-pixel window with stride 2 over the scaled image.
                corner = torch.stack([col, row], dim=1).float() * 2
                boxes = torch.cat([corner, corner + 12], dim=1) / scale
                boxes = _regress(boxes, offsets[frame, :, row, col])
                scores = probability[frame, 1, row, col]
                keep = batched_nms(boxes, scores, frame, 0.5)
                found.append((boxes[keep], scores[keep], frame[keep]))
            scale *= self.config.pyramid_factor
        if not found:
            empty = images.new_zeros((0, 4))
            return empty, images.new_zeros(0), torch.zeros(0, dtype=torch.long, device=images.device)
        boxes, scores, frame_of = (torch.cat(parts) for parts in zip(*found))
        keep = batched_nms(boxes, scores, frame_of, 0.7)
        return boxes[keep], scores[keep], frame_of[keep]

    def _output_stage(self, images, boxes, frame_of, threshold):
        """ONet on square boxes: regressed boxes, scores, landmarks of those at or above ``threshold``."""
        offsets, points, probability = self.onet(self._crops(images, boxes, frame_of, 48))
        scores = probability[:, 1]
        keep = torch.nonzero(scores >= threshold, as_tuple=True)[0]
        boxes, offsets, points, scores = boxes[keep], offsets[keep], points[keep], scores[keep]
        size = boxes[:, 2:4] - boxes[:, :2]
        # ONet gives the 5 x shares, then the 5 y shares, of its input box.
        landmarks = torch.stack([points[:, :5], points[:, 5:]], dim=2) * size[:, None] + boxes[:, None, :2]
        return _regress(boxes, offsets), scores, landmarks, keep

    @staticmethod
    def _crops(images: torch.Tensor, boxes: torch.Tensor, frame_of: torch.Tensor, size: int) -> torch.Tensor:
        """Each box resampled to ``size`` x ``size`` (zero outside the frame), normalised.

        Each output pixel averages about one bilinear sample per source pixel of its share of the box: the area
        average the networks were trained with. (Fewer samples, 2x2 per output pixel, are 5 times faster but
        found a quarter fewer of the synthetic set's drawn faces.)
        """
        rois = torch.cat([frame_of[:, None].to(boxes.dtype), boxes], dim=1)
        crops = roi_align(images, rois, output_size=size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)
        return (crops - 127.5) / 128.0


def _per_frame(n_frames: int, frame_of: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor,
               landmarks: torch.Tensor) -> list[Detections]:
    frame_of = frame_of.cpu().numpy()
    boxes, scores, landmarks = boxes.cpu().numpy(), scores.cpu().numpy(), landmarks.cpu().numpy()
    return [Detections(boxes[frame_of == b], scores[frame_of == b], landmarks[frame_of == b])
            for b in range(n_frames)]
