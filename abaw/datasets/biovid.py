"""The BioVid Heat Pain Database (Part A or Part B, as unpacked): layout discovery, the frame manifest, and
splits from a subject-independent fold file.

A root holds ``samples.csv`` (TAB-separated: subject, class, sample of each 5.5 s window), ``video/<subject>/
<sample>.mp4``, ``biosignals_filtered/<subject>/<sample>_bio.csv`` and ``biosignals_raw/<subject>/<sample>_bio.csv``
(``docs/biovid.md`` lists the facts and their evidence). Face crops are the toolkit's layout,
``cropped_aligned/<sample>/00001.jpg`` (what ``abaw-faces ROOT/video --out ROOT/cropped_aligned`` writes).

Samples are classified whole (task ``pain``: 0 for BL1, 1-4 for PA1-PA4), so every frame of a sample's video
carries the sample's label. The splits "train", "val" and "test" are the parts of one fold of a fold file
(:mod:`abaw.datasets.folds`; config ``data.folds`` and ``data.fold``): people never cross from one to another.
The split "all" is every sample, for listing a root before any fold file exists.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from abaw.data.layout import LayoutError
from abaw.data.manifest import Manifest, list_crops, retained_face_frames
from abaw.data.video import VideoError, count_frames, probe
from abaw.datasets import DatasetKind, register
from abaw.datasets.biovid_files import (
    CLASSES,
    TIME_UNITS,
    WINDOW_S,
    BioVidFileError,
    Sample,
    biosignal_channels,
    read_biosignals,
    read_samples,
)
from abaw.datasets.folds import PARTS, Folds, read_folds
from abaw.tasks import AU_IGNORE, AU_NAMES, EXPR_IGNORE, VA_IGNORE

log = logging.getLogger(__name__)

NAME = "biovid"
SPLITS = PARTS  # train, val, test of the chosen fold
ALL = "all"  # every sample, without a fold file
STREAMS = ("faces", "physio")
TASKS = ("pain", "pain_binary")
PAIN_IGNORE = -1
VARIANTS = ("filtered", "raw")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")
BIOSIGNAL_SUFFIX = "_bio.csv"
FOLDS_HOWTO = ("write one with `abaw-data --data-root {root} --folds 5 --out FOLDS.csv` (or --folds loso), then "
               "set data.folds=FOLDS.csv (and data.fold=0..K-1); `abaw-data --splits all` lists every sample")


@dataclass(frozen=True)
class BioVidLayout:
    """Where each file of a BioVid tree lies; samples without a file are absent from its dict.

    Attributes:
        root: the data root.
        samples: sample name -> its row of ``samples.csv`` (subject, class, ``pain``), in the file's order.
        videos: sample name -> its video file.
        biosignals: sample name -> its biosignal CSV of ``variant``.
        variant: "filtered" (``biosignals_filtered/``) or "raw" (``biosignals_raw/``).
        crop_dirs: the ``cropped*`` folders; ``crop_folders``: sample name -> its crop folder.
        physio_channels: the channels the biosignal files hold, among gsr, ecg, emg_trapezius, emg_corrugator,
            emg_zygomaticus, in that order (read from the header of the first file).
        time_unit: the unit of the biosignal files' time column ("auto": found from each file's span).
        window_s: the length of a sample; a video or a biosignal file shorter than it is short.
        folds: the fold file read (None: no fold file; only the split "all" exists); ``fold``: the fold used.
        unlisted: files whose sample ``samples.csv`` does not list (ignored), by kind.
    """

    root: Path
    samples: dict[str, Sample] = field(default_factory=dict)
    videos: dict[str, Path] = field(default_factory=dict)
    biosignals: dict[str, Path] = field(default_factory=dict)
    variant: str = "filtered"
    crop_dirs: tuple[Path, ...] = ()
    crop_folders: dict[str, Path] = field(default_factory=dict)
    physio_channels: tuple[str, ...] = ()
    time_unit: str = "auto"
    window_s: float = WINDOW_S
    folds: Folds | None = None
    fold: int = 0
    unlisted: dict[str, int] = field(default_factory=dict)

    @property
    def subjects(self) -> tuple[str, ...]:
        """Every subject of ``samples.csv``, sorted."""
        return tuple(sorted({s.subject for s in self.samples.values()}))

    def split_samples(self, split: str) -> list[str]:
        """The samples of a split: the samples of the subjects in that part of the fold, or every one ("all")."""
        if split == ALL:
            return list(self.samples)
        if split not in SPLITS:
            raise LayoutError(f"BioVid has the splits {', '.join(SPLITS)} (of a fold) and {ALL}, not {split!r}")
        if self.folds is None:
            raise LayoutError(f"BioVid {split}: no fold file (data.folds) says which subjects are in {split}; "
                              + FOLDS_HOWTO.format(root=self.root))
        subjects = set(self.folds.part(self.fold, split))
        return [name for name, sample in self.samples.items() if sample.subject in subjects]

    def stream_file(self, stream: str, video: str) -> Path | None:
        """The file a stream reads for a sample: "faces" -> its crop folder, "physio" -> its biosignal CSV; None
        where absent."""
        files = {"faces": self.crop_folders, "physio": self.biosignals}
        if stream not in files:
            raise ValueError(f"BioVid has no {stream!r} stream; it has {', '.join(STREAMS)}")
        return files[stream].get(video)

    def video_file(self, name: str) -> Path:
        if name in self.videos:
            return self.videos[name]
        subject = self.samples[name].subject if name in self.samples else "<subject>"
        raise LayoutError(f"no video file for BioVid sample {name!r} (looked for video/{subject}/{name}.mp4 under "
                          f"{self.root})")

    def read_physio(self, path: str | os.PathLike) -> tuple[np.ndarray, float]:
        """A biosignal file's :attr:`physio_channels` as float32 (C, N) and its rate in Hz (from the time column).

        Raises:
            BioVidFileError: naming the file (and line): missing, unreadable, lacking a channel, or short.
        """
        found = read_biosignals(path, self.physio_channels or None, self.time_unit, self.window_s)
        return found.signals, found.rate

    def describe(self) -> str:
        """What ``samples.csv`` lists, and which files each sample has."""
        names = list(self.samples)
        per_class = pd.Series([s.class_name for s in self.samples.values()]).value_counts()
        lines = [f"data root: {self.root} (BioVid Heat Pain)",
                 f"  samples.csv: {len(names)} samples of {len(self.subjects)} subjects ("
                 + ", ".join(f"{c} {int(per_class.get(c, 0))}" for c in CLASSES) + ")",
                 _coverage("  video", names, self.videos),
                 _coverage(f"  biosignals_{self.variant}", names, self.biosignals)
                 + f"; channels: {', '.join(self.physio_channels) or 'none'}",
                 _coverage("  face crops", names, self.crop_folders)]
        if self.unlisted:
            lines.append("  files of samples that samples.csv does not list (ignored): "
                         + ", ".join(f"{n} {kind}" for kind, n in self.unlisted.items()))
        if self.folds is None:
            lines.append("  folds: none (data.folds); train, val and test need a fold file")
        else:
            fold = self.folds.parts[self.fold]
            lines.append(f"  folds: {self.folds.source} ({len(self.folds)} folds), fold {self.fold}: "
                         + ", ".join(f"{p} {len(fold[p])} subjects" for p in SPLITS))
        return "\n".join(lines)


def _coverage(label: str, names: list[str], files: dict[str, Path]) -> str:
    missing = [n for n in names if n not in files]
    if not missing:
        return f"{label}: all {len(names)}"
    return (f"{label}: {len(names) - len(missing)} of {len(names)} (missing: {', '.join(missing[:6])}"
            f"{' ...' if len(missing) > 6 else ''})")


def person(sample: str) -> str:
    """The subject of a sample name as BioVid writes it, ``<subject>-<class>-<nnn>`` (``071614_m_20-BL1-082`` ->
    ``071614_m_20``); any other name is its own person."""
    parts = sample.rsplit("-", 2)
    return parts[0] if len(parts) == 3 and parts[1].upper() in CLASSES else sample


def detect(root: str | os.PathLike) -> bool:
    """Whether ``root`` looks like a BioVid tree: ``samples.csv`` beside ``video/`` or a ``biosignals_*/``."""
    root = Path(root)
    if not (root / "samples.csv").is_file():
        return False
    return (root / "video").is_dir() or any((root / f"biosignals_{v}").is_dir() for v in VARIANTS)


def discover(root: str | os.PathLike, annotations: str | os.PathLike | None = None, folds: str | None = None,
             fold: int = 0, variant: str = "filtered", time_unit: str = "auto",
             window_s: float = WINDOW_S) -> BioVidLayout:
    """Read ``samples.csv`` and find every sample's files.

    Args:
        root: the data root (Part A or Part B as unpacked, or written by ``abaw-synth --dataset biovid``).
        annotations: unused (``samples.csv`` is BioVid's only annotation); accepted as every ``discover`` is called.
        folds: a fold file (``abaw-data --folds K --out FILE`` writes one): its subjects must be the root's.
        fold: which fold's parts are the splits train, val, test.
        variant: the biosignals to read, "filtered" or "raw".
        time_unit: the biosignal time column's unit, "auto", "s", "ms" or "us".
        window_s: the length of a sample, 5.5 s.

    Raises:
        LayoutError: the root is not a directory or has no ``samples.csv``; a sample's file found twice.
        BioVidFileError: a bad row of ``samples.csv`` (file and line).
        FoldFileError: a fold file that breaks the protocol or names subjects the root lacks; a fold out of range.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    if time_unit != "auto" and time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be 'auto' or one of {', '.join(TIME_UNITS)}, got {time_unit!r}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LayoutError(f"data root {root} is not a directory")
    table = root / "samples.csv"
    if not table.is_file():
        raise LayoutError(f"{root}: no samples.csv (the BioVid sample table: subject_name, class_name, sample_name)")
    samples = {s.name: s for s in read_samples(table)}
    unlisted: dict[str, int] = {}
    videos = _files_by_sample(root / "video", lambda p: p.suffix.lower() in VIDEO_EXTENSIONS, lambda p: p.stem)
    biosignals = _files_by_sample(root / f"biosignals_{variant}", lambda p: p.name.endswith(BIOSIGNAL_SUFFIX),
                                  lambda p: p.name[:-len(BIOSIGNAL_SUFFIX)])
    for kind, files in (("videos", videos), ("biosignal files", biosignals)):
        extra = [name for name in files if name not in samples]
        if extra:
            unlisted[kind] = len(extra)
            for name in extra:
                del files[name]
    crop_dirs = tuple(sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower().startswith("cropped")))
    crop_folders: dict[str, Path] = {}
    for crop_dir in crop_dirs:
        for entry in sorted(os.scandir(crop_dir), key=lambda e: e.name):
            if entry.is_dir() and entry.name in samples:
                crop_folders.setdefault(entry.name, Path(entry.path))
    channels = biosignal_channels(next(iter(biosignals.values()))) if biosignals else ()
    layout = BioVidLayout(root=root, samples=samples, videos=videos, biosignals=biosignals, variant=variant,
                          crop_dirs=crop_dirs, crop_folders=crop_folders, physio_channels=channels,
                          time_unit=time_unit, window_s=window_s, unlisted=unlisted)
    if folds is None:
        return layout
    read = read_folds(folds, layout.subjects)
    read.part(fold, "test")  # a fold out of range is an error now, not at the first split
    return dataclasses.replace(layout, folds=read, fold=fold)


def _files_by_sample(folder: Path, wanted, sample_of) -> dict[str, Path]:
    """``folder/<subject>/<file>`` (files directly in ``folder`` too) -> sample name -> path."""
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for here, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if Path(here) == folder)  # one level of subject folders
        for name in sorted(filenames):
            path = Path(here) / name
            if not wanted(path):
                continue
            sample = sample_of(path)
            if sample in found:
                raise LayoutError(f"sample {sample} found twice: {found[sample]} and {path}; keep one copy")
            found[sample] = path
    return found


def sample_video(layout: BioVidLayout, name: str) -> tuple[int, float]:
    """(frame count, fps) of a sample's video.

    Raises:
        LayoutError: the sample has no video file.
        VideoError: the file cannot be opened, has no frame rate, or is shorter than the window.
    """
    path = layout.video_file(name)
    info = probe(path)
    n_frames = info.frames or count_frames(path)
    if n_frames < round(layout.window_s * info.fps) - 1:
        raise VideoError(f"{path}: short: {n_frames} frames at {info.fps:g} fps cover {n_frames / info.fps:.2f} s, "
                         f"less than the {layout.window_s:g} s window")
    return n_frames, info.fps


def build_manifest(layout: BioVidLayout, split: str, tasks: tuple[str, ...] = TASKS,
                   retention: str = "last") -> Manifest:
    """The frame manifest of a split: one row per frame of each sample's video (``video`` = the sample name),
    each carrying its sample's ``subject`` and ``pain`` (0 BL1, 1-4 PA1-PA4), the other tasks' columns at their
    "no label" values.

    A sample whose video is missing, unreadable or shorter than the window is left out: a logged warning that
    names each one and counts them (a real archive of 8,700 videos may hold a broken one; stopping would lose the
    rest).

    Args:
        layout: from :func:`discover`.
        split: "train", "val", "test" (parts of the layout's fold) or "all".
        tasks: the tasks asked for; BioVid labels ``pain`` (and ``pain_binary``, read from the same column).
        retention: "last" or "black" (:func:`abaw.data.manifest.retained_face_frames`).

    Raises:
        LayoutError: a task BioVid does not label; a split without a fold file; a split without any sample with
            a usable video.
    """
    asked = [t for t in tasks if t not in TASKS]
    if asked:
        raise LayoutError(f"BioVid is labelled for {', '.join(TASKS)} only; asked for {list(tasks)}")
    names = layout.split_samples(split)
    rows, videos, left_out = [], [], []
    for name in names:
        sample = layout.samples[name]
        try:
            n_frames, fps = sample_video(layout, name)
        except (LayoutError, VideoError) as error:
            left_out.append(f"{name} ({str(error).splitlines()[0]})")
            continue
        frames = np.arange(1, n_frames + 1)
        folder = layout.crop_folders.get(name)
        crops = list_crops(folder)
        rows.append(pd.DataFrame({
            "dataset": NAME,
            "video": name,
            "frame": frames.astype(np.int32),
            "time": (frames - 1) / fps,
            "split": split,
            "subject": sample.subject,
            "pain": np.full(n_frames, sample.pain, np.int8),
            "valence": np.full(n_frames, VA_IGNORE, np.float32),
            "arousal": np.full(n_frames, VA_IGNORE, np.float32),
            "expr": np.full(n_frames, EXPR_IGNORE, np.int8),
            **{au: np.full(n_frames, AU_IGNORE, np.int8) for au in AU_NAMES},
            "has_face": np.isin(frames, crops),
            "face_frame": retained_face_frames(frames, crops, retention).astype(np.int32),
        }))
        videos.append({"video": name, "source": name, "n_frames": n_frames, "fps": fps, "subject": sample.subject,
                       "pain": sample.pain, "crop_folder": str(folder) if folder else None, "crops": crops,
                       "tasks": ",".join(tasks)})
    if left_out:
        log.warning("BioVid %s: %d of %d samples left out, their video missing, unreadable or short: %s%s", split,
                    len(left_out), len(names), "; ".join(left_out[:5]), " ..." if len(left_out) > 5 else "")
    without_crops = [v["video"] for v in videos if len(v["crops"]) == 0]
    if without_crops:
        log.warning("BioVid %s: %d samples have no face crops (looked in %s); their frames are black", split,
                    len(without_crops), ", ".join(str(d) for d in layout.crop_dirs) or "no cropped_aligned folder")
    if not rows:
        raise LayoutError(f"BioVid {split}: no sample with a usable video ({len(names)} listed, "
                          f"{len(left_out)} left out)\nwhat was found:\n{layout.describe()}")
    frames_table = pd.concat(rows, ignore_index=True)
    for column in ("video", "split", "subject"):
        frames_table[column] = frames_table[column].astype("category")
    video_table = pd.DataFrame(videos).set_index("video")
    video_table["crop_folder"] = pd.Series([v["crop_folder"] for v in videos], index=video_table.index,
                                           dtype=object)
    return Manifest(frames=frames_table, videos=video_table, kind="uni")


register(DatasetKind(
    name=NAME, tasks=TASKS, streams=STREAMS, splits=SPLITS,
    expects="samples.csv beside video/ or biosignals_filtered/ / biosignals_raw/ (Part A or B as unpacked)",
    detect=detect, discover=discover, build_manifest=build_manifest, video_score="pooled", person=person,
    options=("folds", "fold")))

__all__ = ["BioVidFileError", "BioVidLayout", "build_manifest", "detect", "discover", "person", "sample_video"]
