"""One video -> aligned face crops in the organisers' layout and a detection report.

For a video ``NAME`` under ``OUT`` (a ``cropped_aligned`` folder):

- ``OUT/NAME/00001.jpg`` ... one aligned crop per frame where the person's face was found (1-based frame numbers,
  nothing where it was not); two people give ``OUT/NAME_left/`` and ``OUT/NAME_right/``;
- ``OUT/NAME.detections.csv``: one row per face and frame, the columns of :data:`DETECTION_COLUMNS` (a contract:
  tools outside the toolkit read it). Written last: a video whose report exists is done, and is skipped when
  the command runs again.

While a video is processed, its crops go to ``OUT/.abaw-faces-partial/NAME/`` (people are only named once the
whole video is seen); they are moved into place at the end. An interrupted video leaves that folder behind,
and the next run clears it, with any crop folders of that video, and starts the video again.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from PIL import Image

from abaw.data.video import VideoError, probe
from abaw.errors import AbawError
from abaw.faces.align import canonical_landmarks, similarity, warp_crops
from abaw.faces.detector import MTCNN
from abaw.faces.track import Face, TrackConfig, Tracker
from abaw.io import atomic_write
from abaw.progress import progress_bar
from abaw.tasks import frame_image_name

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")  # left: the image's left
DETECTION_COLUMNS = ("frame", "person", "score", "x1", "y1", "x2", "y2",
                     *(f"{name}_{axis}" for name in LANDMARK_NAMES for axis in ("x", "y")))
PARTIAL = ".abaw-faces-partial"
REPORT_SUFFIX = ".detections.csv"


@dataclass(frozen=True)
class CropConfig:
    """The aligned crops: side in pixels, margin (see :func:`~abaw.faces.align.canonical_landmarks`), JPEG quality."""

    size: int = 112
    margin: float = 0.0
    jpeg_quality: int = 95


@dataclass
class PersonSummary:
    name: str
    frames_with_face: int
    runs_without_face: int  # maximal runs of frames of the video without this person's face
    longest_run_without_face: int


@dataclass
class VideoSummary:
    video: str
    frames: int
    frames_with_face: int  # frames where at least one person's face was found
    people: list[PersonSummary] = field(default_factory=list)
    skipped: bool = False  # done by an earlier run

    def line(self) -> str:
        if self.skipped:
            return f"{self.video}: done earlier ({REPORT_SUFFIX} exists), skipped"
        people = "; ".join(f"{p.name}: {p.frames_with_face} frames with a face, {p.runs_without_face} runs without "
                           f"(longest {p.longest_run_without_face})" for p in self.people) or "no face found"
        return (f"{self.video}: {self.frames} frames, {self.frames_with_face} with a face, "
                f"{len(self.people)} {'person' if len(self.people) == 1 else 'people'} ({people})")


def report_path(out: Path, video: str) -> Path:
    return Path(out) / f"{video}{REPORT_SUFFIX}"


def read_frames(path: Path, batch_size: int):
    """Decoded RGB frames of a video in batches: yields (index of the first frame, (B, H, W, 3) uint8)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            batch, start, index = [], 0, 0
            for frame in container.decode(stream):
                batch.append(frame.to_ndarray(format="rgb24"))
                index += 1
                if len(batch) == batch_size:
                    yield start, np.stack(batch)
                    batch, start = [], index
            if batch:
                yield start, np.stack(batch)
    except av.error.FFmpegError as error:
        raise VideoError(f"{path}: cannot decode the video after frame {index}: {error}") from None


def extract_faces(path: str | Path, out: str | Path, detector: MTCNN, *, name: str | None = None,
                  track: TrackConfig | None = None, crop: CropConfig | None = None, batch_size: int = 16,
                  progress: bool = True) -> VideoSummary:
    """Detect, track and align the faces of one video and write its crops and report under ``out``.

    Args:
        path: the video file.
        out: the crops' root (``ROOT/cropped_aligned``).
        detector: the face detector (on the device to run on).
        name: the video's name in ``out`` (default: the file's stem).
        track: detection interval and tracking settings.
        crop: crop size, margin and JPEG quality.
        batch_size: frames decoded and detected at once.
        progress: show a progress bar over the frames.

    Returns:
        What was found (or that the video was done by an earlier run).
    """
    path, out = Path(path), Path(out)
    name = name or path.stem
    track, crop = track or TrackConfig(), crop or CropConfig()
    partial = out / PARTIAL / name
    if report_path(out, name).is_file():
        shutil.rmtree(partial, ignore_errors=True)
        return VideoSummary(name, 0, 0, skipped=True)
    info = probe(path)  # a clear error for a file that is no video, before anything is written
    _clear_interrupted(out, name, partial)
    partial.mkdir(parents=True)
    tracker = Tracker(detector, track)
    canonical = canonical_landmarks(crop.size, crop.margin)
    faces: list[Face] = []
    n_frames = 0
    bar = progress_bar(total=info.frames or None, desc=name, unit="frame", leave=False, enabled=progress)
    for start, frames in read_frames(path, batch_size):
        images = detector.prepare(frames)
        keys = [i for i in range(len(frames)) if (start + i) % track.detect_every == 0]
        found = dict(zip(keys, detector.detect(images[keys]))) if keys else {}
        batch_faces = []
        for i in range(len(frames)):
            detections = found.get(i)
            if detections is None and tracker.searching:  # out of turn, for this frame alone
                detections = detector.detect(images[i : i + 1])[0]
            batch_faces += tracker.step(images[i : i + 1], start + i, detections)
        matrices = np.stack([similarity(f.landmarks, canonical) for f in batch_faces]) if batch_faces else []
        crops = warp_crops(images, np.array([f.frame - start for f in batch_faces], dtype=np.int64),
                           np.asarray(matrices), crop.size)
        for face, image in zip(batch_faces, crops):
            Image.fromarray(image).save(partial / f"{face.frame + 1:05d}_{face.track}.jpg", "JPEG",
                                        quality=crop.jpeg_quality)
        faces += batch_faces
        n_frames = start + len(frames)
        bar.update(len(frames))
    bar.close()
    names = tracker.people(name)
    for person in sorted(set(names.values())):
        (out / person).mkdir(parents=True, exist_ok=True)
    for face in faces:
        crop_file = partial / f"{face.frame + 1:05d}_{face.track}.jpg"
        if face.track in names:
            crop_file.replace(out / names[face.track] / frame_image_name(face.frame + 1))
    kept = sorted((f for f in faces if f.track in names), key=lambda f: (f.frame, names[f.track]))
    _write_report(report_path(out, name), kept, names)
    shutil.rmtree(partial)
    _remove_if_empty(out / PARTIAL)
    return _summary(name, n_frames, kept, names)


def _clear_interrupted(out: Path, name: str, partial: Path) -> None:
    """Remove what an interrupted run left of this video; refuse to mix with crops that no run of ours wrote."""
    folders = [f for f in (out / name, out / f"{name}_left", out / f"{name}_right") if f.is_dir()]
    folders += sorted(out.glob(f"{name}_[0-9]*/"))
    if partial.is_dir():
        for folder in folders:
            shutil.rmtree(folder)
        shutil.rmtree(partial)
    elif folders:
        raise AbawError(f"{folders[0]} already holds face crops that abaw-faces did not finish writing (no "
                        f"{report_path(out, name).name}); remove it or choose another --out")


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _write_report(path: Path, faces: list[Face], names: dict[int, str]) -> None:
    with atomic_write(path, newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(DETECTION_COLUMNS)
        for face in faces:
            writer.writerow([face.frame + 1, names[face.track], f"{face.score:.4f}",
                             *(f"{v:.2f}" for v in face.box), *(f"{v:.2f}" for v in face.landmarks.reshape(-1))])


def read_report(path: str | Path) -> list[dict]:
    """The rows of a detection report, numbers parsed (``frame`` int, the others float, ``person`` str)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [{k: (v if k == "person" else int(v) if k == "frame" else float(v)) for k, v in row.items()}
            for row in rows]


def _summary(video: str, n_frames: int, faces: list[Face], names: dict[int, str]) -> VideoSummary:
    people = []
    for person in sorted(set(names.values())):
        seen = np.zeros(n_frames, bool)
        seen[[f.frame for f in faces if names[f.track] == person]] = True
        edges = np.diff(np.concatenate([[0], (~seen).astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        people.append(PersonSummary(person, int(seen.sum()), len(starts),
                                    int((ends - starts).max()) if len(starts) else 0))
    return VideoSummary(video, n_frames, len({f.frame for f in faces}), people)
