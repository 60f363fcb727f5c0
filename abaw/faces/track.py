"""Keeping people apart across frames: box tracks, then tracks joined into people and named.

A track follows one face from frame to frame. On the frames that get a full detection, tracks take the
detection their last box overlaps most (an optimal assignment on IoU, so two nearby faces never trade places);
on the other frames, and where a detection was missed, the detector's last stage is run on the track's last
box (:meth:`~abaw.faces.detector.MTCNN.refine`), which moves the box with the face and gives fresh landmarks.
A track ends when that stage no longer sees a face there. While fewer faces are tracked than have been at once
(none at the start), every frame gets a full detection (:attr:`Tracker.searching`): tracking saves the detector's
work only while it follows everyone. Once the video is done, tracks that never share a
frame and start where an earlier one ended are joined into one person (someone who turned away and back), and
the people are named the organisers' way: ``<video>`` alone, ``<video>_left`` / ``<video>_right`` for two.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from abaw.faces.detector import MTCNN, Detections


@dataclass(frozen=True)
class TrackConfig:
    """How faces are followed between frames.

    Attributes:
        detect_every: run the full detector on every k-th frame (1: every frame) and track in between; frames
            where someone may be missing get it too (:attr:`Tracker.searching`).
        keep_score: the face probability a tracked box must keep to go on (the detector's last stage).
        match_iou: the least overlap between a track's last box and a detection to take it as the same face.
        duplicate_iou: two tracks that overlap this much follow one face; the younger one ends.
        rejoin_distance: a track starting within this many face widths of where a person was last seen (and
            never on a frame of theirs) continues that person.
        min_frames: people seen on fewer frames are dropped as spurious detections.
    """

    detect_every: int = 5
    keep_score: float = 0.7
    match_iou: float = 0.3
    duplicate_iou: float = 0.5
    rejoin_distance: float = 1.5
    min_frames: int = 3


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` (n, 4) with every box of ``b`` (m, 4): (n, m)."""
    a, b = np.asarray(a, np.float64)[:, None], np.asarray(b, np.float64)[None]
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = width * height
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


@dataclass
class Face:
    """One face in one frame, on a track."""

    frame: int  # 0-based
    track: int
    box: np.ndarray  # (4,)
    score: float
    landmarks: np.ndarray  # (5, 2)


@dataclass
class _Track:
    first: int
    last: int
    box: np.ndarray
    first_box: np.ndarray
    frames: int = 1
    centres: list[float] = field(default_factory=list)


class Tracker:
    """Follows faces through the frames of one video, fed in order.

    Args:
        detector: the detector whose last stage tracks a box.
        config: see :class:`TrackConfig`.
    """

    def __init__(self, detector: MTCNN, config: TrackConfig | None = None):
        self.detector = detector
        self.config = config or TrackConfig()
        self.tracks: list[_Track] = []
        self.live: list[int] = []
        self.most_at_once = 0  # the most established faces (tracked for min_frames) on one frame so far

    @property
    def searching(self) -> bool:
        """Whether someone may be missing: no face is tracked, or fewer established tracks than there have been
        at once (a passing duplicate or false face, shorter than ``min_frames``, does not count)."""
        return not self.live or self._established() < self.most_at_once

    def _established(self) -> int:
        return sum(self.tracks[t].frames >= self.config.min_frames for t in self.live)

    def step(self, image: torch.Tensor, frame: int, detections: Detections | None) -> list[Face]:
        """The faces of one frame, each on a track.

        Args:
            image: (1, 3, H, W) the frame, from :meth:`MTCNN.prepare`.
            frame: its 0-based index; frames come in order.
            detections: the full detector's faces on this frame, or None on a frame it skipped.
        """
        cfg = self.config
        detections = detections if detections is not None else Detections()
        found: dict[int, tuple[np.ndarray, float, np.ndarray]] = {}
        matched_detections: set[int] = set()
        if self.live and len(detections):
            overlap = iou(np.stack([self.tracks[t].box for t in self.live]), detections.boxes)
            rows, cols = linear_sum_assignment(-overlap)
            for r, c in zip(rows, cols):
                if overlap[r, c] >= cfg.match_iou:
                    found[self.live[r]] = (detections.boxes[c], float(detections.scores[c]), detections.landmarks[c])
                    matched_detections.add(int(c))
        lost = [t for t in self.live if t not in found]
        refined = self.detector.refine(image, np.stack([self.tracks[t].box for t in lost])) if lost else Detections()
        for k, t in enumerate(lost):
            if refined.scores[k] >= cfg.keep_score:
                found[t] = (refined.boxes[k], float(refined.scores[k]), refined.landmarks[k])
        for c in range(len(detections)):
            if c not in matched_detections:
                self.tracks.append(_Track(frame, frame, detections.boxes[c], detections.boxes[c], frames=0))
                found[len(self.tracks) - 1] = (detections.boxes[c], float(detections.scores[c]),
                                               detections.landmarks[c])
        kept = self._without_duplicates(found)
        self.live = sorted(kept)
        self.most_at_once = max(self.most_at_once, self._established())
        faces = []
        for t in self.live:
            box, score, landmarks = kept[t]
            track = self.tracks[t]
            track.box, track.last = box, frame
            track.frames += 1
            track.centres.append(float(box[0] + box[2]) / 2)
            faces.append(Face(frame, t, box, score, landmarks))
        return faces

    def _without_duplicates(self, found: dict) -> dict:
        """Drop the younger of two tracks that now cover the same face (one was re-detected as new)."""
        kept: dict = {}
        for t in sorted(found):  # older tracks first
            box = found[t][0]
            if all(iou(box[None], kept[k][0][None])[0, 0] < self.config.duplicate_iou for k in kept):
                kept[t] = found[t]
        return kept

    def people(self, video: str) -> dict[int, str]:
        """Track -> the name of the person it shows, for every track that belongs to a kept person.

        Tracks are joined into people in order of their first frame (see the module docstring); people seen on
        fewer than ``min_frames`` frames are left out. One person is named ``video``, two ``video_left`` and
        ``video_right`` by where they are on average, more ``video_1``, ``video_2`` ... from left to right.
        """
        people: list[list[int]] = []
        shown = [t for t in range(len(self.tracks)) if self.tracks[t].frames > 0]  # not ended as a duplicate at once
        for t in sorted(shown, key=lambda t: self.tracks[t].first):
            track = self.tracks[t]
            width = float(track.first_box[2] - track.first_box[0])
            start = (track.first_box[:2] + track.first_box[2:]) / 2
            best, best_distance = None, self.config.rejoin_distance * width
            for p, members in enumerate(people):
                if any(self.tracks[m].last >= track.first for m in members):
                    continue  # on screen at the same time: another person
                previous = self.tracks[members[-1]].box
                distance = float(np.linalg.norm((previous[:2] + previous[2:]) / 2 - start))
                if distance <= best_distance:
                    best, best_distance = p, distance
            if best is None:
                people.append([t])
            else:
                people[best].append(t)
        people = [p for p in people if sum(self.tracks[t].frames for t in p) >= self.config.min_frames]
        centre = [np.mean([c for t in p for c in self.tracks[t].centres]) for p in people]
        order = [people[k] for k in np.argsort(centre, kind="stable")]
        if len(order) == 1:
            names = [video]
        elif len(order) == 2:
            names = [f"{video}_left", f"{video}_right"]
        else:
            names = [f"{video}_{k + 1}" for k in range(len(order))]
        return {t: name for members, name in zip(order, names) for t in members}
