"""How well a detection report matches faces whose true place is known (synthetic or generated videos).

Three numbers, used by the tests and by ``benchmarks/face_detection.py``:

- recall: the share of true faces (person x frame where the face is shown) that a reported face overlaps with
  IoU >= 0.5;
- landmark error: each matched face's crop is aligned from the *detected* landmarks; the *true* landmarks are
  carried into that crop and compared with the canonical positions, in crop pixels and as a share of the
  canonical distance between the eyes (NME). The same error with the crop aligned from the true landmarks is
  the floor that a perfect detector would reach (a face's own proportions differ from the template's); the
  distance between where the two crops put the true landmarks is the misalignment due to the detector alone;
- identity swaps: matched faces reported under another person's name than the true person's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from abaw.faces.align import apply, canonical_landmarks, similarity
from abaw.faces.track import iou

RECALL_IOU = 0.5


@dataclass
class Score:
    true_faces: int
    found: int  # true faces matched by a reported face at IoU >= 0.5
    false_faces: int  # reported faces that match no true face
    identity_swaps: int  # matched faces reported under another name than the true person's
    landmark_error_px: float  # mean over matched faces and the 5 points, in crop pixels
    landmark_nme: float  # the same, over the canonical distance between the eyes
    landmark_nme_floor: float  # with the crop aligned from the true landmarks
    misalignment_nme: float  # true landmarks in the detected crop vs in the truly aligned crop, over the eye distance

    @property
    def recall(self) -> float:
        return self.found / max(self.true_faces, 1)

    def as_dict(self) -> dict:
        return {**asdict(self), "recall": self.recall}


def score_report(rows: list[dict], truth_boxes: dict[str, np.ndarray], truth_landmarks: dict[str, np.ndarray],
                 size: int = 112, margin: float = 0.0) -> Score:
    """Compare a detection report (:func:`~abaw.faces.extract.read_report`) with the true faces.

    Args:
        rows: the report's rows (1-based ``frame``).
        truth_boxes: true person name -> (n_frames, 4) boxes, NaN on frames where the face is not shown.
        truth_landmarks: true person name -> (n_frames, 5, 2).
        size, margin: the crops' settings, for the landmark error.
    """
    canonical = canonical_landmarks(size, margin)
    eye_distance = float(np.linalg.norm(canonical[1] - canonical[0]))
    by_frame: dict[int, list[dict]] = {}
    for row in rows:
        by_frame.setdefault(row["frame"] - 1, []).append(row)
    true_faces = found = swaps = 0
    matched_rows: set[int] = set()
    errors, floors, misalignments = [], [], []
    for person, boxes in truth_boxes.items():
        for frame in np.flatnonzero(~np.isnan(boxes[:, 0])):
            true_faces += 1
            candidates = by_frame.get(int(frame), [])
            if not candidates:
                continue
            reported = np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in candidates])
            overlap = iou(boxes[frame][None], reported)[0]
            best = int(overlap.argmax())
            if overlap[best] < RECALL_IOU:
                continue
            row = candidates[best]
            found += 1
            matched_rows.add(id(row))
            swaps += row["person"] != person
            detected = np.array([[row[f"{n}_x"], row[f"{n}_y"]] for n in
                                 ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")])
            true = truth_landmarks[person][frame]
            in_crop, ideal = apply(similarity(detected, canonical), true), apply(similarity(true, canonical), true)
            errors.append(np.linalg.norm(in_crop - canonical, axis=1).mean())
            floors.append(np.linalg.norm(ideal - canonical, axis=1).mean())
            misalignments.append(np.linalg.norm(in_crop - ideal, axis=1).mean())
    mean = lambda values: float(np.mean(values)) if values else float("nan")  # noqa: E731
    return Score(true_faces, found, sum(id(r) not in matched_rows for r in rows), swaps, mean(errors),
                 mean(errors) / eye_distance, mean(floors) / eye_distance, mean(misalignments) / eye_distance)
