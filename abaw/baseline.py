"""A pixel baseline: each frame's (retained) face, downsampled, through PCA and linear models.

It is the floor that every trained model must clear, fitted in seconds with scikit-learn on the train split
and written as a predictions directory like any model's: one row for every frame of every video of a split.

    python -m abaw.baseline --data-root ROOT --out runs/pixel_baseline
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from abaw.data.annotations import AnnotationError
from abaw.data.frames import read_face
from abaw.data.layout import LayoutError, discover
from abaw.data.manifest import Manifest, build_manifest
from abaw.predictions import write_predictions
from abaw.tasks import AU_NAMES, EXPR_CLASSES

log = logging.getLogger("abaw.baseline")

SIDE = 24  # pixels per side after downsampling: enough for mouth and brow shapes, few enough for PCA
COMPONENTS = 64


def face_pixels(manifest: Manifest, rows: np.ndarray | None = None) -> np.ndarray:
    """float32 (N, 3 * SIDE * SIDE) pixels in [0, 1] of each row's retained face (zeros for black frames)."""
    frames = manifest.frames if rows is None else manifest.frames.iloc[rows]
    out = np.zeros((len(frames), 3 * SIDE * SIDE), np.float32)
    cache: dict[tuple[str, int], np.ndarray] = {}  # retained faces repeat: decode each crop once
    videos = frames["video"].to_numpy()
    shown = frames["face_frame"].to_numpy()
    for i in tqdm(range(len(frames)), desc="faces", unit="frame", leave=False):
        key = (videos[i], int(shown[i]))
        if key not in cache:
            face = read_face(manifest.face_path(*key), size=SIDE)
            cache[key] = face.numpy().reshape(-1).astype(np.float32) / 255.0
        out[i] = cache[key]
    return out


class PixelBaseline:
    """Ridge regression for VA, multinomial logistic regression for EXPR, one logistic regression per AU,
    each on the same standardised PCA of the pixels, fitted only on the frames that carry the task's label."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.features = None
        self.va = self.expr = None
        self.au: list = []
        self.au_prior = np.zeros(len(AU_NAMES))

    def fit(self, manifest: Manifest, max_frames: int = 6000) -> PixelBaseline:
        rng = np.random.default_rng(self.seed)
        masks = manifest.masks()
        labelled = masks["va"].any(1) | masks["expr"] | masks["au"].any(1)
        rows = np.flatnonzero(labelled & manifest.frames["has_face"].to_numpy())
        if len(rows) > max_frames:
            rows = np.sort(rng.choice(rows, max_frames, replace=False))
        x = face_pixels(manifest, rows)
        self.features = make_pipeline(StandardScaler(), PCA(COMPONENTS, random_state=self.seed),
                                      StandardScaler()).fit(x)
        z = self.features.transform(x)
        va, expr, au = manifest.va()[rows], manifest.expr()[rows], manifest.au()[rows]
        keep = masks["va"][rows].all(1)
        self.va = Ridge(alpha=1.0).fit(z[keep], va[keep])
        keep = masks["expr"][rows]
        self.expr = LogisticRegression(max_iter=500, C=0.1).fit(z[keep], expr[keep])
        self.au = []
        for k in range(len(AU_NAMES)):
            keep = masks["au"][rows, k]
            labels = au[keep, k]
            self.au_prior[k] = labels.mean() if keep.any() else 0.0
            self.au.append(LogisticRegression(max_iter=500, C=0.1).fit(z[keep], labels)
                           if len(np.unique(labels)) == 2 else None)
        return self

    def predict(self, manifest: Manifest) -> dict[str, np.ndarray]:
        """Per-frame outputs for every row: VA (N, 2), EXPR probabilities (N, 8), AU probabilities (N, 12)."""
        z = self.features.transform(face_pixels(manifest))
        expr = np.zeros((len(z), len(EXPR_CLASSES)))
        expr[:, self.expr.classes_] = self.expr.predict_proba(z)
        au = np.stack([model.predict_proba(z)[:, 1] if model is not None else np.full(len(z), prior)
                       for model, prior in zip(self.au, self.au_prior)], axis=1)
        return {"va": np.clip(self.va.predict(z), -1, 1), "expr": expr, "au": au}


def write_split(model: PixelBaseline, manifest: Manifest, out_dir: Path) -> int:
    """Predict every frame of a split and write one file per video; returns the number of files."""
    outputs = model.predict(manifest)
    frames = manifest.frames["frame"].to_numpy()
    for video, rows in manifest.frames.groupby("video", observed=True, sort=False).indices.items():
        write_predictions(out_dir, video, frames[rows], {task: values[rows] for task, values in outputs.items()})
    return manifest.frames["video"].nunique()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m abaw.baseline",
        description="Fit the pixel baseline on the train split and predict every frame of other splits.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-root", type=Path, required=True, help="Aff-Wild2 root or abaw-synth folder")
    parser.add_argument("--out", type=Path, required=True,
                        help="run folder: predictions go to OUT/predictions/<split>/")
    parser.add_argument("--splits", default="val,test", help="comma-separated splits to predict")
    parser.add_argument("--max-frames", type=int, default=6000, help="train frames sampled for fitting")
    parser.add_argument("--seed", type=int, default=0, help="seed of the frame sample and PCA")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        layout = discover(args.data_root)
        start = time.perf_counter()
        model = PixelBaseline(args.seed).fit(build_manifest(layout, "train"), args.max_frames)
        print(f"fitted the pixel baseline on {args.data_root} train in {time.perf_counter() - start:.1f} s")
        for split in [s.strip() for s in args.splits.split(",") if s.strip()]:
            out_dir = args.out / "predictions" / split
            n = write_split(model, build_manifest(layout, split), out_dir)
            print(f"wrote predictions for {n} {split} videos to {out_dir}")
    except (LayoutError, AnnotationError, OSError) as error:
        print(f"abaw.baseline: {error}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "baseline.json").write_text(json.dumps(
        {"model": "pixel baseline", "side": SIDE, "components": COMPONENTS, "seed": args.seed,
         "max_frames": args.max_frames, "data_root": str(args.data_root)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
