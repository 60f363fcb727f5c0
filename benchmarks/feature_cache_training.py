"""Training on cached backbone features against training on the images, with the same frozen backbone.

    python benchmarks/feature_cache_training.py [--backbone seresnext26d_32x4d] [--videos 12] [--seconds 8]
        [--epochs 2] [--clips 256]

Writes a synthetic set of its own (``abaw-synth``, seed 0) and trains with ``recipes/mtl_teacher.py`` and
``recipes/configs/demo.yaml`` at the paper's window of 6 faces over 2 s and 112 px, with
``model.freeze_backbone=true`` and ``data.augment=false``, two models in two ways each:

- models: visual-only (``model.modalities=[visual]``: the visual path is the whole model, as for a student)
  and audio-visual (the teacher; its audio encoder is not cached, and bounds the speed-up);
- ``images``: every step decodes the window's JPEGs and runs the frozen backbone on its 6 faces;
- ``features``: ``data.face_cache=features``; the backbone runs once per crop, before training (the first
  features run builds the cache, the second finds it), and every step reads the cached features.

The backbone is an SE-ResNeXt-26 (timm ``seresnext26d_32x4d``, 14.8 M parameters, 2,048 features) with random
weights (``pretrained=False``: nothing is downloaded; a frozen random backbone costs the same time as a
pretrained one). It prints the seconds of each epoch (training plus validation, from ``metrics.csv``), the
time spent outside the epochs (data, and the cache), and the validation metrics, which must be the same for
both inputs.

Writes benchmarks/results/feature_cache_training.json.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import shutil
import time
from pathlib import Path

import torch

from abaw.data.synthetic import generate
from abaw.io import write_json

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("val_ccc_valence", "val_ccc_arousal", "val_expr_f1", "val_au_f1", "val_score")


def teacher_recipe():
    spec = importlib.util.spec_from_file_location("mtl_teacher", ROOT / "recipes" / "mtl_teacher.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="seresnext26d_32x4d")
    parser.add_argument("--videos", type=int, default=12, help="videos of the synthetic set")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each synthetic video")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--clips", type=int, default=256, help="training clips per epoch")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--val-stride", type=int, default=8)
    parser.add_argument("--out", default="runs/bench_feature_cache")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    data_root = generate(out / "data", seed=0, videos=args.videos, seconds=args.seconds)
    common = ["--config", str(ROOT / "recipes/configs/demo.yaml"), f"data.root={data_root}",
              f"data.cache_dir={out / 'cache'}", f"model.backbone={args.backbone}", "model.image_size=112",
              "data.window_frames=6", "data.window_seconds=2.0", "model.freeze_backbone=true", "data.augment=false",
              f"train.epochs={args.epochs}", f"data.train_clips={args.clips}", f"train.batch_size={args.batch_size}",
              f"data.val_stride={args.val_stride}"]
    recipe = teacher_recipe()
    runs = {}
    for model, modalities in (("visual-only", "[visual]"), ("audio-visual", "[visual,audio]")):
        for inputs, cache in (("images", "none"), ("features", "features")):
            run = out / f"{model}_{inputs}"
            started = time.perf_counter()
            assert recipe([*common, f"model.modalities={modalities}", f"data.face_cache={cache}",
                           f"train.out_dir={run}"]) == 0
            total = time.perf_counter() - started
            with open(run / "metrics.csv") as f:
                rows = list(csv.DictReader(f))
            epochs = [float(r["seconds"]) for r in rows]
            runs[f"{model}, {inputs}"] = {
                "epoch_seconds": epochs, "seconds_outside_epochs": round(total - sum(epochs), 1),
                "metrics": [{m: float(r[m]) for m in METRICS} for r in rows],
                "train_loss": [float(r["train_loss"]) for r in rows]}
    manifest = json.loads(next((out / "cache" / "features").glob("*/manifest.json")).read_text())
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        "load_average_after": os.getloadavg(), "backbone": args.backbone, "image_size": 112, "window_frames": 6,
        "synthetic_set": {"videos": args.videos, "seconds": args.seconds,
                          "cached_crops": sum(v["crops"] for v in manifest["videos"].values())},
        "clips_per_epoch": args.clips, "batch_size": args.batch_size, "val_stride": args.val_stride,
        "runs": runs, "speedup_per_epoch": {}, "largest_validation_metric_gap": {},
    }
    print("| model, input | " + " | ".join(f"epoch {k + 1} s" for k in range(args.epochs)) + " | outside epochs s | "
          + " | ".join(METRICS) + " |")
    print("|---|" + "---:|" * (args.epochs + 1 + len(METRICS)))
    for name, run in runs.items():
        print(f"| {name} | " + " | ".join(f"{s:.1f}" for s in run["epoch_seconds"])
              + f" | {run['seconds_outside_epochs']:.1f} | "
              + " | ".join(f"{run['metrics'][-1][m]:.4f}" for m in METRICS) + " |")
    for model in ("visual-only", "audio-visual"):
        images, features = runs[f"{model}, images"], runs[f"{model}, features"]
        speedup = [a / b for a, b in zip(images["epoch_seconds"], features["epoch_seconds"])]
        gap = max(abs(a[m] - b[m]) for a, b in zip(images["metrics"], features["metrics"]) for m in METRICS)
        results["speedup_per_epoch"][model] = [round(x, 1) for x in speedup]
        results["largest_validation_metric_gap"][model] = gap
        print(f"{model}: speed-up per epoch {', '.join(f'{x:.1f}x' for x in speedup)}; largest gap between the "
              f"validation metrics of the two inputs, over all epochs: {gap:.2e}")
    print(f"{results['synthetic_set']['cached_crops']} crops cached; load average after: "
          f"{results['load_average_after']}")
    path = ROOT / "benchmarks" / "results" / "feature_cache_training.json"
    write_json(path, results)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
