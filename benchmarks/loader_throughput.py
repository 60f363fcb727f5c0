"""How fast can faces be fed to a model? The toolkit's clip loader against a per-frame PIL loader (what public
ABAW code does) and against decoding each JPEG once, then the same loader reading the memory-mapped frame
cache (``data.face_cache=frames``) instead of the JPEGs.

    python benchmarks/loader_throughput.py --data-root data/synth [--workers 2] [--clips 3072]
        [--batch-size 256] [--repeats 3]

Every loader is a DataLoader with the same workers, batch size and clips (training windows of 6 faces over
the past 2 s at 112 px, no augmentation, no audio); throughput is faces delivered per second, the median of
``--repeats`` timed epochs after one warm-up epoch (workers started, files in the page cache), the loaders
timed in turn so that a change of load on the machine falls on all of them.

- ``raw decode``: every JPEG of the same number of faces, decoded once (PIL, RGB, uint8): the bound for any
  loader that decodes JPEGs.
- ``per-frame PIL``: each window's T crops opened with ``PIL.Image.open`` and turned into float tensors by
  torchvision's ``ToTensor``, one by one, then stacked.
- ``toolkit, JPEG``: ``abaw.engine.data.loaders`` as training uses it (uint8 windows, labels, masks).
- ``toolkit, frame cache``: the same loader, reading the frame cache (built once first; its time is reported).

Writes benchmarks/results/loader_throughput.json and prints a table.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from abaw.config import load_config
from abaw.data.clips import ClipDataset
from abaw.engine.data import EpochSampler, loaders, training_data
from abaw.io import write_json
from abaw.tasks import frame_image_name

ROOT = Path(__file__).resolve().parents[1]


class RawDecode(Dataset):
    """One JPEG per item, decoded to uint8 RGB."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        with Image.open(self.paths[index]) as image:
            return torch.from_numpy(np.asarray(image.convert("RGB")).copy())


class PerFramePIL(Dataset):
    """The windows of a clip dataset, read as public ABAW code reads them: per frame, PIL + ToTensor."""

    def __init__(self, clips: ClipDataset):
        self.clips = clips
        self.to_tensor = transforms.ToTensor()
        self.va, self.expr, self.au = clips.manifest.va(), clips.manifest.expr(), clips.manifest.au()

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = int(self.clips.rows[index])
        name = self.clips.manifest.frames["video"].iloc[row]
        folder = Path(self.clips.manifest.videos.at[name, "crop_folder"])
        faces = []
        for frame in self.clips.shown_faces(row):
            image = Image.open(folder / frame_image_name(int(frame))).convert("RGB")
            faces.append(self.to_tensor(image))
        return {"faces": torch.stack(faces), "va": torch.tensor(self.va[row]), "expr": torch.tensor(self.expr[row]),
                "au": torch.tensor(self.au[row])}


def faces_per_second(loader: DataLoader, faces_per_item: int, epoch: int) -> float:
    if hasattr(loader.sampler, "set_epoch"):  # a fresh draw of clips, as each training epoch
        loader.sampler.set_epoch(epoch)
    started, faces = time.perf_counter(), 0
    for batch in loader:
        first = batch["faces"] if isinstance(batch, dict) else batch
        faces += len(first) * faces_per_item
    return faces / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data/synth")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clips", type=int, default=3072, help="clips per timed epoch")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", default="runs/bench_loader/cache", help="where the frame cache is built")
    args = parser.parse_args()
    overrides = [f"data.root={args.data_root}", f"data.cache_dir={args.cache_dir}", "data.window_frames=6",
                 "data.window_seconds=2.0", "model.image_size=112", "model.modalities=[visual]", "data.augment=false",
                 f"data.num_workers={args.workers}", f"data.train_clips={args.clips}",
                 f"train.batch_size={args.batch_size}"]
    config = load_config(ROOT / "recipes/configs/demo.yaml", overrides)
    frames = config.data.window_frames
    train, val = training_data(config)
    shutil.rmtree(Path(args.cache_dir) / "frames", ignore_errors=True)  # the build is timed from scratch
    started = time.perf_counter()
    cached_config = load_config(ROOT / "recipes/configs/demo.yaml", [*overrides, "data.face_cache=frames"])
    cached_train, cached_val = training_data(cached_config)
    cache_seconds = time.perf_counter() - started
    cache = cached_train.dataset.face_cache
    crops = sum(len(c) for c in cache.crops.values())

    common = {"batch_size": args.batch_size, "num_workers": args.workers, "persistent_workers": args.workers > 0}
    sampler = EpochSampler(len(train.dataset), args.clips, seed=0)
    videos = train.dataset.manifest.videos
    paths = [Path(folder) / frame_image_name(int(f))
             for folder, crops_of_video in zip(videos["crop_folder"], videos["crops"]) if folder
             for f in crops_of_video][: args.clips * frames]
    runs = {
        "raw decode": (DataLoader(RawDecode(paths), batch_size=args.batch_size * frames,
                                  num_workers=args.workers, persistent_workers=args.workers > 0), 1),
        "per-frame PIL": (DataLoader(PerFramePIL(train.dataset), sampler=sampler, **common), frames),
        "toolkit, JPEG": (loaders(config, train.dataset, val.dataset)[0], frames),
        "toolkit, frame cache": (loaders(cached_config, cached_train.dataset, cached_val.dataset)[0], frames),
    }
    for loader, per_item in runs.values():  # warm-up: workers up, files in the page cache
        faces_per_second(loader, per_item, epoch=0)
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for repeat in range(args.repeats):
        for name, (loader, per_item) in runs.items():
            rates[name].append(faces_per_second(loader, per_item, epoch=1 + repeat))
    median = {name: statistics.median(values) for name, values in rates.items()}
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "load_average_after": os.getloadavg(), "workers": args.workers, "batch_size": args.batch_size,
        "clips": args.clips, "frames_per_clip": frames, "image_size": config.model.image_size,
        "frame_cache": {"seconds_to_build": round(cache_seconds, 1), "crops": crops,
                        "bytes": sum(p.stat().st_size for p in cache.folder.glob("*.npy"))},
        "faces_per_second": {name: round(v) for name, v in median.items()},
        "all_repeats": {name: [round(v) for v in values] for name, values in rates.items()},
        "ratio_to_per_frame_pil": {name: round(v / median["per-frame PIL"], 2) for name, v in median.items()},
    }
    print(f"| loader | faces/s | x per-frame PIL | x raw decode |")
    print("|---|---:|---:|---:|")
    for name, value in median.items():
        print(f"| {name} | {value:,.0f} | {value / median['per-frame PIL']:.2f} | {value / median['raw decode']:.2f} |")
    print(f"frame cache: {crops} crops, {results['frame_cache']['bytes'] / 2**20:.0f} MiB, built in "
          f"{cache_seconds:.1f} s (manifests included); load average after: {results['load_average_after']}")
    path = ROOT / "benchmarks" / "results" / "loader_throughput.json"
    write_json(path, results)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
