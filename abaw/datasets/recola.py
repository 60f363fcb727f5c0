"""RECOLA as the AVEC 2015/2016 and AVEC 2018 packages lay it out: layout discovery, the frame manifest, the
annotation delay and the AVEC scoring convention.

Recordings are named ``train_1`` ... ``train_9``, ``dev_1`` ... ``dev_9``, ``test_1`` ... ``test_9``; each has
a video, a WAV file, a physiology CSV (ECG, EDA), a gold standard per dimension (ARFF, one value every 40 ms)
and the raters' individual traces. Files are recognised by the folder names of either package, wherever they
lie under the root (``docs/recola.md`` lists them with their evidence):

- AVEC 2015/2016: ``recordings_video/``, ``recordings_audio/``, ``recordings_physio/`` (2016 also
  ``recordings_physio/filtered/``), ``ratings_gold_standard/{arousal,valence}/``,
  ``ratings_individual/{arousal,valence}/``;
- AVEC 2018: ``labels/gs_1/{arousal,valence}/``, ``labels/individual/{arousal,valence}/``.

Face crops are the toolkit's layout, ``cropped_aligned/<recording>/00001.jpg`` (real RECOLA ships none).

Labels are placed on video frames BY TIME: frame k (1-based) of a video at f fps is at (k - 1) / f seconds,
and takes the gold-standard row nearest that time plus the annotation delay, whatever the video's rate. A frame
with no row within half a step (past the end of the ratings, or pushed past it by the delay) is unlabelled:
nothing wraps around.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from abaw.data.layout import LayoutError
from abaw.data.manifest import Manifest, list_crops, retained_face_frames
from abaw.data.video import count_frames, probe
from abaw.datasets import DatasetKind, register
from abaw.datasets.recola_files import (
    ANNOTATION_STEP_S,
    PHYSIO_CHANNELS,
    RecolaFileError,
    Trace,
    read_arff,
    read_individual_ratings,
    read_physio,
)
from abaw.metrics import ccc
from abaw.tasks import AU_IGNORE, AU_NAMES, EXPR_IGNORE, VA_IGNORE

log = logging.getLogger(__name__)

NAME = "recola"
SPLITS = ("train", "dev", "test")
LABELLED_SPLITS = ("train", "dev")
DIMENSIONS = ("valence", "arousal")
STREAMS = ("faces", "audio", "physio")
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v"})
MAX_DEPTH = 4  # root/labels/gs_1/arousal/train_1.arff
_RECORDING_RE = re.compile(r"^(?P<split>train|dev|test)_(?P<number>\d+)$", re.IGNORECASE)
_GOLD_PARENTS = ("ratings_gold_standard", "gs_1")
_INDIVIDUAL_PARENTS = ("ratings_individual", "individual")


@dataclass(frozen=True)
class RecolaLayout:
    """Where each file of a RECOLA tree lies; parts not found are absent from the dicts.

    Attributes:
        root: the data root.
        videos, audio, physio: recording name -> its video / WAV / physiology CSV (the filtered one of AVEC
            2016 where both are present and ``physio_variant`` is "filtered").
        gold: dimension ("valence", "arousal") -> recording -> gold-standard ARFF.
        individual: dimension -> recording -> individual ratings CSV.
        crop_dirs: the ``cropped*`` folders; ``crop_folders``: recording -> its crop folder.
        label_shift_s: the annotation delay: the label of the frame at t is the gold standard at
            t + label_shift_s. Choose it on training data (:func:`choose_label_shift`), never on the reported set.
        physio_channels: the channels of ``read_physio``, in its order: ECG, EDA.
    """

    root: Path
    videos: dict[str, Path] = field(default_factory=dict)
    audio: dict[str, Path] = field(default_factory=dict)
    physio: dict[str, Path] = field(default_factory=dict)
    gold: dict[str, dict[str, Path]] = field(default_factory=dict)
    individual: dict[str, dict[str, Path]] = field(default_factory=dict)
    crop_dirs: tuple[Path, ...] = ()
    crop_folders: dict[str, Path] = field(default_factory=dict)
    label_shift_s: float = 0.0
    physio_channels: ClassVar[tuple[str, ...]] = PHYSIO_CHANNELS

    def read_physio(self, path: Path) -> tuple[np.ndarray, float]:
        """A physiology CSV's (ECG, EDA) signals, float32 (2, N), and their rate in Hz
        (:func:`abaw.datasets.recola_files.read_physio`)."""
        return read_physio(path)

    def recordings(self, split: str | None = None) -> list[str]:
        """Every recording name found (in any file), of one split or all, in natural order."""
        names = set(self.videos) | set(self.audio) | set(self.physio)
        for per_dim in (*self.gold.values(), *self.individual.values()):
            names |= set(per_dim)
        return sorted((n for n in names if split is None or split_of(n) == split), key=_natural)

    def stream_file(self, stream: str, video: str) -> Path | None:
        """The file a stream reads for a recording: "faces" -> its crop folder, "audio" -> the WAV, "physio" ->
        the physiology CSV; None where absent."""
        files = {"faces": self.crop_folders, "audio": self.audio, "physio": self.physio}
        if stream not in files:
            raise ValueError(f"RECOLA has no {stream!r} stream; it has {', '.join(STREAMS)}")
        return files[stream].get(video)

    def video_file(self, name: str) -> Path:
        if name in self.videos:
            return self.videos[name]
        raise LayoutError(f"no video file for RECOLA recording {name!r} (looked for {name}.<"
                          f"{'|'.join(sorted(e[1:] for e in VIDEO_EXTENSIONS))}> under {self.root})\n"
                          + self.describe())

    def describe(self) -> str:
        """What was found per split, dimension and stream, and what is missing."""
        lines = [f"data root: {self.root} (RECOLA, AVEC 2015/2016 or 2018 layout)"]
        for split in SPLITS:
            names = self.recordings(split)
            if not names:
                lines.append(f"  {split}: no recording")
                continue
            lines.append(f"  {split}: {len(names)} recordings ({', '.join(names)})")
            for dim in DIMENSIONS:
                lines.append(_coverage(f"    gold standard {dim}", names, self.gold.get(dim, {})))
            for dim in DIMENSIONS:
                lines.append(_coverage(f"    individual ratings {dim}", names, self.individual.get(dim, {})))
            for stream, files in (("video", self.videos), ("audio", self.audio), ("physio", self.physio),
                                  ("face crops", self.crop_folders)):
                lines.append(_coverage(f"    {stream}", names, files))
        return "\n".join(lines)


def _coverage(label: str, names: list[str], files: dict[str, Path]) -> str:
    missing = [n for n in names if n not in files]
    if not missing:
        return f"{label}: all {len(names)}"
    return f"{label}: {len(names) - len(missing)} of {len(names)} (missing: {', '.join(missing)})"


def _natural(name: str) -> tuple:
    match = _RECORDING_RE.match(name)
    return (SPLITS.index(match["split"].lower()), int(match["number"])) if match else (len(SPLITS), 0)


def split_of(name: str) -> str | None:
    """"train", "dev" or "test" from a recording name (``dev_3`` -> "dev"); None for another name."""
    match = _RECORDING_RE.match(name)
    return match["split"].lower() if match else None


def detect(root: str | os.PathLike) -> bool:
    """Whether ``root`` looks like a RECOLA tree: a RECOLA label or recordings folder within two levels."""
    root = Path(root)
    if not root.is_dir():
        return False
    marks = {"ratings_gold_standard", "ratings_individual", "recordings_video", "recordings_audio",
             "recordings_physio"}
    for child in root.iterdir():
        if child.name in marks:
            return True
        if child.is_dir() and not child.name.lower().startswith("cropped"):
            if any(g.name in marks or (child.name == "labels" and g.name.startswith("gs_"))
                   for g in child.iterdir()):
                return True
    return False


def discover(root: str | os.PathLike, annotations: str | os.PathLike | None = None, physio_variant: str = "filtered",
             label_shift_s: float = 0.0) -> RecolaLayout:
    """Walk ``root`` once and find every RECOLA file.

    Args:
        root: the data root, as unpacked from an AVEC package (or written by ``abaw-synth --dataset recola``).
        annotations: unused (RECOLA has one gold standard, ``gs_1`` in AVEC 2018); accepted as every dataset's
            ``discover`` is called.
        physio_variant: "filtered" (AVEC 2016's ``recordings_physio/filtered/``, where present) or "raw".
        label_shift_s: the annotation delay (see :class:`RecolaLayout`).

    Raises:
        LayoutError: the root is not a directory, or a recording's file is found twice.
    """
    if physio_variant not in ("filtered", "raw"):
        raise ValueError(f"physio_variant must be 'filtered' or 'raw', got {physio_variant!r}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LayoutError(f"data root {root} is not a directory")
    found = {"videos": {}, "audio": {}, "physio_raw": {}, "physio_filtered": {}}
    gold: dict[str, dict[str, Path]] = {}
    individual: dict[str, dict[str, Path]] = {}
    crop_dirs: list[Path] = []
    gold_sets: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        parts = [p.lower() for p in here.relative_to(root).parts]
        keep = []
        for d in sorted(dirnames):
            if d.startswith(".") or d == "__pycache__":
                continue
            if d.lower().startswith("cropped"):
                crop_dirs.append(here / d)  # never walked: one file per frame
            elif len(parts) + 1 < MAX_DEPTH + 1:
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            path = here / name
            stem, suffix = path.stem, path.suffix.lower()
            if not _RECORDING_RE.match(stem):
                continue
            dimension = parts[-1] if parts and parts[-1] in DIMENSIONS else None
            parent = parts[-2] if len(parts) >= 2 else ""
            if dimension and suffix == ".arff" and (parent in _GOLD_PARENTS or parent.startswith("gs_")):
                if parent.startswith("gs_"):
                    gold_sets.add(parent)
                    if parent != "gs_1":
                        continue
                _add(gold.setdefault(dimension, {}), stem, path)
            elif dimension and suffix in (".csv", ".txt") and parent in _INDIVIDUAL_PARENTS:
                _add(individual.setdefault(dimension, {}), stem, path)
            elif suffix in VIDEO_EXTENSIONS:
                _add(found["videos"], stem, path)
            elif suffix == ".wav":
                _add(found["audio"], stem, path)
            elif suffix in (".csv", ".txt") and any("physio" in p for p in parts):
                _add(found["physio_filtered" if parts[-1] == "filtered" else "physio_raw"], stem, path)
    if len(gold_sets) > 1:
        log.warning("%s holds several gold standards (%s); using gs_1", root, ", ".join(sorted(gold_sets)))
    physio = dict(found["physio_raw"])
    if physio_variant == "filtered":
        physio.update(found["physio_filtered"])
    else:
        for name, path in found["physio_filtered"].items():
            physio.setdefault(name, path)
    crop_folders: dict[str, Path] = {}
    for crop_dir in crop_dirs:
        for entry in sorted(os.scandir(crop_dir), key=lambda e: e.name):
            if entry.is_dir():
                crop_folders.setdefault(entry.name, Path(entry.path))
    return RecolaLayout(root=root, videos=found["videos"], audio=found["audio"], physio=physio, gold=gold,
                        individual=individual, crop_dirs=tuple(crop_dirs), crop_folders=crop_folders,
                        label_shift_s=label_shift_s)


def _add(files: dict[str, Path], name: str, path: Path) -> None:
    if name in files:
        raise LayoutError(f"{name} found twice: {files[name]} and {path}; keep one copy of each recording")
    files[name] = path


def combine_raters(ratings: np.ndarray) -> np.ndarray:
    """The gold standard of several raters' traces (N, R), as the AVEC 2018 scripts build it: each trace is
    centred (its own mean replaced by the mean of all raters' means), then the traces are averaged with weights
    proportional to each rater's mean CCC against the others (a negative mean CCC weighs 0; all equal when no
    rater agrees with anyone)."""
    ratings = np.asarray(ratings, np.float64)
    if ratings.ndim != 2 or ratings.shape[1] < 1:
        raise ValueError(f"ratings must be (N, raters), got {ratings.shape}")
    raters = ratings.shape[1]
    centred = ratings - ratings.mean(0) + ratings.mean()
    if raters == 1:
        return centred[:, 0].astype(np.float32)
    agreement = np.array([np.mean([ccc(ratings[:, i], ratings[:, j]) for j in range(raters) if j != i])
                          for i in range(raters)])
    weights = np.clip(agreement, 0, None)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(raters, 1 / raters)
    return (centred @ weights).astype(np.float32)


def gold_trace(layout: RecolaLayout, name: str, dimension: str) -> Trace | None:
    """A recording's gold standard of one dimension: the ARFF; without it, the individual ratings combined by
    :func:`combine_raters` (a logged fallback); None when neither exists."""
    path = layout.gold.get(dimension, {}).get(name)
    if path is not None:
        return read_arff(path)
    path = layout.individual.get(dimension, {}).get(name)
    if path is None:
        return None
    raters = read_individual_ratings(path)
    log.warning("%s: no %s gold standard; combined the %d individual ratings of %s instead", name, dimension,
                raters.values.shape[1], path)
    return Trace(raters.times, combine_raters(raters.values))


def labels_at(trace: Trace, times: np.ndarray, shift_s: float = 0.0) -> np.ndarray:
    """The trace's value at each time + ``shift_s``: the row nearest in time, or VA_IGNORE where no row lies
    within half an annotation step (before the first row, past the last)."""
    target = np.asarray(times, np.float64) + shift_s
    right = np.clip(np.searchsorted(trace.times, target), 1, len(trace.times) - 1) if len(trace.times) > 1 else \
        np.zeros(len(target), np.int64)
    left = np.maximum(right - 1, 0)
    # A time exactly between two rows (a 30 fps frame at 0.1 s, rows at 0.08 and 0.12) takes the earlier row;
    # the margin keeps decimal times read from text (0.12 is not exact in binary) from breaking that tie.
    closer = np.abs(trace.times[right] - target) < np.abs(target - trace.times[left]) - 1e-9
    nearest = np.where(closer, right, left)
    tolerance = ANNOTATION_STEP_S / 2 + 1e-6
    inside = np.abs(trace.times[nearest] - target) <= tolerance
    return np.where(inside, trace.values[nearest], VA_IGNORE).astype(np.float32)


def video_frames(path: Path) -> tuple[int, float]:
    """(frame count, fps) of a video file: the header's count, or the packets counted when it declares none."""
    info = probe(path)
    return (info.frames or count_frames(path)), info.fps


def build_manifest(layout: RecolaLayout, split: str, tasks: tuple[str, ...] = ("va",),
                   retention: str = "last") -> Manifest:
    """The frame manifest of a split: one row per frame of each recording's video, its valence and arousal placed
    by time (``layout.label_shift_s`` applied), the other tasks' columns at their "no label" values.

    Args:
        layout: from :func:`discover`.
        split: "train", "dev" or "test".
        tasks: the tasks asked for; RECOLA labels "va" only.
        retention: "last" or "black", as for Aff-Wild2 (:func:`abaw.data.manifest.retained_face_frames`).

    Raises:
        LayoutError: no recording of the split, a recording without its video file, or a labelled split with
            no gold standard (nor individual ratings) at all.
    """
    if split not in SPLITS:
        raise LayoutError(f"RECOLA has the splits {', '.join(SPLITS)}, not {split!r}")
    if "va" not in tasks:
        raise LayoutError(f"RECOLA is annotated for valence and arousal (task va) only; asked for {list(tasks)}")
    names = layout.recordings(split)
    if not names:
        raise LayoutError(f"no RECOLA recording of the {split} split\nwhat was found:\n{layout.describe()}")
    without_video = [n for n in names if n not in layout.videos]
    if without_video:
        raise LayoutError(f"RECOLA {split}: no video file for {', '.join(without_video)}; the frames and their "
                          f"times come from it\nwhat was found:\n{layout.describe()}")
    rows, videos = [], []
    labelled_any = False
    for name in names:
        path = layout.videos[name]
        n_frames, fps = video_frames(path)
        times = np.arange(n_frames) / fps
        table = {dim: np.full(n_frames, VA_IGNORE, np.float32) for dim in DIMENSIONS}
        for dim in DIMENSIONS:
            trace = gold_trace(layout, name, dim) if split in LABELLED_SPLITS else None
            if trace is None:
                if split in LABELLED_SPLITS:
                    log.warning("%s: no %s gold standard nor individual ratings; its frames are unlabelled for "
                                "%s", name, dim, dim)
                continue
            table[dim] = labels_at(trace, times, layout.label_shift_s)
            labelled_any = True
            end = trace.times[-1] - layout.label_shift_s
            if times[-1] > end + ANNOTATION_STEP_S:
                log.info("%s: %d frames after %.2f s have no %s label (the ratings end at %.2f s, shift %.2f s)",
                         name, int((times > end + ANNOTATION_STEP_S / 2).sum()), end, dim, trace.times[-1],
                         layout.label_shift_s)
        folder = layout.crop_folders.get(name)
        crops = list_crops(folder)
        if len(crops) == 0:
            log.warning("%s: no face crops found (looked in %s); its frames are black", name,
                        ", ".join(str(d) for d in layout.crop_dirs) or "no cropped_aligned folder")
        frames = np.arange(1, n_frames + 1)
        rows.append(pd.DataFrame({
            "dataset": NAME,
            "video": name,
            "frame": frames.astype(np.int32),
            "time": times,
            "split": split,
            "valence": table["valence"],
            "arousal": table["arousal"],
            "expr": np.full(n_frames, EXPR_IGNORE, np.int8),
            **{au: np.full(n_frames, AU_IGNORE, np.int8) for au in AU_NAMES},
            "has_face": np.isin(frames, crops),
            "face_frame": retained_face_frames(frames, crops, retention).astype(np.int32),
        }))
        videos.append({"video": name, "source": name, "n_frames": n_frames, "fps": fps,
                       "crop_folder": str(folder) if folder else None, "crops": crops, "tasks": "va"})
    if split in LABELLED_SPLITS and not labelled_any:
        raise LayoutError(f"RECOLA {split}: no gold standard (ratings_gold_standard/ or labels/gs_1/) nor "
                          f"individual ratings for any recording\nwhat was found:\n{layout.describe()}")
    frames_table = pd.concat(rows, ignore_index=True)
    frames_table["video"] = frames_table["video"].astype("category")
    frames_table["split"] = frames_table["split"].astype("category")
    video_table = pd.DataFrame(videos).set_index("video")
    video_table["crop_folder"] = pd.Series([v["crop_folder"] for v in videos], index=video_table.index,
                                           dtype=object)
    return Manifest(frames=frames_table, videos=video_table, kind="uni")


def with_label_shift(layout: RecolaLayout, seconds: float) -> RecolaLayout:
    """The same layout with another annotation delay."""
    return dataclasses.replace(layout, label_shift_s=float(seconds))


# The AVEC baselines search a uniform shift of 0-9.6 s in 0.4 s steps (on dev: here, on training data only).
SHIFT_GRID_S = tuple(round(0.4 * k, 1) for k in range(25))


def choose_label_shift(features: dict[str, np.ndarray], labels: dict[str, np.ndarray], fps: dict[str, float],
                       grid: tuple[float, ...] = SHIFT_GRID_S, strength: float = 10.0, stride: int = 1
                       ) -> tuple[float, dict]:
    """Pick the annotation delay on TRAINING recordings only: for each candidate shift s, a ridge read-out of
    the recordings' features at frame time t predicts the label at t + s; the score is its leave-one-recording-
    out CCC (mean over valence and arousal, pooled over the held-out frames). The shift with the best score wins.

    Args:
        features: training recording -> (n_frames, F) per-frame features (any fixed probe's: face, audio, ...).
        labels: training recording -> (n_labels, 2) valence and arousal on the 40 ms annotation grid (row j
            at j * 0.04 s), VA_IGNORE where unlabelled.
        fps: training recording -> its video's frame rate (frame k at (k - 1) / fps).
        grid: candidate shifts in seconds.
        strength: the ridge penalty on standardised features.
        stride: use every ``stride``-th frame (neighbouring frames are near-duplicates).

    Returns:
        The chosen shift and the score of every candidate.
    """
    names = sorted(features)
    if len(names) < 2:
        raise ValueError("choose_label_shift holds out one recording at a time: it needs two or more")
    scores = {}
    for shift in grid:
        xs, ys, groups = [], [], []
        for k, name in enumerate(names):
            times = np.arange(len(features[name])) / fps[name]
            trace_times = np.arange(len(labels[name])) * ANNOTATION_STEP_S
            y = np.stack([labels_at(Trace(trace_times, labels[name][:, d]), times, shift) for d in range(2)], 1)
            keep = (y != VA_IGNORE).all(1) & (np.arange(len(y)) % stride == 0)
            xs.append(features[name][keep])
            ys.append(y[keep])
            groups.append(np.full(int(keep.sum()), k))
        x, y, group = np.concatenate(xs), np.concatenate(ys), np.concatenate(groups)
        predicted = np.zeros_like(y)
        for k in range(len(names)):
            held = group == k
            if not held.any():
                continue
            mean, std = x[~held].mean(0), x[~held].std(0) + 1e-6
            z = (x[~held] - mean) / std
            weights = np.linalg.solve(z.T @ z + strength * np.eye(z.shape[1]), z.T @ (y[~held] - y[~held].mean(0)))
            predicted[held] = ((x[held] - mean) / std) @ weights + y[~held].mean(0)
        scores[shift] = float(np.mean([ccc(predicted[:, d], y[:, d]) for d in range(2)]))
    best = max(scores, key=scores.get)
    return best, scores


def recording_scores(predicted: np.ndarray, labels: np.ndarray, recordings: np.ndarray) -> dict[str, float]:
    """Valence and arousal CCC both ways, each labelled: ``*_per_recording`` (CCC of each recording, averaged
    over recordings: the AVEC convention, what RECOLA papers report) and ``*_pooled`` (one CCC over all frames).
    Frames whose label is VA_IGNORE are left out, per dimension.

    Args:
        predicted, labels: (N, 2) valence and arousal.
        recordings: (N,) the recording of each frame.
    """
    predicted, labels, recordings = np.asarray(predicted), np.asarray(labels), np.asarray(recordings)
    out = {}
    for d, dim in enumerate(DIMENSIONS):
        has = labels[:, d] != VA_IGNORE
        if not has.any():
            continue
        out[f"ccc_{dim}_pooled"] = ccc(predicted[has, d], labels[has, d])
        per = [ccc(predicted[has & (recordings == r), d], labels[has & (recordings == r), d])
               for r in pd.unique(recordings[has])]
        out[f"ccc_{dim}_per_recording"] = float(np.mean(per))
    for way in ("pooled", "per_recording"):
        if all(f"ccc_{dim}_{way}" in out for dim in DIMENSIONS):
            out[f"ccc_mean_{way}"] = float(np.mean([out[f"ccc_{dim}_{way}"] for dim in DIMENSIONS]))
    return out


register(DatasetKind(
    name=NAME, tasks=("va",), streams=STREAMS, splits=LABELLED_SPLITS,
    expects="ratings_gold_standard/ or labels/gs_1/ (AVEC 2015/2016 or 2018), recordings_* folders",
    detect=detect, discover=discover, build_manifest=build_manifest, video_score="per_video",
    options=("label_shift_s",)))

__all__ = ["RecolaFileError", "RecolaLayout", "build_manifest", "choose_label_shift", "combine_raters", "detect",
           "discover", "labels_at", "recording_scores", "split_of", "with_label_shift"]
