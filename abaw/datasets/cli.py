"""``abaw-data``: what a data root holds, per split, task and stream; and its frame manifest as a CSV file.

    abaw-data --data-root ROOT [--dataset NAME] [--splits SPLIT ...] [--fold-file FOLDS.csv [--fold N]]
              [--manifest FILE]
    abaw-data --data-root ROOT --folds K|loso [--seed N] [--val-fraction F] --out FOLDS.csv

The dataset is detected (or named with ``--dataset``: :mod:`abaw.datasets`). For each split it prints the
videos, people and frames, then per task the annotation files, people, frames and labelled frames, and per
input stream the videos that have its files and those that lack them.

``--manifest FILE`` writes every frame of those splits, one row each. The first columns are a contract that
tools outside the project read, exactly these names in this order::

    dataset,split,video,frame,time,<label columns of the dataset's tasks>,face

``frame`` is 1-based; ``time`` is (frame - 1) / fps, seconds from the start of the video (empty where the
video's frame rate is unknown); the label columns are the tasks' annotation names (``valence,arousal`` for VA,
``expr``, ``AU1`` ... ``AU26``), holding the dataset's "no label" value (-5 for VA, -1 for EXPR and AU) where a
frame has none; ``face`` is the frame's own face crop, empty where there is none. Columns may follow ``face``:
a dataset whose manifest names each row's person (BioVid) adds ``subject``.

A dataset split by subject (BioVid) has no fixed splits: its train, val and test are the parts of one fold of a
fold file (``--fold-file``, ``--fold``; config ``data.folds``, ``data.fold``). ``--folds K --out FOLDS.csv``
writes such a file once (rows ``fold,part,subject``, :mod:`abaw.datasets.folds`): K folds grouped by subject
(``loso``: one per subject), each fold's validation subjects a ``--val-fraction`` of its training subjects,
all drawn with ``--seed``. Without a fold file, ``--splits all`` lists (and ``--manifest`` writes) every sample.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from abaw.data.layout import LayoutError
from abaw.data.manifest import Manifest
from abaw.datasets import DATASETS, DatasetKind, dataset_for
from abaw.datasets.folds import make_folds, parse_fold_count, write_folds
from abaw.errors import command
from abaw.io import atomic_path
from abaw.task_registry import get_task
from abaw.tasks import frame_image_name

CONTRACT_COLUMNS = ("dataset", "split", "video", "frame", "time")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abaw-data", description=" ".join(__doc__.split("\n\n")[0].replace("``", "").split()))
    parser.add_argument("--data-root", required=True, type=Path,
                        help="the data root as unpacked (or written by abaw-synth) (required)")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                        help="which dataset the root holds (default: detected from the root's layout)")
    parser.add_argument("--annotations", type=Path, default=None,
                        help="the annotations folder to use when the root holds several editions' (default: the "
                             "only one found)")
    parser.add_argument("--splits", nargs="+", default=None,
                        help="the splits to list, e.g. train val test (default: the dataset's labelled splits)")
    parser.add_argument("--manifest", type=Path, default=None,
                        help="also write the frames of those splits to this CSV file (columns dataset, split, "
                             "video, frame, time, the tasks' label columns, face) (default: no file)")
    parser.add_argument("--fold-file", type=Path, default=None,
                        help="a fold file (rows fold,part,subject) whose fold --fold gives the splits train, val, "
                             "test of a dataset split by subject (BioVid) (default: none)")
    parser.add_argument("--fold", type=int, default=0, help="which fold of --fold-file, from 0 (default: 0)")
    parser.add_argument("--folds", default=None, metavar="K|loso",
                        help="write a fold file to --out: K >= 2 folds grouped by subject, or loso (one fold per "
                             "subject) (default: none)")
    parser.add_argument("--seed", type=int, default=0,
                        help="the seed of --folds: which subjects are tested together and which validate "
                             "(default: 0)")
    parser.add_argument("--val-fraction", type=float, default=0.2,
                        help="with --folds, the share of each fold's training subjects kept for validation "
                             "(default: 0.2)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the fold file --folds writes (required with --folds; default: none)")
    return parser


@command("abaw-data")
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.folds is None) != (args.out is None):
        parser.error("--folds and --out go together: --folds K --out FOLDS.csv writes a fold file")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    root = args.data_root.expanduser().absolute()
    kind = dataset_for(root, args.dataset)
    by_subject = "folds" in kind.options
    if not by_subject and (args.folds is not None or args.fold_file is not None):
        raise LayoutError(f"{kind.name} has fixed splits ({', '.join(kind.splits)}); fold files are for datasets "
                          f"split by subject ({', '.join(k.name for k in DATASETS.values() if 'folds' in k.options)})")
    options = {"folds": args.fold_file, "fold": args.fold} if by_subject else {}
    layout = kind.discover(root, annotations=args.annotations, **options)
    print(f"dataset: {kind.name} ({'named' if args.dataset else 'detected'})")
    print(layout.describe())
    if args.folds is not None:
        try:
            folds = make_folds(layout.subjects, parse_fold_count(args.folds), args.seed, args.val_fraction)
        except ValueError as error:
            parser.error(str(error))
        rows = write_folds(args.out, folds)
        print("\n".join(folds.summary()))
        print(f"wrote {len(folds)} folds of {len(layout.subjects)} subjects ({rows} rows, seed {args.seed}) to "
              f"{args.out}")
        return 0
    manifests = []
    for split in args.splits or kind.splits:
        try:
            manifest = kind.build_manifest(layout, split, kind.tasks)
        except LayoutError as error:  # a split the root lacks: say so, list the others
            print(f"{split}: not found: {str(error).splitlines()[0]}")
            continue
        print("\n".join(split_summary(kind, layout, split, manifest)))
        manifests.append(manifest)
    if args.manifest is not None:
        if not manifests:
            raise LayoutError(f"{root}: no split of {kind.name} to write to {args.manifest}")
        rows = write_manifest_csv(args.manifest, kind, manifests)
        print(f"wrote {rows} frames to {args.manifest}")
    return 0


def split_summary(kind: DatasetKind, layout, split: str, manifest: Manifest) -> list[str]:
    """The lines that say what a split holds: its videos, then each task's files and labels, then each stream's
    files, present and missing."""
    frames, videos = manifest.frames, manifest.videos
    people = {kind.person(name) for name in videos.index}
    lines = [f"{split}: {len(videos)} videos, {len(people)} people, {len(frames)} frames"]
    per_video_tasks = {name: set(tasks.split(",")) - {""} for name, tasks in videos["tasks"].items()}
    masks = manifest.masks()
    for name in kind.tasks:
        labelled_videos = [v for v, tasks in per_video_tasks.items() if name in tasks]
        in_videos = frames["video"].isin(labelled_videos).to_numpy()
        labelled = masks[name].reshape(len(frames), -1).any(axis=1)
        lines.append(f"  {name}: {len(labelled_videos)} files, {len({kind.person(v) for v in labelled_videos})} "
                     f"people, {int(in_videos.sum())} frames, {int(labelled.sum())} labelled frames")
    for stream in kind.streams:
        missing = [name for name in videos.index if layout.stream_file(stream, name) is None]
        present = f"  {stream}: {len(videos) - len(missing)} of {len(videos)} videos"
        if stream == "faces":  # a video's crop folder may lack the crops of some of its frames
            present += f", {int(frames['has_face'].sum())} of {len(frames)} frames with a crop"
        lines.append(present + (f"; missing for {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}"
                                if missing else ""))
    return lines


def manifest_table(kind: DatasetKind, manifest: Manifest) -> pd.DataFrame:
    """A manifest's frames in the columns of the CSV contract, as text."""
    frames = manifest.frames
    # dict.fromkeys: two tasks may read one column (BioVid's pain and pain_binary)
    label_columns = list(dict.fromkeys(column for name in kind.tasks for column in get_task(name).label_columns))
    table = {"dataset": frames["dataset"].astype(str), "split": frames["split"].astype(str),
             "video": frames["video"].astype(str), "frame": frames["frame"].astype(str),
             "time": _numbers(frames["time"].to_numpy(np.float64).round(6))}
    for column in label_columns:
        table[column] = _numbers(frames[column].to_numpy())
    table["face"] = _face_paths(manifest)
    if "subject" in frames.columns:
        table["subject"] = frames["subject"].astype(str)
    return pd.DataFrame(table)


def write_manifest_csv(path: Path, kind: DatasetKind, manifests: list[Manifest]) -> int:
    """Write the frames of ``manifests`` to ``path`` (replaced whole, never left half-written); returns the
    number of rows."""
    table = pd.concat([manifest_table(kind, m) for m in manifests], ignore_index=True)
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False, lineterminator="\n")
    return len(table)


def _numbers(values: np.ndarray) -> np.ndarray:
    """Each number in its shortest exact form ("0.31", "-5", "1"); NaN as an empty field."""
    unique, inverse = np.unique(values, return_inverse=True)
    if np.issubdtype(unique.dtype, np.integer):
        text = np.array([str(v) for v in unique.tolist()], dtype=object)
    else:
        text = np.array(["" if np.isnan(v) else np.format_float_positional(v, trim="-") for v in unique],
                        dtype=object)
    return text[inverse.ravel()] if len(unique) else np.array([], dtype=object)


def _face_paths(manifest: Manifest) -> np.ndarray:
    """The crop file of each frame that has one; empty elsewhere."""
    frames = manifest.frames
    folder = manifest.videos["crop_folder"].reindex(frames["video"].astype(str)).to_numpy()
    frame = frames["frame"].to_numpy()
    paths = np.full(len(frames), "", dtype=object)
    for row in np.flatnonzero(frames["has_face"].to_numpy()):
        paths[row] = os.path.join(folder[row], frame_image_name(int(frame[row])))
    return paths


if __name__ == "__main__":
    sys.exit(main())
