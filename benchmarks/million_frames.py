"""Peak memory and time of abaw-predict + abaw-submit on synthetic test splits of 100,000 and 1,000,000 frames.

    python benchmarks/million_frames.py [--sizes 100000 1000000] [--work runs/bench_million]

Each split is made once with abaw-synth's Python API (``generate``) in the organisers' layout: test videos of
about 4 minutes (the real test videos' scale), all but 4 of the videos in the test split. To write a million
frames in minutes, each rendered face is held for ``HOLD`` frames (``SynthParams.hold_frames``: the crops of
a run are hard links to one JPEG, every frame still has its own file), video frames are 160x120 and audio is
8 kHz mono. The readers see the same files and names as anywhere else: every crop is still opened and decoded.

The model is tiny on purpose (``recipes/configs/tiny.yaml``, visual only, random weights): the point is the data
path's memory and time, not the backbone's. ``abaw-predict`` (cached path, 2 loader workers) and
``abaw-submit --edition 5`` (one file per challenge in the sample files' order, then its own check) run as
subprocesses; their memory is sampled every 0.2 s as the sum over the process and all its children (loader
workers) of the resident set size (RSS, which counts pages shared between processes in each) and of the
proportional set size (PSS, which splits them), and the largest RSS of one process (what ``/usr/bin/time -v``
reports). The libraries a process maps (torch alone is about 0.5 GiB) are shared by the forked workers: the RSS
sum counts them once per process. Each process runs one torch thread (``OMP_NUM_THREADS=1``).

Writes benchmarks/results/million_frames.json and prints a table.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import torch

from abaw.config import load_config, save_config
from abaw.data.layout import discover
from abaw.data.manifest import build_manifest
from abaw.data.synthetic import SynthParams, generate
from abaw.engine.checkpoint import save_best
from abaw.io import write_json
from abaw.models import build_model

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 240.0  # mean video length
MEAN_FPS = 27.5  # the synthetic videos are 25 or 30 fps
HOLD = 25  # frames per rendered face
GIB = 2**30


def synthetic_split(folder: Path, frames: int) -> Path:
    """A synthetic Aff-Wild2 whose test split holds about ``frames`` frames (made once, reused after)."""
    if (folder / "synthetic.json").is_file():
        return folder
    test = max(2, round(frames / (SECONDS * MEAN_FPS)))
    videos = test + 4  # and 2 train, 2 validation videos: the fewest abaw-synth makes
    params = SynthParams(hold_frames=HOLD, frame_sizes=((160, 120),), sample_rates=(8000,), stereo_p=0.0,
                         val_fraction=0.0, test_fraction=test / videos)
    started = time.perf_counter()
    generate(folder, seed=0, videos=videos, seconds=SECONDS, params=params, overwrite=True)
    print(f"abaw-synth: {folder} in {time.perf_counter() - started:.0f} s")
    return folder


def tiny_run(run_dir: Path) -> Path:
    """A visual-only run folder of the tiny config with random weights."""
    if not (run_dir / "best").is_dir():
        config = load_config(ROOT / "recipes/configs/tiny.yaml", ["model.modalities=[visual]"])
        torch.manual_seed(0)
        save_config(config, run_dir / "config.yaml")
        save_best(build_model(config.model), run_dir, {"epoch": 0})
    return run_dir


def measure(command: list[str], interval: float = 0.2) -> dict:
    """Run a command; its wall time and the peak, over time, of the summed RSS and PSS of its process tree."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = {"rss": 0, "pss": 0, "largest_rss": 0}
    root = psutil.Process(process.pid)

    def sample() -> None:
        while process.poll() is None:
            rss = pss = 0
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for proc in tree:
                try:
                    info = proc.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                rss, pss = rss + info.rss, pss + info.pss
                peak["largest_rss"] = max(peak["largest_rss"], info.rss)
            peak["rss"], peak["pss"] = max(peak["rss"], rss), max(peak["pss"], pss)
            time.sleep(interval)

    sampler = threading.Thread(target=sample)
    sampler.start()
    output = process.communicate()[0]
    sampler.join()
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return {"seconds": round(time.perf_counter() - started, 1), "peak_rss_gib": round(peak["rss"] / GIB, 3),
            "peak_pss_gib": round(peak["pss"] / GIB, 3), "largest_process_rss_gib": round(peak["largest_rss"] / GIB, 3),
            "output": [line for line in output.strip().splitlines()[-3:] if "\r" not in line]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="test frames")
    parser.add_argument("--work", type=Path, default=ROOT / "runs/bench_million")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=2, help="abaw-predict's loader workers")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/million_frames.json")
    args = parser.parse_args()
    run = tiny_run(args.work / "run")
    results = {"machine": f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} CPU cores, "
                          f"{psutil.virtual_memory().total / GIB:.0f} GiB RAM",
               "load_average_before": [round(x, 2) for x in psutil.getloadavg()],
               "model": "recipes/configs/tiny.yaml, visual only (test_byobnet at 32 px, 2 faces over 0.2 s)",
               "synthetic": {"seconds": SECONDS, "hold_frames": HOLD, "frame_size": [160, 120],
                             "audio_rate": 8000},
               "sizes": {}}
    for size in args.sizes:
        data = synthetic_split(args.work / f"synth_{size}", size)
        n_frames = len(build_manifest(discover(data), "test"))
        pred, sub = args.work / f"pred_{size}", args.work / f"sub_{size}"
        # One torch thread per process: on a CPU shared with other jobs, two OpenMP threads per process can run
        # many times slower than one (they spin waiting for each other).
        env_cache = ["env", f"ABAW_CACHE={args.work / 'cache'}", "OMP_NUM_THREADS=1"]
        predict = measure([*env_cache, sys.executable, "-m", "abaw.predict", str(run), "--data-root", str(data),
                           "--split", "test", "--out", str(pred), "--batch-size", str(args.batch_size),
                           "--num-workers", str(args.num_workers)])
        submit = measure([*env_cache, sys.executable, "-m", "abaw.submit.cli", str(pred), "--data-root", str(data),
                          "--edition", "5", "--out", str(sub), "--tasks", "va,expr,au"])
        rows = sum(sum(1 for _ in open(f)) - 1 for f in sub.glob("*.txt"))
        results["sizes"][str(size)] = {"test_frames": n_frames, "submission_rows": rows, "predict": predict,
                                       "submit": submit}
        print(f"{n_frames:>9} frames: abaw-predict {predict['seconds']:7.1f} s, peak RSS {predict['peak_rss_gib']:.2f}"
              f" GiB (PSS {predict['peak_pss_gib']:.2f}); abaw-submit {submit['seconds']:6.1f} s ({rows} rows), "
              f"peak RSS {submit['peak_rss_gib']:.2f} GiB (PSS {submit['peak_pss_gib']:.2f})")
    results["load_average_after"] = [round(x, 2) for x in psutil.getloadavg()]
    if len(args.sizes) > 1:
        small, large = (results["sizes"][str(s)] for s in (min(args.sizes), max(args.sizes)))
        frames = large["test_frames"] / small["test_frames"]
        for step in ("predict", "submit"):
            print(f"{step}: {frames:.1f}x the frames -> {large[step]['seconds'] / small[step]['seconds']:.1f}x the "
                  f"time, {large[step]['peak_rss_gib'] / small[step]['peak_rss_gib']:.2f}x the peak RSS")
    write_json(args.out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
