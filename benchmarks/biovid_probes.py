"""Fixed, method-independent probes of what each modality of a BioVid root carries about the pain class.

The calibration probes of ``docs/synthetic-biovid.md``, written before the synthetic BioVid was calibrated and
never changed to favour a method. Each row is a logistic regression on standardised features:

- **face**: 32x32 grey face crops (``cropped_aligned/<sample>/``), the mean of frames 51-100 (2-4 s, where the
  response to the stimulus is) minus the mean of frames 1-10 (before it): what the face changed, not who it is.
- **eda**, **ecg**, **emg**, **physio**: :func:`abaw.data.physio_features.physio_features` of the whole
  5.5 s window of ``biosignals_filtered/``, for the skin conductance (gsr), the ECG, the EMG channels, and all
  channels together.
- **all**: face and physio features concatenated.

Evaluation is SUBJECT-INDEPENDENT: the subjects are shuffled (seeded) into k folds; each fold's test subjects
are never seen in training; the regularisation (C of the logistic regression) is picked on a validation part of
the TRAINING subjects (a seeded fifth of them), then the model is refitted on all training subjects. Binary BL1
vs PA4 reports accuracy; 5-class BL1/PA1-PA4 accuracy, macro F1 and mean absolute error in classes. Mean and
standard deviation over folds.

    python benchmarks/biovid_probes.py --data-root data/biovid_synth --json benchmarks/results/biovid_probes.json
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from abaw.data.physio_features import physio_features  # noqa: E402
from abaw.io import write_json  # noqa: E402
from abaw.tasks import frame_image_name  # noqa: E402

FACE_SIZE = 32
BEFORE_FRAMES = range(1, 11)  # 0-0.4 s: before any response
PEAK_FRAMES = range(51, 101)  # 2-4 s
STRENGTHS = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)  # C of the logistic regression (inverse strength)
VAL_SHARE = 0.2  # of the training subjects, for picking C
PROBES = {  # probe -> which feature blocks it reads
    "face": ("face",), "eda": ("eda",), "ecg": ("ecg",), "emg": ("emg",),
    "physio": ("eda", "ecg", "emg"), "all": ("face", "eda", "ecg", "emg"),
}


def read_samples(root: Path) -> list[dict]:
    """The rows of ``samples.csv`` (tab-separated, with a header)."""
    with open(root / "samples.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def face_block(root: Path, sample: str) -> np.ndarray:
    """(32*32,) the mean grey crop of the peak frames minus that of the first frames."""
    def mean_crop(frames: range) -> np.ndarray:
        crops = []
        for frame in frames:
            path = root / "cropped_aligned" / sample / frame_image_name(frame)
            if path.is_file():
                with Image.open(path) as image:
                    crops.append(np.asarray(image.convert("L").resize((FACE_SIZE, FACE_SIZE), Image.BILINEAR),
                                            np.float32) / 255)
        return np.mean(crops, axis=0) if crops else np.zeros((FACE_SIZE, FACE_SIZE), np.float32)
    return (mean_crop(PEAK_FRAMES) - mean_crop(BEFORE_FRAMES)).ravel()


def physio_blocks(root: Path, subject: str, sample: str) -> dict[str, np.ndarray]:
    """The standard features of each channel group of one sample's filtered biosignals."""
    path = root / "biosignals_filtered" / subject / f"{sample}_bio.csv"
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
    table = np.loadtxt(path, delimiter="\t", skiprows=1, ndmin=2)
    columns = dict(zip(header, table.T))
    rate = 1e6 / np.median(np.diff(columns["time"]))  # the time column is in microseconds
    groups = {"eda": [c for c in header if c in ("gsr", "eda")], "ecg": [c for c in header if c == "ecg"],
              "emg": [c for c in header if c.startswith("emg")]}
    return {group: physio_features(np.stack([columns[c] for c in channels]) if channels else np.zeros((0, 1)),
                                   rate, tuple(channels))
            for group, channels in groups.items()}


def subject_folds(subjects: list[str], k: int, seed: int) -> list[tuple[list[str], list[str], list[str]]]:
    """k (train, val, test) subject lists: test parts partition the subjects; val is a fifth of the rest."""
    rng = np.random.default_rng(seed)
    order = [subjects[i] for i in rng.permutation(len(subjects))]
    folds = []
    for f in range(k):
        test = order[f::k]
        rest = [s for s in order if s not in test]
        n_val = max(1, round(VAL_SHARE * len(rest)))
        val = [rest[i] for i in rng.permutation(len(rest))[:n_val]]
        folds.append(([s for s in rest if s not in val], val, test))
    return folds


def fit(x: np.ndarray, y: np.ndarray, strength: float) -> tuple[StandardScaler, LogisticRegression]:
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=strength, max_iter=2000).fit(scaler.transform(x), y)
    return scaler, model


def predict(fitted: tuple[StandardScaler, LogisticRegression], x: np.ndarray) -> np.ndarray:
    scaler, model = fitted
    return model.predict(scaler.transform(x))


def scores(y: np.ndarray, pred: np.ndarray, binary: bool) -> dict[str, float]:
    out = {"accuracy": float(np.mean(y == pred))}
    if not binary:
        out["macro_f1"] = float(f1_score(y, pred, average="macro", labels=np.arange(5), zero_division=0))
        out["mae"] = float(np.mean(np.abs(y - pred)))
    return out


def run_probe(x: np.ndarray, y: np.ndarray, subjects: np.ndarray, folds, binary: bool) -> dict:
    """Per fold: C picked by accuracy on the validation subjects, refit on train + val, scored on test."""
    per_fold = []
    for train, val, test in folds:
        in_train, in_val, in_test = (np.isin(subjects, part) for part in (train, val, test))
        val_acc = [np.mean(predict(fit(x[in_train], y[in_train], c), x[in_val]) == y[in_val]) for c in STRENGTHS]
        best = STRENGTHS[int(np.argmax(val_acc))]
        fitted = fit(x[in_train | in_val], y[in_train | in_val], best)
        per_fold.append({"C": best, **scores(y[in_test], predict(fitted, x[in_test]), binary)})
    summary = {metric: {"mean": float(np.mean([f[metric] for f in per_fold])),
                        "std": float(np.std([f[metric] for f in per_fold]))}
               for metric in per_fold[0] if metric != "C"}
    return {"folds": per_fold, **summary}


def _cell(summary: dict[str, float]) -> str:
    return f"{summary['mean']:.3f}±{summary['std']:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    start = time.time()
    rows = read_samples(args.data_root)
    blocks: dict[str, list[np.ndarray]] = {"face": [], "eda": [], "ecg": [], "emg": []}
    for row in rows:
        blocks["face"].append(face_block(args.data_root, row["sample_name"]))
        for group, values in physio_blocks(args.data_root, row["subject_name"], row["sample_name"]).items():
            blocks[group].append(values)
    features = {name: np.stack(values) for name, values in blocks.items()}
    classes = np.array([int(r["class_id"]) for r in rows])
    subjects = np.array([r["subject_name"] for r in rows])
    folds = subject_folds(sorted(set(subjects)), args.folds, args.seed)
    extracted = time.time() - start
    binary_rows = np.isin(classes, (0, 4))
    result = {"data_root": str(args.data_root), "seed": args.seed, "folds": args.folds,
              "subjects": len(set(subjects)), "samples": len(rows),
              "face": f"{FACE_SIZE}x{FACE_SIZE} grey, mean of frames {PEAK_FRAMES.start}-{PEAK_FRAMES.stop - 1} "
                      f"minus mean of frames {BEFORE_FRAMES.start}-{BEFORE_FRAMES.stop - 1}",
              "probes": {}}
    print(f"{len(rows)} samples of {len(set(subjects))} subjects, features in {extracted:.0f} s; "
          f"{args.folds} subject folds, seed {args.seed}")
    print(f"{'probe':8s} {'BL1 vs PA4 acc':>16s} {'5-class acc':>14s} {'macro F1':>14s} {'MAE':>14s}")
    for probe, names in PROBES.items():
        x = np.hstack([features[n] for n in names if features[n].shape[1]])
        binary = run_probe(x[binary_rows], (classes[binary_rows] == 4).astype(int), subjects[binary_rows], folds,
                           binary=True)
        five = run_probe(x, classes, subjects, folds, binary=False)
        result["probes"][probe] = {"features": x.shape[1], "binary": binary, "five_class": five}
        print(f"{probe:8s} {_cell(binary['accuracy']):>16s} {_cell(five['accuracy']):>14s} "
              f"{_cell(five['macro_f1']):>14s} {_cell(five['mae']):>14s}", flush=True)
    result["seconds"] = round(time.time() - start, 1)
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
