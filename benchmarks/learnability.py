"""The learnability ladder: where does the visual path lose what a linear read-out of the faces finds?

On the same training and validation frames of a data root:

- (a) the ridge probe of the faces (``benchmarks/probes.py``, face features, VA);
- (b) a plain single-frame CNN written here without the toolkit: timm ``resnet10t`` on 64-px crops, the last
  face only, mean squared error on valence and arousal, AdamW, light brightness/contrast jitter;
- (c) the toolkit's visual-only model as the demo configured it before the fix (``recipes/configs/demo.yaml``
  with ``model.modalities=[visual]`` and its former CNN front-end, test_byobnet at 64 px), trained by
  ``recipes/mtl_teacher.py``;
- (d) (c) with ONE of its differences from (b) switched to (b)'s choice at a time (backbone, window + LSTM,
  CCC loss, augmentation, schedule, the batch mix of three tasks), and (c) with all of them switched;
- (e)-(g): the plain CNN of (b) with the demo's former backbone, and at the crops' full size;
- (h) the fix: the toolkit's visual-only model with the demo's config as it is (the face_hog front-end).

Each CNN is scored, as the toolkit selects its checkpoints, at its best validation epoch, and at its last
epoch. Valence CCC is the headline: a rung far below its neighbour above names the step that loses it.

    python benchmarks/learnability.py --data-root data/synth [--seeds 0 1] [--epochs 6] [--out runs/learnability]

Writes ``benchmarks/results/learnability.json`` (``--json`` to change) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import probes  # noqa: E402  (benchmarks/ is not a package)
from ablation import run_recipe  # noqa: E402

from abaw.data.layout import discover  # noqa: E402
from abaw.data.manifest import build_manifest  # noqa: E402
from abaw.io import write_json  # noqa: E402
from abaw.metrics import ccc  # noqa: E402
from abaw.tasks import VA_IGNORE  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Rung (b) and, between (a) and (b), the same plain CNN with the demo's backbone and at the crops' full size.
PLAIN = {"b": ("(b) single-frame resnet10t, MSE", "resnet10t", 64),
         "e": ("(e) (b) with the demo's test_byobnet", "test_byobnet", 64),
         "f": ("(f) (b) at 112 px", "resnet10t", 112),
         "g": ("(g) (e) at 112 px", "test_byobnet", 112)}
# (d): each entry moves ONE of (c)'s choices to (b)'s.
SWITCHES: dict[str, list[str]] = {
    "backbone resnet10t": ["model.backbone=resnet10t"],
    "no window, no LSTM": ["data.window_frames=1", "model.temporal=mean"],
    "MSE instead of CCC": ["loss.va_loss=mse"],
    "no augmentation": ["data.augment=false"],
    "constant learning rate": ["train.schedule=constant", "train.warmup_epochs=0"],
    "VA only (no EXPR/AU in the batch)": ["data.tasks=[va]"],
}


# (c) is the demo's config as it was before the fix: a CNN trained from scratch (test_byobnet at 64 px). (h) is
# the fix, the demo's config as it is: faces through the face_hog descriptor (abaw/models/hog.py).
CNN_FRONT_END = ["model.backbone=test_byobnet", "model.image_size=64"]
C_NAME = "(c) toolkit visual-only, demo config with a CNN front-end"
FIX = {"(h) toolkit visual-only, demo config (face_hog front-end)": []}


def labelled_frames(layout, split: str, stride: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, 3, size, size) crops of every ``stride``-th VA-labelled frame with a face, and (N, 2) labels."""
    manifest = build_manifest(layout, split, ("va",))
    frames = manifest.frames
    frames = frames[(frames["valence"] != VA_IGNORE) & (frames["arousal"] != VA_IGNORE) & frames["has_face"]]
    frames = frames.iloc[::stride]
    images = np.stack([
        np.asarray(Image.open(manifest.face_path(v, f)).convert("RGB").resize((size, size),
                                                                            Image.BILINEAR)).transpose(2, 0, 1)
        for v, f in zip(frames["video"], frames["face_frame"])])
    return images, frames[["valence", "arousal"]].to_numpy(np.float32)


def plain_cnn(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], seed: int, epochs: int,
              clips: int, backbone: str = "resnet10t", batch: int = 64, lr: float = 1e-3) -> dict:
    """Rung (b): a single-frame CNN with plain MSE; valence/arousal CCC on validation after every epoch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = timm.create_model(backbone, pretrained=False, num_classes=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    x_train, y_train = torch.from_numpy(np.array(train[0])), torch.from_numpy(np.array(train[1]))
    x_val = torch.from_numpy(val[0])
    history = []
    # How well it fits frames it trained on, against validation: a model that learns who the training people
    # are fits the first and not the second.
    seen = torch.from_numpy(np.random.default_rng([seed, 1]).choice(len(x_train), min(len(x_train), 1500),
                                                                   replace=False))
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(x_train))[:clips]
        for start in range(0, len(order), batch):
            idx = torch.from_numpy(order[start:start + batch])
            x = x_train[idx].float() / 255
            # Light photometric jitter, one draw per image: brightness x [0.8, 1.2], contrast x [0.8, 1.2].
            gain = torch.empty(len(x), 1, 1, 1).uniform_(0.8, 1.2)
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = ((x - mean) * torch.empty_like(gain).uniform_(0.8, 1.2) + mean) * gain
            loss = F.mse_loss(model((x - 0.5) / 0.5), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            predicted, fitted = (torch.cat([model((x[i:i + 256].float() / 255 - 0.5) / 0.5)
                                            for i in range(0, len(x), 256)]).numpy()
                                 for x in (x_val, x_train[seen]))
        history.append({"epoch": epoch + 1, "ccc_valence": float(ccc(predicted[:, 0], val[1][:, 0])),
                        "ccc_arousal": float(ccc(predicted[:, 1], val[1][:, 1])),
                        "train_ccc_valence": float(ccc(fitted[:, 0], train[1][seen, 0]))})
    return summary(history) | {"train_valence_by_epoch": [round(row["train_ccc_valence"], 4) for row in history]}


def summary(history: list[dict]) -> dict:
    """Best epoch (by mean VA CCC, as the toolkit's VA score selects) and last epoch, with the curve."""
    best = max(history, key=lambda row: row["ccc_valence"] + row["ccc_arousal"])
    return {"best_epoch": best["epoch"], "best_valence": best["ccc_valence"], "best_arousal": best["ccc_arousal"],
            "last_valence": history[-1]["ccc_valence"], "last_arousal": history[-1]["ccc_arousal"],
            "valence_by_epoch": [round(row["ccc_valence"], 4) for row in history]}


def toolkit_run(overrides: list[str], run: Path, common: list[str], epochs: int) -> dict:
    """Rungs (c) and (d): the visual-only recipe; its per-epoch validation CCCs from metrics.csv."""
    run_recipe("mtl_teacher", [*common, "model.modalities=[visual]", *overrides], run, epochs)
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return summary([{"epoch": int(r["epoch"]), "ccc_valence": float(r["val_ccc_valence"]),
                     "ccc_arousal": float(r["val_ccc_arousal"])} for r in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data/synth")
    parser.add_argument("--config", default="recipes/configs/demo.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=6, help="epochs of every CNN (the demo's: 6)")
    parser.add_argument("--clips", type=int, default=3000, help="training clips per epoch (the demo's: 3000)")
    parser.add_argument("--val-stride", type=int, default=6,
                        help="the toolkit's rungs validate on every k-th frame of each validation video (default: 6)")
    parser.add_argument("--rungs", default="abcdegh", help="which rungs to run, as letters (default: all)")
    parser.add_argument("--probe-json", type=Path, default=None,
                        help="rung (a) from this output of benchmarks/probes.py on the same data root, instead of "
                             "running the probe again")
    parser.add_argument("--out", type=Path, default=Path("runs/learnability"))
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "learnability.json")
    args = parser.parse_args()
    os.environ.setdefault("ABAW_CACHE", str(args.out / "cache"))
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    layout = discover(args.data_root)
    results: dict = {"data_root": args.data_root, "config": args.config, "epochs": args.epochs,
                     "clips": args.clips, "seeds": args.seeds, "rungs": {}}
    if args.json.is_file():  # keep the rungs of an earlier, partial run
        previous = json.loads(args.json.read_text())
        if previous.get("data_root") == args.data_root:
            results["rungs"] = previous["rungs"]

    def record(name: str, seed: int, result: dict, started: float) -> None:
        entry = results["rungs"].setdefault(name, {"seeds": {}})
        entry["seeds"][str(seed)] = result | {"seconds": round(time.perf_counter() - started, 1)}
        values = [s["best_valence"] for s in entry["seeds"].values()]
        entry["best_valence_mean"] = statistics.fmean(values)
        entry["best_valence_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        write_json(args.json, results)
        print(f"{name} (seed {seed}): best valence {result['best_valence']:.3f} (epoch {result['best_epoch']}), "
              f"last {result['last_valence']:.3f}; by epoch {result['valence_by_epoch']}", flush=True)

    if "a" in args.rungs:
        started = time.perf_counter()
        result = (json.loads(args.probe_json.read_text()) if args.probe_json else probes.run(args.data_root))
        face = next(row for row in result["rows"] if row["features"] == "face")
        record("(a) ridge probe of the faces", 0,
               {"best_epoch": 0, "best_valence": face["ccc_valence"], "best_arousal": face["ccc_arousal"],
                "last_valence": face["ccc_valence"], "last_arousal": face["ccc_arousal"], "valence_by_epoch": []},
               started)
    for rung, (name, backbone, size) in PLAIN.items():
        if rung not in args.rungs:
            continue
        train, val = labelled_frames(layout, "train", 2, size), labelled_frames(layout, "val", 3, size)
        for seed in args.seeds:
            started = time.perf_counter()
            record(name, seed, plain_cnn(train, val, seed, args.epochs, args.clips, backbone), started)
    common = ["--config", args.config, f"data.root={args.data_root}", f"train.epochs={args.epochs}",
              f"data.train_clips={args.clips}", f"data.val_stride={args.val_stride}"]
    variants = {C_NAME: CNN_FRONT_END}
    if "d" in args.rungs:
        variants |= {f"(d) (c) with {name}": [*CNN_FRONT_END, *switch] for name, switch in SWITCHES.items()}
        variants["(d) (c) with all of them"] = [*CNN_FRONT_END, *(o for switch in SWITCHES.values() for o in switch)]
    if "h" in args.rungs:
        variants = {k: v for k, v in variants.items() if "c" in args.rungs or k.startswith("(d)")} | FIX
    if "c" in args.rungs or "d" in args.rungs or "h" in args.rungs:
        for seed in args.seeds:
            for name, overrides in variants.items():
                started = time.perf_counter()
                folder = args.out / f"{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}-seed{seed}"
                record(name, seed, toolkit_run([*overrides, f"train.seed={seed}"], folder, common, args.epochs),
                       started)
    print("\n| rung | valence CCC, best epoch | arousal CCC, best epoch | valence CCC, last epoch |\n|---|---:|---:|---:|")
    for name, entry in results["rungs"].items():
        seeds = entry["seeds"].values()
        mean = {k: statistics.fmean(s[k] for s in seeds) for k in ("best_valence", "best_arousal", "last_valence")}
        print(f"| {name} | {mean['best_valence']:.3f} | {mean['best_arousal']:.3f} | {mean['last_valence']:.3f} |")
    print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
