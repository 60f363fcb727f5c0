"""How much valence and arousal a LINEAR model reads from the faces alone: a ceiling check for visual-only
students on the synthetic set, independent of any CNN or of training length.

Grey face crops (resized to 32x32, and the eye band: rows 30-59 of the 112-px crop at full width) are the
features; a ridge regression is fitted on the labelled training frames (every 4th) and scored by CCC on the
validation frames (every 3rd), for three regularisation strengths. The strength is picked on validation, so
the best row is an optimistic ceiling of a linear read-out.

    python benchmarks/face_cue_probe.py --data-root data/synth

Writes benchmarks/results/face_cue_probe.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from abaw.data.layout import discover
from abaw.data.manifest import build_manifest
from abaw.io import write_json
from abaw.metrics import ccc
from abaw.tasks import VA_IGNORE

ROOT = Path(__file__).resolve().parents[1]
EYE_ROWS = slice(30, 60)
STRENGTHS = (1e2, 1e3, 1e4)


def features(layout, split: str, stride: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Pixel features of every ``stride``-th labelled frame with a face, and its (valence, arousal)."""
    manifest = build_manifest(layout, split, ("va",))
    frames = manifest.frames
    frames = frames[(frames["valence"] != VA_IGNORE) & frames["has_face"]].iloc[::stride]
    small, eyes = [], []
    for video, face in zip(frames["video"], frames["face_frame"]):
        grey = Image.open(manifest.face_path(video, face)).convert("L")
        small.append(np.asarray(grey.resize((32, 32), Image.BILINEAR), np.float32).ravel() / 255)
        eyes.append(np.asarray(grey, np.float32)[EYE_ROWS].ravel() / 255)
    labels = frames[["valence", "arousal"]].to_numpy(np.float32)
    return {"32x32 grey": np.array(small), "eye band": np.array(eyes)}, labels


def ridge_predict(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, strength: float) -> np.ndarray:
    """Ridge regression on standardised features (closed form), applied to ``x_new``."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    x, x_new = (x - mean) / std, (x_new - mean) / std
    weights = np.linalg.solve(x.T @ x + strength * np.eye(x.shape[1]), x.T @ (y - y.mean(0)))
    return x_new @ weights + y.mean(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data/synth")
    args = parser.parse_args()
    layout = discover(args.data_root)
    train, train_labels = features(layout, "train", stride=4)
    val, val_labels = features(layout, "val", stride=3)
    results = {"data_root": args.data_root, "train_frames": len(train_labels), "val_frames": len(val_labels),
               "rows": []}
    print(f"{len(train_labels)} training and {len(val_labels)} validation frames\n")
    print("| features | ridge strength | CCC-V | CCC-A |\n|---|---:|---:|---:|")
    for name in train:
        for strength in STRENGTHS:
            predicted = ridge_predict(train[name], train_labels, val[name], strength)
            row = {"features": name, "strength": strength,
                   "ccc_valence": float(ccc(predicted[:, 0], val_labels[:, 0])),
                   "ccc_arousal": float(ccc(predicted[:, 1], val_labels[:, 1]))}
            results["rows"].append(row)
            print(f"| {name} | {strength:g} | {row['ccc_valence']:.3f} | {row['ccc_arousal']:.3f} |")
    path = ROOT / "benchmarks" / "results" / "face_cue_probe.json"
    write_json(path, results)
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
