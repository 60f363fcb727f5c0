"""ONE frame manifest: a row per frame, with every task's label (or its "no label" value) and its face.

The same table serves the three uni-task challenges (frames of whole videos, each task labelled where its
annotation file says so) and the MTL challenge (the static frames listed in the MTL files). Frame counts come
from the organisers' files, never from a decoder alone: the annotation files for train/val, the sample files
for test. A frame without a face crop keeps its row; ``face_frame`` says which crop stands in for it.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from abaw.data.annotations import AnnotationError, read_frame_list, read_mtl_file, read_task_file, read_video_list
from abaw.data.layout import Layout, LayoutError
from abaw.data.video import VideoError, count_frames, fps_from_name, probe
from abaw.progress import progress_bar
from abaw.task_registry import TASK_REGISTRY
from abaw.tasks import AU_IGNORE, AU_NAMES, EXPR_IGNORE, TASKS, VA_IGNORE, frame_image_name, source_video_name

log = logging.getLogger(__name__)

RETENTION_MODES = ("last", "black")
DATASET = "affwild2"  # the ``dataset`` column of the manifests built here (registered in abaw.datasets)
_CROP_RE = re.compile(r"^(\d+)\.jpg$", re.IGNORECASE)


@dataclass
class Manifest:
    """Frames and videos of one split.

    Attributes:
        frames: one row per frame: ``dataset`` (its registered name, ``abaw.datasets``), ``video`` (annotation
            name, categorical), ``frame`` (1-based), ``time`` (seconds from the start of the video to the start
            of the frame, (frame - 1) / fps; NaN where the frame rate is unknown), ``split``, ``valence``, ``arousal`` (-5 = no label), ``expr`` (-1), ``AU1`` ... ``AU26`` (-1), ``has_face``
            (a crop exists for this frame), ``face_frame`` (the crop to show for it; -1 = none, a black frame).
        videos: one row per annotation name (index ``video``): ``source`` (video file stem), ``n_frames``,
            ``crop_folder`` (or None), ``crops`` (sorted frames that have a crop), ``tasks`` (the tasks labelled
            in this split, e.g. "va,au"), ``fps`` (the frame rate of its video file, else the one its name
            carries; NaN for neither).
        kind: "uni" for whole videos of the uni-task challenges, "mtl" for the MTL set's static frames.
    """

    frames: pd.DataFrame
    videos: pd.DataFrame
    kind: str = "uni"

    def __len__(self) -> int:
        return len(self.frames)

    def va(self) -> np.ndarray:
        """float32 (N, 2) valence and arousal; -5 where unlabelled."""
        return self.frames[["valence", "arousal"]].to_numpy(np.float32)

    def expr(self) -> np.ndarray:
        """int64 (N,) expression class; -1 where unlabelled."""
        return self.frames["expr"].to_numpy(np.int64)

    def au(self) -> np.ndarray:
        """int64 (N, 12) action units; -1 where unlabelled."""
        return self.frames[list(AU_NAMES)].to_numpy(np.int64)

    def masks(self) -> dict[str, np.ndarray]:
        """Which labels are present, for every registered task whose columns the frames hold
        (:mod:`abaw.task_registry`): bool, (N,) for a class index, else (N, columns); for Aff-Wild2 ``va``
        (N, 2), ``expr`` (N,), ``au`` (N, 12)."""
        return {task.name: task.labelled(task.targets(self.frames)) for task in TASK_REGISTRY.values()
                if set(task.label_columns) <= set(self.frames.columns)}

    def face_path(self, video: str, face_frame: int) -> Path | None:
        """The crop file of ``face_frame`` in ``video``'s crop folder; None for a black frame."""
        folder = self.videos.at[video, "crop_folder"]
        if face_frame < 1 or folder is None:
            return None
        return Path(folder) / frame_image_name(int(face_frame))

    def task_frames(self, task: str) -> pd.DataFrame:
        """The frames that carry a label of ``task`` (any of its dimensions)."""
        return self.frames[self.masks()[task].reshape(len(self), -1).any(axis=1)]


def build_manifest(layout: Layout, split: str, tasks: tuple[str, ...] = TASKS, retention: str = "last") -> Manifest:
    """The uni-task manifest of a split: every frame of every video that any of ``tasks`` lists for it.

    Args:
        layout: from ``abaw.data.layout.discover``.
        split: "train", "val" or "test".
        tasks: the challenges whose videos to include.
        retention: "last" shows a face-less frame the last earlier crop of its video (the first crop before
            any face was found); "black" leaves it black. The PKD paper found "last" better (Table 5).
    """
    if retention not in RETENTION_MODES:
        raise ValueError(f"retention must be one of {RETENTION_MODES}, got {retention!r}")
    if split == "test":
        return _test_manifest(layout, tasks, retention)
    layout.require("annotations", split=split, tasks=tasks)

    labels: dict[str, dict[str, np.ndarray]] = {}  # name -> task -> labels
    for task in tasks:
        folder = layout.task_dirs.get(task, {}).get(split)
        if folder is None:
            log.warning("no %s annotations for the %s split in %s", task.upper(), split, layout.annotations)
            continue
        files = sorted(folder.glob("*.txt"))
        for path in progress_bar(files, desc=f"reading {task.upper()} {split} annotations", unit="file", leave=False):
            labels.setdefault(path.stem, {})[task] = read_task_file(path, task)

    if not labels:
        folders = [str(layout.task_dirs[t][split]) for t in tasks if split in layout.task_dirs.get(t, {})]
        raise LayoutError(f"no annotation file (<video>.txt) in the {split} folders: {', '.join(folders)}")
    entries = []
    for name in progress_bar(sorted(labels), desc=f"listing {split} face crops", unit="video", leave=False):
        per_task = labels[name]
        lengths = {task: len(values) for task, values in per_task.items()}
        n_frames = max(lengths.values())
        if len(set(lengths.values())) > 1:
            log.warning("%s: annotation files disagree on the frame count (%s); using %d, frames past a "
                        "shorter file are unlabelled for its task", name,
                        ", ".join(f"{t}={n}" for t, n in lengths.items()), n_frames)
        table = _empty_labels(n_frames)
        for task, values in per_task.items():
            _fill_labels(table, task, values, np.arange(len(values)))
        entries.append(_video_entry(layout, name, np.arange(1, n_frames + 1), table, split, retention, n_frames,
                             ",".join(t for t in TASKS if t in per_task)))
    return _assemble(entries, "uni")


def build_mtl_manifest(layout: Layout, split: str, retention: str = "last") -> Manifest:
    """The MTL manifest of a split: the static frames of the MTL annotation file (train / val) or test list."""
    if split == "test":
        if "mtl" not in layout.test_frame_lists:
            raise LayoutError("missing: the MTL test list\nwhat was found:\n" + layout.describe())
        source = layout.test_frame_lists["mtl"]
        listed = read_frame_list(source)
        video, frame = listed.video, listed.frame
        va = np.full((len(frame), 2), VA_IGNORE, np.float32)
        expr = np.full(len(frame), EXPR_IGNORE)
        au = np.full((len(frame), len(AU_NAMES)), AU_IGNORE)
    else:
        layout.require("mtl", split=split)
        source = layout.mtl_files[split]
        mtl = read_mtl_file(source)
        video, frame, va, expr, au = mtl.video, mtl.frame, mtl.va, mtl.expr, mtl.au
    _check_within_videos(layout, source, video, frame)

    entries = []
    order = pd.unique(video)
    for name in order:
        index = np.flatnonzero(video == name)
        table = _empty_labels(len(index))
        rows_of_video = np.arange(len(index))
        _fill_labels(table, "va", va[index], rows_of_video)
        _fill_labels(table, "expr", expr[index], rows_of_video)
        _fill_labels(table, "au", au[index], rows_of_video)
        entries.append(_video_entry(layout, name, frame[index], table, split, retention, None, "va,expr,au"))
    manifest = _assemble(entries, "mtl")
    missing = int((~manifest.frames["has_face"]).sum())
    if missing:
        log.warning("%d of %d MTL %s images have no crop; they are shown as their video's retained face",
                    missing, len(manifest), split)
    return manifest


def _check_within_videos(layout: Layout, source: Path, video: np.ndarray, frame: np.ndarray) -> None:
    """Raise if the MTL file lists an image past the last frame of its video file (as its header declares; one
    frame of slack, as decoders count): such a frame has no picture or sound of its own, so the file and the
    videos are not of the same release."""
    for name in pd.unique(video):
        try:
            path = layout.video_file(name)
            declared = probe(path).frames
        except (LayoutError, VideoError):
            continue  # no readable video file: a model that needs it says so where it reads it
        last = int(frame[video == name].max())
        if declared and last > declared + 1:
            raise AnnotationError(f"{source}: lists {name}/{frame_image_name(last)}, past the end of its video "
                                  f"{path} ({declared} frames); are the MTL file and the videos of the same "
                                  f"release?")


def retained_face_frames(n_frames_or_frames: int | np.ndarray, crops: np.ndarray, retention: str) -> np.ndarray:
    """For each frame, the crop that stands in for it.

    Args:
        n_frames_or_frames: the frames (1-based) to resolve, or their count for frames 1..N.
        crops: sorted 1-based frame numbers that have a crop.
        retention: "last" (the last earlier crop; before the first crop, the first one) or "black".

    Returns:
        int64 array, -1 where no crop stands in (black mode, or a video without any crop).
    """
    frames = (np.arange(1, n_frames_or_frames + 1) if np.isscalar(n_frames_or_frames)
              else np.asarray(n_frames_or_frames, dtype=np.int64))
    if len(crops) == 0:
        return np.full(len(frames), -1, dtype=np.int64)
    position = np.searchsorted(crops, frames, side="right") - 1
    if retention == "black":
        hit = (position >= 0) & (crops[np.clip(position, 0, None)] == frames)
        return np.where(hit, frames, -1)
    return crops[np.clip(position, 0, None)]


def list_crops(folder: Path | None) -> np.ndarray:
    """Sorted frame numbers of the ``NNNNN.jpg`` crops in a folder (empty for None)."""
    if folder is None:
        return np.empty(0, dtype=np.int64)
    numbers = [int(m.group(1)) for e in os.scandir(folder) if (m := _CROP_RE.match(e.name))]
    return np.sort(np.array(numbers, dtype=np.int64))


def _test_manifest(layout: Layout, tasks: tuple[str, ...], retention: str) -> Manifest:
    """Test videos from the release lists; frame counts from the sample files, else from the video file."""
    layout.require("test")
    n_frames: dict[str, int] = {}
    listed_in: dict[str, list[str]] = {}
    for task in tasks:
        if task in layout.test_frame_lists:
            listed = read_frame_list(layout.test_frame_lists[task])
            counts = pd.Series(listed.frame).groupby(listed.video).max()
            for name, count in counts.items():
                n_frames[name] = max(n_frames.get(name, 0), int(count))
                listed_in.setdefault(name, []).append(task)
        if task in layout.test_video_lists:
            for name in read_video_list(layout.test_video_lists[task]):
                if task not in listed_in.setdefault(name, []):
                    listed_in[name].append(task)
    entries = []
    for name in sorted(listed_in):
        if name not in n_frames:
            n_frames[name] = count_frames(layout.video_file(name))
            log.warning("%s: no sample file lists its frames; took %d frames from its video file",
                        name, n_frames[name])
        count = n_frames[name]
        table = _empty_labels(count)
        entries.append(_video_entry(layout, name, np.arange(1, count + 1), table, "test", retention, count,
                             ",".join(t for t in TASKS if t in listed_in[name])))
    return _assemble(entries, "uni")


def _empty_labels(n: int) -> dict[str, np.ndarray]:
    table = {"valence": np.full(n, VA_IGNORE, np.float32), "arousal": np.full(n, VA_IGNORE, np.float32),
             "expr": np.full(n, EXPR_IGNORE, np.int8)}
    table.update({au: np.full(n, AU_IGNORE, np.int8) for au in AU_NAMES})
    return table


def _fill_labels(table: dict[str, np.ndarray], task: str, values: np.ndarray, rows: np.ndarray) -> None:
    if task == "va":
        table["valence"][rows] = values[:, 0]
        table["arousal"][rows] = values[:, 1]
    elif task == "expr":
        table["expr"][rows] = values
    else:
        for k, au in enumerate(AU_NAMES):
            table[au][rows] = values[:, k]


def _video_entry(layout: Layout, name: str, frames: np.ndarray, table: dict[str, np.ndarray], split: str,
                 retention: str, n_frames: int | None, tasks: str) -> tuple[pd.DataFrame, dict]:
    """A video's frame rows and its row of the video table; its crop folder is listed once, here.

    ``n_frames`` is the organisers' frame count; None for the MTL set, whose files list sampled frames only,
    so the video's length is taken as its last listed frame or crop.
    """
    folder = layout.crop_folders.get(name)
    crops = list_crops(folder)
    if n_frames is None:
        n_frames = int(max(frames.max(), crops[-1] if len(crops) else 0))
    if len(crops) == 0:
        log.warning("%s: no face crops found (looked in %s); its frames are black",
                    name, ", ".join(str(d) for d in layout.crop_dirs) or "no cropped_aligned folder")
    elif crops[-1] > n_frames:
        log.warning("%s: crops go up to frame %d but the organisers' files list %d frames; the extra crops "
                    "are unused", name, crops[-1], n_frames)
    fps = _frame_rate(layout, name)
    rows = pd.DataFrame({
        "dataset": DATASET,
        "video": name,
        "frame": frames.astype(np.int32),
        "time": (frames - 1) / fps,
        "split": split,
        **table,
        "has_face": np.isin(frames, crops),
        "face_frame": retained_face_frames(frames, crops, retention).astype(np.int32),
    })
    video = {"video": name, "source": source_video_name(name), "n_frames": n_frames,
             "crop_folder": str(folder) if folder else None, "crops": crops, "tasks": tasks, "fps": fps}
    return rows, video


def _frame_rate(layout: Layout, name: str) -> float:
    """The frame rate of a video's file; without a readable file, the one in its name; else NaN (its frames'
    times are unknown: the clips that need them say so, ``abaw.data.clips``)."""
    try:
        return probe(layout.video_file(name)).fps
    except (LayoutError, VideoError):
        fps = fps_from_name(name)
        return float("nan") if fps is None else fps


def _assemble(entries: list[tuple[pd.DataFrame, dict]], kind: str) -> Manifest:
    if not entries:
        raise LayoutError("no annotated videos found for this split")
    frames = pd.concat([rows for rows, _ in entries], ignore_index=True)
    frames["dataset"] = frames["dataset"].astype("category")
    frames["video"] = frames["video"].astype("category")
    frames["split"] = frames["split"].astype("category")
    table = pd.DataFrame([video for _, video in entries]).set_index("video")
    # pandas would store a missing crop folder among strings as NaN; keep it None, as the docstring says.
    table["crop_folder"] = pd.Series([video["crop_folder"] for _, video in entries], index=table.index, dtype=object)
    return Manifest(frames=frames, videos=table, kind=kind)
