"""Inference throughput of abaw-predict: cached embeddings vs per-window vs the backbone's bare forward.

    python benchmarks/inference_throughput.py [--backbone seresnext26d_32x4d] [--work runs/bench_inference]

The model is ``recipes/configs/student.yaml``'s visual-only student (backbone at 112 px, LSTM(512) over a
past window of T = 6 faces spanning 2 s, concat fusion 1024-512, heads) with an SE-ResNeXt-26
(``seresnext26d_32x4d``) instead of the SE-ResNeXt-50, to keep a CPU run short; random weights (the speed
does not depend on them). The data is the test split of ``abaw-synth --videos 6 --seconds 8`` (2 test
videos, 112x112 JPEG crops). Three measurements, in one run, one after the other:

1. bare: ``VisualEncoder.frame_features`` on batches of 64 random 112x112 uint8 faces (eval mode, no grad),
   after a warm-up: the limit, what the backbone alone can do. Measured first and again last; the faster of
   the two counts.
2. cached: ``abaw-predict`` (its ``main``, in this process), which prints the frames/s of its prediction loop:
   loading and decoding the crops (``--num-workers`` loader workers, 1 by default), the backbone once per
   crop, the LSTM over the windows gathered from the cached features, fusion, heads, and writing the files.
3. per-window: the same with ``--per-window``: the backbone on each window's T faces.

All three run in this process with ``--threads`` torch threads (default 1); the loader workers decode the
crops. Writes benchmarks/results/inference_throughput.json and prints the frames/s and their ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import re
import time
from pathlib import Path

import psutil
import torch

from abaw.config import load_config, save_config
from abaw.data.layout import discover
from abaw.data.manifest import build_manifest
from abaw.data.synthetic import generate
from abaw.engine.checkpoint import save_best
from abaw.io import write_json
from abaw.models import build_model
from abaw.predict import main as predict_main

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 8.0  # mean video length: 2 test videos of about 220 frames


def bare_backbone(model: torch.nn.Module, image_size: int, batch: int = 64, batches: int = 12) -> float:
    """Frames/s of the visual backbone alone on random uint8 faces, after two warm-up batches."""
    visual = model.encoders["visual"].eval()
    faces = torch.randint(0, 256, (batch, 3, image_size, image_size), dtype=torch.uint8)
    with torch.no_grad():
        for _ in range(2):
            visual.frame_features(faces)
        started = time.perf_counter()
        for _ in range(batches):
            visual.frame_features(faces)
    return batch * batches / (time.perf_counter() - started)


def predicted_rate(argv: list[str]) -> tuple[float, float]:
    """abaw-predict's own frames/s (its prediction loop) and the whole command's wall time."""
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        assert predict_main(argv) == 0
    wall = time.perf_counter() - started
    rate = re.search(r"([\d.]+) frames/s", out.getvalue())
    return float(rate.group(1)), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="seresnext26d_32x4d")
    parser.add_argument("--config", default=str(ROOT / "recipes/configs/student.yaml"))
    parser.add_argument("--work", type=Path, default=ROOT / "runs/bench_inference")
    parser.add_argument("--batch-size", type=int, default=64)
    # One thread by default: on a CPU shared with other jobs, two OpenMP threads can run many times slower than
    # one (they spin waiting for each other), which would distort the three measurements unequally.
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the predicting process")
    # One decoding worker by default: with one torch thread, the model has one core and the decoder the other;
    # a second worker would take CPU time from the model, and one decodes far faster than the backbone runs.
    parser.add_argument("--num-workers", type=int, default=1, help="abaw-predict's loader workers")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/inference_throughput.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = args.work / "synth"
    if not (data / "synthetic.json").is_file():
        generate(data, seed=0, videos=6, seconds=SECONDS, overwrite=True, progress=False)
    config = load_config(args.config, [f"model.backbone={args.backbone}", f"data.root={data}"])
    run = args.work / "run"
    torch.manual_seed(0)
    model = build_model(config.model)
    save_config(config, run / "config.yaml")
    save_best(model, run, {"epoch": 0})
    os.environ["ABAW_CACHE"] = str(args.work / "cache")
    frames = len(build_manifest(discover(data), "test"))
    window = config.data.window_frames

    load_before = psutil.getloadavg()
    bare_first = bare_backbone(model, config.model.image_size, args.batch_size)
    print(f"bare backbone {bare_first:8.1f} frames/s", flush=True)
    common = [str(run), "--data-root", str(data), "--split", "test", "--batch-size", str(args.batch_size),
              "--num-workers", str(args.num_workers)]
    cached, cached_wall = predicted_rate([*common, "--out", str(args.work / "pred_cached")])
    print(f"cached        {cached:8.1f} frames/s", flush=True)
    per_window, per_window_wall = predicted_rate([*common, "--out", str(args.work / "pred_windows"), "--per-window"])
    print(f"per-window    {per_window:8.1f} frames/s", flush=True)
    # Measured again last: other jobs on the machine change the load over minutes, and the limit is the faster
    # of the two, which makes the cached path's ratio the conservative one.
    bare_last = bare_backbone(model, config.model.image_size, args.batch_size)
    print(f"bare backbone {bare_last:8.1f} frames/s", flush=True)
    bare = max(bare_first, bare_last)
    load_after = psutil.getloadavg()

    results = {
        "machine": f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} CPU cores, "
                   f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
        "model": f"{Path(args.config).name} with backbone {args.backbone} at {config.model.image_size} px, "
                 f"T = {window} faces over {config.data.window_seconds:g} s, LSTM({config.model.temporal_dim}), "
                 f"visual only",
        "frames": frames, "batch_size": args.batch_size,
        "frames_per_s": {"bare_backbone": round(bare, 1), "cached": round(cached, 1),
                         "per_window": round(per_window, 1),
                         "bare_backbone_first_last": [round(bare_first, 1), round(bare_last, 1)]},
        "command_seconds": {"cached": round(cached_wall, 1), "per_window": round(per_window_wall, 1)},
        "cached_over_bare": round(cached / bare, 3), "cached_over_per_window": round(cached / per_window, 2),
        "target": {"cached_over_bare": 0.85, "cached_over_per_window": round(0.9 * window, 2)},
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]},
    }
    write_json(args.out, results)
    print(f"{frames} test frames, {results['model']}")
    print(f"cached / bare backbone: {cached / bare:.3f} (target >= 0.85)")
    print(f"cached / per-window:    {cached / per_window:.2f} (target >= 0.9 x T = {0.9 * window:.1f})")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
