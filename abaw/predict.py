"""``abaw-predict``: a trained run's predictions for every frame of every video of a split.

    abaw-predict RUN_DIR --data-root ROOT --split {train,val,test} --out PRED_DIR [--mtl]

Writes one ``<video>.csv`` per video (design.md's predictions format), frames without a face included: their
clips show the retained face, as in training.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
from accelerate import Accelerator
from torch.utils.data import DataLoader

from abaw.config import ConfigError, load_config
from abaw.data.annotations import AnnotationError
from abaw.data.clips import ClipDataset
from abaw.data.layout import LayoutError, discover
from abaw.data.manifest import build_manifest, build_mtl_manifest
from abaw.engine.checkpoint import load_weights
from abaw.engine.data import audio_store, clip_spec, warm_audio_cache
from abaw.engine.loop import predict_rows
from abaw.models import build_model
from abaw.predictions import write_predictions


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abaw-predict", description="Predict every frame of a split with a trained run's best checkpoint.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="run folder written by a recipe (config.yaml, best/)")
    parser.add_argument("--data-root", type=Path, required=True, help="Aff-Wild2 root or abaw-synth folder")
    parser.add_argument("--annotations", type=Path, default=None,
                        help="annotations folder, when the root holds several editions'")
    parser.add_argument("--split", choices=("train", "val", "test"), required=True, help="split to predict")
    parser.add_argument("--out", type=Path, required=True, help="predictions directory to write")
    parser.add_argument("--mtl", action="store_true",
                        help="predict the MTL set's static frames instead, as the run's data.mtl_window says (still "
                             "windows by default)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which weights")
    parser.add_argument("--batch-size", type=int, default=64, help="clips per forward pass")
    parser.add_argument("--num-workers", type=int, default=2, help="DataLoader worker processes")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.run_dir / "config.yaml")
        model = load_weights(build_model(config.model), args.run_dir, args.checkpoint)
        layout = discover(args.data_root, annotations=args.annotations)
        manifest = (build_mtl_manifest(layout, args.split, config.data.retention) if args.mtl
                    else build_manifest(layout, args.split, config.data.tasks, config.data.retention))
        dataset = ClipDataset(manifest, layout, clip_spec(config, mtl=args.mtl), audio=audio_store(config))
    except (ConfigError, LayoutError, AnnotationError, FileNotFoundError) as error:
        print(f"abaw-predict: {error}", file=sys.stderr)
        return 1
    accelerator = Accelerator()
    warm_audio_cache(dataset)
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.num_workers, shuffle=False)
    model, loader = accelerator.prepare(model, loader)
    started = time.perf_counter()
    outputs = predict_rows(model, loader, accelerator)
    if accelerator.is_main_process:
        order = np.argsort(outputs["row"], kind="stable")
        outputs = {k: v[order] for k, v in outputs.items()}
        frames = manifest.frames["frame"].to_numpy()[outputs["row"]]
        videos = manifest.frames["video"].to_numpy()[outputs["row"]]
        bounds = np.flatnonzero(np.r_[True, videos[1:] != videos[:-1], True])
        for start, end in zip(bounds[:-1], bounds[1:]):
            write_predictions(args.out, videos[start], frames[start:end],
                              {task: outputs[task][start:end] for task in ("va", "expr", "au")})
        seconds = time.perf_counter() - started
        print(f"wrote predictions of {len(bounds) - 1} videos ({len(frames)} frames, "
              f"{len(frames) / seconds:.0f} frames/s) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
