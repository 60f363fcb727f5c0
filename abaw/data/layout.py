"""Find the parts of an Aff-Wild2 tree as a user unpacked it, whatever the edition.

The organisers rename folders between editions (``3rd ABAW Annotations/Third ABAW Annotations``,
``6th ABAW Annotations``, ``8th_ABAW_Annotations``; ``EXPR_Classification_Challenge`` became
``EXPR_Recognition_Challenge``), add extra video and crop folders, and ship test lists and sample files
under changing names. So nothing here matches a full path: the tree is walked once (never into the millions
of face crops) and each part is recognised by the names that are stable across editions.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from abaw.errors import AbawError
from abaw.tasks import CHALLENGE_FOLDERS, MTL_FOLDER, TASKS, source_video_name

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test")
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v"})
CHALLENGES: tuple[str, ...] = (*TASKS, "mtl")
# Deep enough for `root/3rd ABAW Annotations/Third ABAW Annotations/VA_Estimation_Challenge/Train_Set`.
MAX_DEPTH = 5

_SPLIT_FOLDERS = {"train_set": "train", "training_set": "train", "validation_set": "val", "val_set": "val"}
# Words that name a challenge in test-list and sample-file names, across editions.
_CHALLENGE_WORDS = {
    "va": ("va", "valence"),
    "expr": ("expr", "expression"),
    "au": ("au", "action"),
    "mtl": ("mtl", "multi"),
}


class LayoutError(AbawError, RuntimeError):
    """The data root lacks something a command needs; the message lists what was found and what is missing."""


@dataclass(frozen=True)
class Layout:
    """Where each part of an Aff-Wild2 tree lies. Parts that were not found are empty / None.

    Attributes:
        root: the data root given by the user.
        annotations: the folder that holds the challenge folders (``VA_Estimation_Challenge`` ...).
        task_dirs: task -> split ("train" / "val") -> folder of per-video annotation files.
        mtl_files: split ("train" / "val") -> MTL annotation file.
        crop_dirs: folders of per-video face-crop folders (``cropped_aligned`` and later editions' extras).
        crop_folders: annotation name (``video2_left``) -> its face-crop folder.
        videos: video file stem -> file.
        test_video_lists: challenge -> file listing the test videos, one name per line.
        test_frame_lists: challenge -> file listing the test frames in the organisers' order (sample files,
            the MTL test list).
    """

    root: Path
    annotations: Path | None = None
    task_dirs: dict[str, dict[str, Path]] = field(default_factory=dict)
    mtl_files: dict[str, Path] = field(default_factory=dict)
    crop_dirs: tuple[Path, ...] = ()
    crop_folders: dict[str, Path] = field(default_factory=dict)
    videos: dict[str, Path] = field(default_factory=dict)
    test_video_lists: dict[str, Path] = field(default_factory=dict)
    test_frame_lists: dict[str, Path] = field(default_factory=dict)

    def describe(self) -> str:
        """A few lines saying what was found, for error messages and ``--verbose`` output."""
        lines = [f"data root: {self.root}", f"  annotations: {self.annotations or 'NOT FOUND'}"]
        for task in TASKS:
            splits = self.task_dirs.get(task, {})
            found = ", ".join(f"{s}={_rel(p, self.root)}" for s, p in splits.items()) or "none"
            lines.append(f"  {task}: {found}")
        lines.append(f"  mtl: {', '.join(f'{s}={_rel(p, self.root)}' for s, p in self.mtl_files.items()) or 'none'}")
        lines.append(
            f"  face crops: {', '.join(_rel(p, self.root) for p in self.crop_dirs) or 'NOT FOUND'}"
            f" ({len(self.crop_folders)} video folders)"
        )
        folders = sorted({_rel(p.parent, self.root) for p in self.videos.values()})
        lines.append(f"  videos: {len(self.videos)} in {', '.join(folders) or 'no folder'}")
        for kind, files in (("test video lists", self.test_video_lists), ("test frame lists", self.test_frame_lists)):
            lines.append(f"  {kind}: {', '.join(f'{c}={_rel(p, self.root)}' for c, p in files.items()) or 'none'}")
        return "\n".join(lines)

    def require(self, *parts: str, split: str | None = None, tasks: tuple[str, ...] = TASKS) -> None:
        """Raise LayoutError unless every named part is present.

        Args:
            parts: any of "annotations", "crops", "videos", "mtl", "test".
            split: with "annotations" / "mtl", the split whose files must be present.
            tasks: with "annotations", the tasks of which at least one must have that split.
        """
        missing = []
        if "annotations" in parts:
            if self.annotations is None:
                missing.append("an annotations folder (one holding VA_Estimation_Challenge, EXPR_*_Challenge, ...)")
            elif split is not None and not any(split in self.task_dirs.get(t, {}) for t in tasks):
                missing.append(f"annotation folders of the {split!r} split for any of {', '.join(tasks)}")
        if "mtl" in parts and (split or "train") not in self.mtl_files:
            missing.append(f"the MTL_Challenge {split or 'train'} annotation file")
        if "crops" in parts and not self.crop_dirs:
            missing.append("a cropped_aligned folder of face crops")
        if "videos" in parts and not self.videos:
            missing.append(f"video files ({', '.join(sorted(VIDEO_EXTENSIONS))})")
        if "test" in parts and not (self.test_video_lists or self.test_frame_lists):
            missing.append("test-set lists or sample files (files named like *test_set*.txt)")
        if missing:
            raise LayoutError("missing: " + "; ".join(missing) + "\nwhat was found:\n" + self.describe())

    def stream_file(self, stream: str, name: str) -> Path | None:
        """The file (or folder) that input stream ``stream`` reads for annotation name ``name``: "faces" its
        crop folder, "audio" its video file; None where there is none."""
        if stream == "faces":
            return self.crop_folders.get(name)
        if stream == "audio":
            try:
                return self.video_file(name)
            except LayoutError:
                return None
        raise LayoutError(f"an Aff-Wild2 tree provides the faces and audio streams, not {stream!r}")

    def video_file(self, name: str) -> Path:
        """The video file of an annotation name; ``_left`` / ``_right`` share their video's file."""
        stem = source_video_name(name)
        if stem in self.videos:
            return self.videos[stem]
        if name in self.videos:  # a video whose own name ends in _left/_right
            return self.videos[name]
        raise LayoutError(f"no video file for {name!r} (looked for {stem!r} with {sorted(VIDEO_EXTENSIONS)})\n"
                          + self.describe())


def discover(root: str | os.PathLike, annotations: str | os.PathLike | None = None) -> Layout:
    """Walk ``root`` once and recognise every part of an Aff-Wild2 tree.

    Args:
        root: the data root as unpacked (or written by ``abaw-synth``).
        annotations: the annotations folder to use when the root holds several editions' annotations
            (editions relabel frames, so they are never mixed silently).

    Raises:
        LayoutError: the root does not exist, or holds more than one annotations folder and none was chosen.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LayoutError(f"data root {root} is not a directory")

    annotation_roots: set[Path] = set()
    crop_dirs: list[Path] = []
    videos: dict[str, Path] = {}
    text_files: list[Path] = []
    challenge_names = {name: task for task, names in CHALLENGE_FOLDERS.items() for name in names}

    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        depth = len(here.relative_to(root).parts)
        keep = []
        for d in sorted(dirnames):
            if d.startswith(".") or d == "__pycache__":
                continue
            if d.lower().startswith("cropped"):
                crop_dirs.append(here / d)  # never walk into millions of crops
                continue
            if d in challenge_names or d == MTL_FOLDER:
                annotation_roots.add(here)
            if depth + 1 < MAX_DEPTH:
                keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            path = here / f
            if path.suffix.lower() in VIDEO_EXTENSIONS:
                if path.stem in videos:
                    log.warning("video %s found twice: using %s, ignoring %s", path.stem, videos[path.stem], path)
                else:
                    videos[path.stem] = path
            elif path.suffix.lower() in (".txt", ".csv") and "test" in f.lower():
                text_files.append(path)

    if annotations is not None:
        chosen: Path | None = Path(annotations).expanduser()
        if not chosen.is_dir():
            raise LayoutError(f"annotations folder {chosen} is not a directory")
    elif len(annotation_roots) > 1:
        listing = "\n".join(f"  {p}" for p in sorted(annotation_roots))
        raise LayoutError(
            f"{root} holds several annotations folders; editions relabel frames, so choose one with "
            f"--annotations:\n{listing}"
        )
    else:
        chosen = next(iter(annotation_roots), None)

    task_dirs: dict[str, dict[str, Path]] = {}
    mtl_files: dict[str, Path] = {}
    if chosen is not None:
        challenge_dirs: dict[str, Path] = {}
        for child in sorted(chosen.iterdir()):
            if child.name in challenge_names and child.is_dir():
                task = challenge_names[child.name]
                if task in challenge_dirs:  # EXPR_Classification_ and EXPR_Recognition_: two editions' labels
                    raise LayoutError(f"{chosen} holds two {task.upper()} folders, {challenge_dirs[task].name} and "
                                      f"{child.name}; editions relabel frames, so keep one edition's")
                challenge_dirs[task] = child
                for sub in sorted(child.iterdir()):
                    split = _SPLIT_FOLDERS.get(sub.name.lower())
                    if split and sub.is_dir():
                        task_dirs.setdefault(task, {})[split] = sub
            elif child.name == MTL_FOLDER and child.is_dir():
                mtl_files.update(_mtl_files(child))

    crop_folders: dict[str, Path] = {}
    for crop_dir in crop_dirs:
        for entry in sorted(os.scandir(crop_dir), key=lambda e: e.name):
            if entry.is_dir():
                crop_folders.setdefault(entry.name, Path(entry.path))

    test_video_lists, test_frame_lists = _test_files(text_files)
    return Layout(
        root=root,
        annotations=chosen,
        task_dirs=task_dirs,
        mtl_files=mtl_files,
        crop_dirs=tuple(crop_dirs),
        crop_folders=crop_folders,
        videos=videos,
        test_video_lists=test_video_lists,
        test_frame_lists=test_frame_lists,
    )


def _mtl_files(folder: Path) -> dict[str, Path]:
    """3rd edition: ``train_set.txt`` / ``validation_set.txt``; 4th and 7th: ``*_set_annotations.txt``."""
    found = {}
    for f in sorted(folder.iterdir()):
        name = f.name.lower()
        if f.suffix.lower() != ".txt" or "test" in name:
            continue
        if name.startswith("train"):
            found["train"] = f
        elif name.startswith("val"):
            found["val"] = f
    return found


def _test_files(paths: list[Path]) -> tuple[dict[str, Path], dict[str, Path]]:
    """Sort test-set files by challenge, and by whether they list videos or frames (read from their content)."""
    video_lists: dict[str, Path] = {}
    frame_lists: dict[str, Path] = {}
    for path in paths:
        words = set(re.split(r"[^a-z0-9]+", path.stem.lower()))
        if "test" not in words:
            continue
        challenges = [c for c, names in _CHALLENGE_WORDS.items() if words & set(names)]
        if len(challenges) != 1:
            log.debug("ignoring %s: its name does not say which one challenge it belongs to", path)
            continue
        target = frame_lists if _lists_frames(path) else video_lists
        challenge = challenges[0]
        if challenge in target:
            raise LayoutError(f"two test files for the {challenge} challenge: {target[challenge]} and {path}")
        target[challenge] = path
    return video_lists, frame_lists


def _lists_frames(path: Path) -> bool:
    """Sample files start with an ``image_location``/``image`` header; frame lists have ``video/00001.jpg`` rows."""
    with open(path, encoding="utf-8-sig") as f:
        first = f.readline().strip().lower()
        second = f.readline().strip().lower()
    return first.startswith("image") or ".jpg" in first or ".jpg" in second


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
