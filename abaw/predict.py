"""``abaw-predict``: a trained run's predictions for every frame of every video of a split.

    abaw-predict RUN_DIR --data-root ROOT --split {train,val,test} --out PRED_DIR [--mtl]
    abaw-predict RUN_DIR --video FILE [--out DIR] [--render]      (any video file: abaw.faces.predict_video)

Writes one ``<video>.csv`` per video (the predictions format of docs/design.md), frames without a face included: their
clips show the retained face, as in training. Each file is written as soon as its video is predicted, so memory
does not grow with the split. By default the visual backbone runs once per distinct face crop, and every window
is gathered from those features (``abaw.data.video_batches``); ``--per-window`` runs it on each window's T
faces instead, as training does. In eval mode both give the same values up to float rounding. Several
processes (``accelerate launch``) share out the videos, and each process writes its own.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader

from abaw.config import load_config
from abaw.data.manifest import Manifest, build_mtl_manifest
from abaw.data.video_batches import VideoBatches, windows_from_table
from abaw.engine.checkpoint import load_weights, weights_path
from abaw.datasets import open_dataset
from abaw.engine.data import clip_dataset, clip_streams
from abaw.engine.loop import task_predictions
from abaw.errors import command
from abaw.faces import predict_video
from abaw.models import build_model
from abaw.folder_lock import hold_folder
from abaw.prediction_files import (PredictionError, PredictionsLog, run_identity, run_record, write_predictions,
                              writers)
from abaw.progress import progress_bar

log = logging.getLogger("abaw.predict")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abaw-predict", description="Predict every frame of a split with a trained run's best checkpoint.")
    parser.add_argument("run_dir", type=Path, help="run folder written by a recipe (config.yaml, best/)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="Aff-Wild2 root as unpacked, or a folder written by abaw-synth (required unless --video "
                             "is given)")
    parser.add_argument("--annotations", type=Path, default=None,
                        help="annotations folder to use when the root holds several editions' (default: the only "
                             "one found)")
    parser.add_argument("--split", choices=("train", "val", "test"), default=None,
                        help="split to predict (required unless --video is given)")
    parser.add_argument("--out", type=Path, default=None,
                        help="predictions directory to write, created if needed; a video's file is replaced "
                             "(required unless --video is given; with it, default: <video>_predictions beside "
                             "the video file)")
    parser.add_argument("--mtl", action="store_true",
                        help="predict the MTL set's static frames instead of whole videos, with the windows "
                             "the run's data.mtl_window says (default: off)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="which weights: the best validation epoch's, or the last epoch's (default: best)")
    parser.add_argument("--batch-size", type=at_least(1), default=64, help="frames per forward pass (default: 64)")
    parser.add_argument("--num-workers", type=at_least(0), default=2,
                        help="DataLoader worker processes; 0 loads in the main process (default: 2)")
    parser.add_argument("--per-window", action="store_true",
                        help="run the visual backbone on every window's T faces (T times the work) instead of "
                             "once per face crop; the reference the cached path is tested against (default: off)")
    predict_video.add_arguments(parser)
    return parser


@command("abaw-predict")
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.video is not None:
        if args.data_root is not None or args.split is not None or args.mtl:
            parser.error("--video predicts one file: --data-root, --split and --mtl are for a data root's split")
        return predict_video.run_from_args(args)
    if args.data_root is None or args.split is None or args.out is None:
        parser.error("--data-root, --split and --out are required (or --video FILE)")
    if args.render:
        parser.error("--render draws a --video's predictions")
    config = load_config(args.run_dir / "config.yaml")
    model = load_weights(build_model(config.model), args.run_dir, args.checkpoint)
    kind, layout = open_dataset(args.data_root, config.data.dataset, args.annotations, config.data)
    manifest = (build_mtl_manifest(layout, args.split, config.data.retention) if args.mtl
                else kind.build_manifest(layout, args.split, config.data.tasks, config.data.retention))
    accelerator = Accelerator()
    with accelerator.main_process_first():  # one process decodes each video's audio; the others read the cache
        dataset = clip_dataset(config, manifest, layout, streams=clip_streams(config, model), mtl=args.mtl)
    videos = share_videos(dataset.video_rows(), accelerator.num_processes)[accelerator.process_index]
    batches = VideoBatches(dataset, videos, args.batch_size, per_window=args.per_window)
    loader = DataLoader(batches, batch_size=None, num_workers=args.num_workers)
    started = time.perf_counter()
    with hold_folder(args.out, "predictions folder", enabled=accelerator.is_main_process):
        run = run_record(args.run_dir, weights_path(args.run_dir, args.checkpoint), args.checkpoint)
        if accelerator.is_main_process:
            _warn_of_other_runs(args.out, run, manifest)
        written_by = PredictionsLog(args.out, run)
        n_frames = predict_videos(model.to(accelerator.device), loader, manifest, args.out, accelerator, written_by)
    totals = accelerator.reduce(torch.tensor([n_frames, len(videos)], device=accelerator.device), "sum").tolist()
    if accelerator.is_main_process:
        seconds = time.perf_counter() - started
        print(f"wrote predictions of {totals[1]} videos ({totals[0]} frames, {totals[0] / seconds:.0f} frames/s) "
              f"to {args.out}")
    return 0


def at_least(minimum: int):
    """An argparse type: an integer no smaller than ``minimum`` (a usage error otherwise)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, found {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, found {value}")
        return value
    return parse


def _warn_of_other_runs(out: Path, run: dict, manifest: Manifest) -> None:
    """Say so when the folder already holds predictions of another run for videos this run writes: until it
    has written them all, the folder mixes two runs (which abaw-eval and abaw-submit refuse)."""
    if not out.is_dir():
        return
    videos = [v for v in manifest.videos.index if (out / f"{v}.csv").is_file()]
    others = [v for v, writer in writers(out, videos).items()
              if writer is None or run_identity(writer) != run_identity(run)]
    if others:
        log.warning("%s holds predictions of another run (or of no recorded run) for %d of the %d videos "
                    "predicted now; they are replaced one by one, and until all are, the folder mixes two runs",
                    out, len(others), len(manifest.videos))


def share_videos(video_rows: dict[int, np.ndarray], processes: int) -> list[list[int]]:
    """Deal the videos out to processes, longest first to the least loaded, so that each predicts about as
    many frames; each process's videos in code order.

    Args:
        video_rows: video code -> its rows (``ClipDataset.video_rows``).
        processes: how many processes share them.
    """
    shares: list[list[int]] = [[] for _ in range(processes)]
    loads = [0] * processes
    for video in sorted(video_rows, key=lambda v: (-len(video_rows[v]), v)):
        least = loads.index(min(loads))
        shares[least].append(video)
        loads[least] += len(video_rows[video])
    return [sorted(share) for share in shares]


@torch.no_grad()
def predict_videos(model: nn.Module, loader: DataLoader, manifest: Manifest, out_dir: Path,
                   accelerator: Accelerator, written_by: PredictionsLog | None = None) -> int:
    """Predict the batches of a :class:`~abaw.data.video_batches.VideoBatches` loader and write each video's
    predictions file as soon as its last batch is done.

    Cached batches go through the visual encoder's ``frame_features`` once per new crop and reach the model as
    ``face_features`` windows; per-window batches reach it as they are.

    Args:
        model: the multitask model, on ``accelerator.device``; it is put in eval mode.
        loader: batches of one video each, in order (``DataLoader(VideoBatches(...), batch_size=None)``).
        manifest: the manifest the batches' rows index.
        out_dir: the predictions directory.
        accelerator: for the device and mixed precision.
        written_by: the log that records each file written as this run's (``abaw.prediction_files``).

    Returns:
        The number of frames written.
    """
    model.eval()
    visual = next((e for e in model.encoders.values() if getattr(e, "features_key", None)), None)
    names = manifest.frames["video"].cat.categories
    frame_numbers = manifest.frames["frame"].to_numpy()
    parts: dict[str, list[np.ndarray]] = {"row": []}  # and one list per task the model predicts
    table, written = None, 0
    for batch in progress_bar(loader, desc="predicting", unit="batch", leave=False,
                              enabled=accelerator.is_local_main_process):
        batch = {key: value.to(accelerator.device) for key, value in batch.items()}
        with accelerator.autocast():
            if "window" in batch:
                if visual is None:
                    raise ValueError("cached batches need a visual encoder with frame_features; use per-window "
                                     "batches for this model")
                windows, table = windows_from_table(table, visual.frame_features(batch.pop("faces")),
                                                    batch.pop("reuse"), batch.pop("window"))
                batch[visual.features_key] = windows
            outputs = task_predictions(model(batch))
        parts["row"].append(batch["row"].cpu().numpy())
        for task, values in outputs.items():
            parts.setdefault(task, []).append(values.cpu().numpy())
        if batch["last"]:
            rows = np.concatenate(parts["row"])
            outputs = {task: np.concatenate(values) for task, values in parts.items() if task != "row"}
            video = names[int(batch["video"])]
            broken = ~np.all([np.isfinite(values).all(axis=1) for values in outputs.values()], axis=0)
            if broken.any():  # NaN weights (a diverged run): nothing to write that any reader would accept
                raise PredictionError(f"{Path(out_dir) / video}.csv: the model predicts NaN or infinite values for "
                                      f"{int(broken.sum())} of {len(rows)} frames, so its weights are broken "
                                      f"(a diverged run?); nothing was written for this video")
            path = write_predictions(out_dir, video, frame_numbers[rows], outputs)
            if written_by is not None:
                written_by.record(path)
            written += len(rows)
            parts = {key: [] for key in parts}
            table = None
    return written


if __name__ == "__main__":
    raise SystemExit(main())
