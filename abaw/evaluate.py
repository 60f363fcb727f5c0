"""``abaw-eval``: score a predictions directory against a split's annotations with the tasks' metrics.

Each task is scored over every labelled frame of every video its annotations list for the split, pooled;
-5 / -1 frames are left out. A task labelled once per video (BioVid's pain, granularity "sample") is scored once
per video, from the row ``abaw-predict`` writes for it (the video's last frame). With ``--video-score per_video`` valence/arousal is also scored per video and
averaged over the videos (the AVEC convention), each score labelled. With ``--mtl`` the MTL set's static frames
are scored and the MTL score is added. The scoring is the training loop's validation scoring
(:func:`abaw.task_registry.score_tasks`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from abaw import metrics
from abaw.config import DataConfig
from abaw.data.manifest import Manifest, build_mtl_manifest
from abaw.datasets import DATASETS, open_dataset
from abaw.engine.data import sample_level
from abaw.engine.loop import video_score_of
from abaw.errors import command
from abaw.io import write_json
from abaw.plots import write_plots
from abaw.progress import progress_bar
from abaw.prediction_files import (PredictionError, check_one_run, prediction_files, read_predictions, task_values,
                              tasks_in)
from abaw.submit.writer import load_thresholds
from abaw.task_registry import TASK_REGISTRY, get_task, score_tasks
from abaw.tasks import TASKS

log = logging.getLogger("abaw.eval")


def evaluate(pred_dir: Path, manifest: Manifest, tasks: tuple[str, ...] = TASKS,
             thresholds: np.ndarray | float = 0.5, search_thresholds: bool = False,
             allow_mixed_runs: bool = False, video_score: str | None = None) -> dict:
    """Score predictions against a manifest's labels.

    Args:
        pred_dir: a predictions directory (one ``<video>.csv`` per video).
        manifest: the split's frames and labels (uni-task or MTL).
        tasks: the tasks to score; a task whose columns no predictions file holds is skipped with a warning.
        thresholds: AU decision thresholds (scalar or 12) when not searched: the option of every task with
            thresholds to fit (``Task.search_thresholds``).
        search_thresholds: search those thresholds on THIS split (the score is then optimistic for it; the
            thresholds are meant for the test split).
        allow_mixed_runs: score files that different runs wrote (``abaw.prediction_files.check_one_run``).
        video_score: "pooled", or "per_video" to add the per-video scores (:func:`score_tasks`); default:
            the convention of the manifest's dataset (:func:`abaw.engine.loop.video_score_of`).

    Returns:
        ``{"va": {...}, "expr": {...}, "au": {...}, "mtl": {...}}`` for the tasks scored (mtl for an MTL
        manifest with all three), each holding the metric values of ``abaw.metrics``.

    Raises:
        PredictionError: a labelled video without predictions, predictions for the wrong frames, NaN, ...
    """
    files = prediction_files(pred_dir)
    labelled = {t: [v for v, ts in manifest.videos["tasks"].items() if t in ts.split(",")] for t in tasks}
    needed = sorted({v for videos in labelled.values() for v in videos})
    missing = [v for v in needed if v not in files]
    if missing:
        raise PredictionError(f"{pred_dir}: no predictions for {len(missing)} labelled videos: "
                              f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
    check_one_run(pred_dir, needed, allow_mixed_runs)

    per_sample = sample_level(tasks)
    predicted: dict[str, list[np.ndarray]] = {t: [] for t in tasks}
    present: dict[str, set[str]] = {t: set() for t in tasks}
    rows_by_video = manifest.frames.groupby("video", observed=True, sort=False).indices
    all_frames = manifest.frames["frame"].to_numpy()
    order = []
    for video in progress_bar(needed, desc="reading predictions", unit="video", leave=False):
        rows = rows_by_video[video]
        if per_sample:  # one clip, one prediction per video: at its last frame
            rows = rows[[np.argmax(all_frames[rows])]]
            expected = all_frames[rows]
        else:
            expected = np.arange(1, all_frames[rows].max() + 1) if manifest.kind == "uni" else None
        frames = all_frames[rows]
        table = read_predictions(files[video], frames=expected)
        position = _rows_for_frames(table["frame"].to_numpy(), frames, files[video])
        for task in tasks_in(table):
            if task in predicted:
                predicted[task].append(task_values(table, task)[position])
                present[task].add(video)
        order.append(rows)

    frames = manifest.frames.iloc[np.concatenate(order)]
    predictions, targets, options = {}, {}, {}
    for name in tasks:
        task = get_task(name)
        if not present[name]:
            log.warning("no predictions hold %s columns: %s not scored", task.title, task.title)
            continue
        if len(present[name]) != len(needed):
            lacking = sorted(set(needed) - present[name])
            raise PredictionError(f"{pred_dir}: {task.title} columns missing from {', '.join(lacking[:10])}")
        target = task.targets(frames)
        if not task.scorable(target):
            log.warning("the annotations label no %s frame of these videos: %s not scored", task.title, task.title)
            continue
        predictions[name], targets[name] = np.concatenate(predicted[name]), target
        if task.search_thresholds is not None:
            options[name] = (task.search_thresholds(predictions[name], target) if search_thresholds
                             else {"thresholds": thresholds})
    results = score_tasks(predictions, targets, frames["video"].to_numpy(), options,
                          video_score or video_score_of(manifest))
    for name in options:
        results[name]["thresholds_source"] = ("searched on this split (optimistic here)" if search_thresholds
                                              else "given")
    if manifest.kind == "mtl" and all(t in results for t in TASKS):
        results["mtl"] = {"score": metrics.mtl_score(results["va"], results["expr"], results["au"])}
    return _plain(results)


def format_table(results: dict, title: str) -> str:
    """The scores as a fixed-width table, one metric a line."""
    lines = [title, f"{'task':<6}{'metric':<16}{'value':>8}{'frames':>10}"]
    for name, result in results.items():
        if name in TASK_REGISTRY:
            lines += get_task(name).table_lines(result)
    if "mtl" in results:
        lines.append(f"{'MTL':<6}{'score (max 3)':<16}{results['mtl']['score']:>8.4f}")
    return "\n".join(lines)


def _rows_for_frames(written: np.ndarray, wanted: np.ndarray, path: Path) -> np.ndarray:
    """Positions in a predictions table of the wanted frames; every wanted frame must be there."""
    position = np.searchsorted(written, wanted)
    found = (position < len(written)) & (written[np.clip(position, 0, len(written) - 1)] == wanted)
    if not found.all():
        absent = wanted[~found]
        raise PredictionError(f"{path}: no row for frames {absent[:10].tolist()}"
                              f"{' ...' if len(absent) > 10 else ''}")
    return position


def _plain(value):
    """numpy scalars and arrays -> JSON-ready Python values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abaw-eval",
        description="Score a predictions directory against a split's annotations with the ABAW metrics "
                    "(CCC pooled over the set, macro F1 over 8 expressions, mean F1 over 12 AUs; -5 / -1 "
                    "frames left out).")
    parser.add_argument("pred_dir", type=Path, help="predictions directory: one <video>.csv per video")
    parser.add_argument("--data-root", type=Path, required=True,
                        help="the dataset's root as unpacked (Aff-Wild2, RECOLA, BioVid), or a folder written by "
                             "abaw-synth (required)")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                        help="which dataset the root holds (default: detected from the root's layout)")
    parser.add_argument("--folds", type=Path, default=None,
                        help="a fold file (abaw-data --folds), for a dataset split by subject (BioVid): --split "
                             "names a part of fold --fold (default: none)")
    parser.add_argument("--fold", type=int, default=0, help="the fold of --folds (default: 0)")
    parser.add_argument("--annotations", type=Path, default=None,
                        help="annotations folder to use when the root holds several editions' (default: the only "
                             "one found)")
    parser.add_argument("--split", choices=("train", "val", "dev", "test"), default="val",
                        help="split whose labels to score: one the dataset labels (Aff-Wild2 train, val; RECOLA "
                             "train, dev; BioVid the train, val and test parts of a fold) (default: val)")
    parser.add_argument("--tasks", default=None,
                        help="comma-separated tasks to score (default: the dataset's: va,expr,au for Aff-Wild2)")
    parser.add_argument("--mtl", action="store_true",
                        help="score the MTL set's static frames (MTL_Challenge files) instead of whole videos, and "
                             "add the MTL score (default: off)")
    parser.add_argument("--thresholds", type=Path, default=None,
                        help="AU thresholds: an abaw-eval --json file or a JSON list of 12 (default: 0.5 for every "
                             "AU)")
    parser.add_argument("--search-thresholds", action="store_true",
                        help="search per-AU thresholds on this split instead of using --thresholds (optimistic "
                             "here; write them with --json and pass that file to abaw-submit --thresholds) "
                             "(default: off)")
    parser.add_argument("--allow-mixed-runs", action="store_true",
                        help="score a predictions directory whose files different runs wrote (by default an "
                             "error: PRED_DIR/written_by/ records the run of each file) (default: off)")
    parser.add_argument("--video-score", choices=("pooled", "per_video"), default=None,
                        help="pooled: each metric over all frames at once (ABAW); per_video: also valence/arousal "
                             "per video, averaged over the videos (AVEC), each score labelled (default: the "
                             "dataset's convention: pooled for Aff-Wild2, per_video for RECOLA)")
    parser.add_argument("--json", type=Path, default=None,
                        help="write the scores to this JSON file (default: printed only)")
    parser.add_argument("--plots", type=Path, default=None, metavar="DIR",
                        help="write PNG plots into DIR: predicted and annotated valence/arousal over a few videos, "
                             "the expression confusion matrix, the F1 of each AU (default: no plots)")
    return parser


@command("abaw-eval")
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    tasks = tuple(t.strip() for t in (args.tasks or "").split(",") if t.strip())
    unknown = [t for t in tasks if t not in TASK_REGISTRY]
    if unknown:
        print(f"abaw-eval: unknown task(s) {unknown}; choose from {list(TASK_REGISTRY)}", file=sys.stderr)
        return 2
    if args.thresholds and args.search_thresholds:  # one would silently replace the other
        print("abaw-eval: --thresholds and --search-thresholds exclude each other: give one", file=sys.stderr)
        return 2
    options = DataConfig(folds=str(args.folds) if args.folds else None, fold=args.fold)
    kind, layout = open_dataset(args.data_root, args.dataset, args.annotations, options)
    tasks = tasks or kind.tasks
    manifest = (build_mtl_manifest(layout, args.split) if args.mtl
                else kind.build_manifest(layout, args.split, tasks, options.retention))
    thresholds = load_thresholds(args.thresholds) if args.thresholds else 0.5
    results = evaluate(args.pred_dir, manifest, tasks, thresholds, args.search_thresholds, args.allow_mixed_runs,
                       args.video_score)
    what = "MTL set" if args.mtl else "uni-task challenges"
    print(format_table(results, f"{args.pred_dir} on the {args.split} split ({what})"))
    if args.json:
        write_json(args.json, results)
        print(f"scores written to {args.json}")
    if args.plots:
        written = write_plots(args.pred_dir, manifest, results, args.plots)
        print(f"{len(written)} plots written to {args.plots}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
