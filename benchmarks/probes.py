"""Fixed, method-independent probes of how much each modality of a data root carries about each task.

These are the calibration probes of ``docs/synthetic.md``: linear read-outs of standard features, written and
fixed BEFORE the synthetic generator was calibrated, and never changed to favour a method. Nothing here trains
a toolkit model.

- **face**: histograms of oriented gradients (HOG, 7x7 cells x 9 orientations on the grey 112-px crop, the
  features of OpenFace's linear AU regressors) of the predicted frame, their mean over the past 2 s, and the
  motion energy over the past 2 s (mean absolute change of each cell's gradient energy between frames): what
  a face shows now, what it showed lately, and how much it moved.
- **audio**: eGeMAPS-like statistics of the past 4 s of audio at 8 kHz, from 25 ms frames every 10 ms: level
  (mean, spread and 80th percentile of the frame energy in dB), pitch (mean and spread in semitones of an
  autocorrelation f0 on voiced frames; voiced share), spectral centroid, flatness and zero-crossing rate, and
  the syllable rate (peaks of the smoothed level per second).
- **face+audio**: both, concatenated.

Each is a ridge regression on standardised features (VA; EXPR and AU as one-hot / 0-1 targets, EXPR decided
by the largest output, an AU by output >= 0.5). The ridge strength is picked by 5-fold cross-validation over
the TRAINING videos (folds grouped by video), then the probe is refitted on all training frames and scored on the
validation split: CCC (VA, pooled), macro F1 (EXPR), mean F1 (AU). With ``synthetic.json`` present (an
``abaw-synth`` root), the ``oracle`` row scores the generator's latent valence / arousal against the labels:
what label noise and rater lag leave to any model.

    python benchmarks/probes.py --data-root data/synth [--json benchmarks/results/probes.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from abaw.data.audio import AudioStore
from abaw.data.layout import discover
from abaw.data.manifest import build_manifest
from abaw.data.video import probe
from abaw.io import write_json
from abaw.metrics import ccc, expr_metrics, au_metrics
from abaw.progress import progress_bar
from abaw.tasks import AU_NAMES, EXPR_CLASSES, FACE_CROP_SIZE, VA_IGNORE

CELLS, BINS = 7, 9  # HOG: 7x7 cells of 16 pixels on the 112-px crop, 9 orientations (OpenFace's AU models
# read HOG of aligned faces with linear regressors: the standard linear face baseline)
FACE_WINDOW_S = 2.0  # the clips' face window (ABAW 2022 paper)
AUDIO_WINDOW_S = 4.0  # the demo's past audio
SAMPLE_RATE = 8000
HOP = 80  # 10 ms at 8 kHz
FRAME = 200  # 25 ms
STRENGTHS = tuple(10.0 ** k for k in range(-3, 5))  # on block-scaled features (see ridge_probe)
TRAIN_STRIDE, VAL_STRIDE = 4, 3  # neighbouring frames are near-duplicates
FOLDS = 5
TASKS = ("va", "expr", "au")


def hog(grey: np.ndarray) -> np.ndarray:
    """(N, S, S) grey crops in [0, 1] -> (N, CELLS*CELLS*BINS) histograms of oriented gradients: unsigned
    orientations in BINS bins per cell of S/CELLS pixels, magnitude-weighted, each cell divided by the gradient
    energy of its 3x3 neighbourhood of cells (local contrast normalisation, as HOG's blocks do)."""
    n, size, _ = grey.shape
    cell = size // CELLS
    gy, gx = np.gradient(grey, axis=(1, 2))
    magnitude = np.hypot(gx, gy)
    orientation = np.floor((np.arctan2(gy, gx) % np.pi) / np.pi * BINS).astype(np.int64) % BINS
    grid = magnitude[:, : cell * CELLS, : cell * CELLS]
    bins = orientation[:, : cell * CELLS, : cell * CELLS]
    histograms = np.stack([np.where(bins == k, grid, 0).reshape(n, CELLS, cell, CELLS, cell).sum(axis=(2, 4))
                           for k in range(BINS)], axis=-1)
    energy = np.pad((histograms**2).sum(-1), ((0, 0), (1, 1), (1, 1)))
    local = sum(energy[:, i : i + CELLS, j : j + CELLS] for i in range(3) for j in range(3))
    return (histograms / np.sqrt(local[..., None] + 1e-6)).reshape(n, -1).astype(np.float32)


def face_track(manifest, video: str) -> np.ndarray:
    """(n_frames, D) HOG of every frame of ``video`` (its retained crop; zeros for none)."""
    rows = manifest.frames[manifest.frames["video"] == video]
    faces = rows["face_frame"].to_numpy()
    shown = np.unique(faces[faces >= 1])
    grey = np.stack([np.asarray(Image.open(manifest.face_path(video, int(f))).convert("L"), np.float32) / 255
                     for f in shown]) if len(shown) else np.zeros((0, FACE_CROP_SIZE, FACE_CROP_SIZE), np.float32)
    features = np.vstack([np.zeros((1, CELLS * CELLS * BINS), np.float32), hog(grey)])
    return features[np.searchsorted(shown, faces) * (faces >= 1) + (faces >= 1)]


def past_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Mean of rows [t - width + 1, t] of ``x`` for every t (fewer rows at the start)."""
    c = np.cumsum(np.concatenate([np.zeros((1, *x.shape[1:]), x.dtype), x]), axis=0, dtype=np.float64)
    t = np.arange(len(x))
    lo = np.maximum(0, t - width + 1)
    return ((c[t + 1] - c[lo]) / (t + 1 - lo).reshape(-1, *([1] * (x.ndim - 1)))).astype(np.float32)


def face_features(track: np.ndarray, fps: float) -> np.ndarray:
    """Per frame: the HOG, its mean over the past window, and the past window's motion energy per cell (mean
    absolute change of the cell's gradient energy from frame to frame)."""
    width = max(1, round(FACE_WINDOW_S * fps))
    cells = track.reshape(len(track), CELLS * CELLS, BINS).sum(-1)
    motion = np.abs(np.diff(cells, axis=0, prepend=cells[:1]))
    return np.hstack([track, past_mean(track, width), past_mean(motion, width)])


def audio_frames(wave: np.ndarray) -> np.ndarray:
    """(n_hops, 6) low-level descriptors every 10 ms: level (dB), f0 (semitones above 100 Hz; NaN when
    unvoiced), voiced (0/1), spectral centroid (Hz), spectral flatness, zero-crossing rate."""
    n = max(0, (len(wave) - FRAME) // HOP + 1)
    if n == 0:
        return np.zeros((0, 6), np.float32)
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    frames = wave[idx].astype(np.float32) * np.hanning(FRAME).astype(np.float32)
    energy = np.mean(frames**2, axis=1)
    level = 10 * np.log10(energy + 1e-10)
    spectrum = np.abs(np.fft.rfft(frames, 256, axis=1)) + 1e-8
    freqs = np.fft.rfftfreq(256, 1 / SAMPLE_RATE)
    centroid = (spectrum * freqs).sum(1) / spectrum.sum(1)
    flatness = np.exp(np.mean(np.log(spectrum), axis=1)) / np.mean(spectrum, axis=1)
    zcr = np.mean(np.abs(np.diff(np.sign(frames), axis=1)) > 0, axis=1)
    # Autocorrelation pitch over 60-400 Hz; a frame is voiced when its normalised peak exceeds 0.5.
    spec = np.fft.rfft(frames, 512, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, : FRAME]
    lags = np.arange(SAMPLE_RATE // 400, SAMPLE_RATE // 60)
    peak = lags[np.argmax(ac[:, lags], axis=1)]
    strength = ac[np.arange(n), peak] / (ac[:, 0] + 1e-10)
    voiced = (strength > 0.5) & (level > level.max() - 40)
    f0 = 12 * np.log2(SAMPLE_RATE / peak / 100.0)
    return np.column_stack([level, np.where(voiced, f0, np.nan), voiced, centroid, flatness, zcr]).astype(np.float32)


def audio_features(lld: np.ndarray, end_times: np.ndarray) -> np.ndarray:
    """Per end time: statistics of the low-level descriptors over the past AUDIO_WINDOW_S seconds."""
    width = round(AUDIO_WINDOW_S * SAMPLE_RATE / HOP)
    out = np.zeros((len(end_times), 11), np.float32)
    smooth = np.convolve(lld[:, 0], np.ones(5) / 5, mode="same") if len(lld) else lld[:, 0]
    peaks = np.zeros(len(lld), bool)
    if len(lld) > 2:
        peaks[1:-1] = (smooth[1:-1] > smooth[:-2]) & (smooth[1:-1] >= smooth[2:]) & (smooth[1:-1] > smooth.max() - 30)
    for i, t in enumerate(end_times):
        stop = min(len(lld), int(t * SAMPLE_RATE / HOP))
        start = max(0, stop - width)
        part = lld[start:stop]
        if len(part) < 2:
            continue
        level, f0, voiced = part[:, 0], part[:, 1], part[:, 2]
        pitch = f0[np.isfinite(f0)]
        out[i] = [level.mean(), level.std(), np.percentile(level, 80),
                  pitch.mean() if len(pitch) else 0.0, pitch.std() if len(pitch) > 1 else 0.0, voiced.mean(),
                  part[:, 3].mean(), part[:, 4].mean(), part[:, 5].mean(),
                  peaks[start:stop].sum() / (len(part) * HOP / SAMPLE_RATE), level.max()]
    return out


def split_features(layout, split: str, stride: int, audio: AudioStore, truth: dict | None) -> dict:
    """Features and labels of every ``stride``-th frame of each video of ``split`` with a face and a label."""
    manifest = build_manifest(layout, split)
    frames = manifest.frames
    parts: dict[str, list] = {"face": [], "audio": [], "va": [], "expr": [], "au": [], "video": [], "latent": []}
    for video in progress_bar(list(manifest.videos.index), desc=f"probe features ({split})", unit="video"):
        rows = frames[frames["video"] == video]
        path = layout.video_file(manifest.videos.at[video, "source"])
        fps = probe(path).fps
        labelled = rows["has_face"].to_numpy() & ((rows["valence"].to_numpy() != VA_IGNORE)
                                                  | (rows["expr"].to_numpy() >= 0)
                                                  | (rows[list(AU_NAMES)].to_numpy() >= 0).any(1))
        keep = np.flatnonzero(labelled)[::stride]
        if not len(keep):
            continue
        parts["face"].append(face_features(face_track(manifest, video), fps)[keep])
        lld = audio_frames(np.asarray(audio.waveform(path)))
        parts["audio"].append(audio_features(lld, rows["frame"].to_numpy()[keep] / fps))
        parts["va"].append(rows[["valence", "arousal"]].to_numpy(np.float32)[keep])
        parts["expr"].append(rows["expr"].to_numpy()[keep])
        parts["au"].append(rows[list(AU_NAMES)].to_numpy()[keep])
        parts["video"].append(np.full(len(keep), video, dtype=object))
        if truth is not None and video in truth:
            parts["latent"].append(truth[video][keep])
    out = {k: np.concatenate(v) for k, v in parts.items() if v}
    return out


class Ridge:
    """Ridge regressions of one standardised design matrix, for any strength and targets (one SVD, shared).
    Each column is standardised, then scaled by its weight."""

    def __init__(self, x: np.ndarray, column_weights: np.ndarray):
        self.mean, self.std = x.mean(0), (x.std(0) + 1e-6) / column_weights
        self.u, self.s, self.vt = np.linalg.svd((x - self.mean) / self.std, full_matrices=False)

    def predictor(self, y: np.ndarray, strength: float):
        """The fitted map x -> prediction for targets ``y`` (rows of the design matrix)."""
        offset = y.mean(0)
        weights = self.vt.T @ ((self.s / (self.s**2 + strength))[:, None] * (self.u.T @ (y - offset)))
        return lambda x: ((x - self.mean) / self.std) @ weights + offset


def task_targets(data: dict, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Regression targets and the rows that carry the task's label."""
    if task == "va":
        return data["va"], (data["va"] != VA_IGNORE).all(1)
    if task == "expr":
        return np.eye(len(EXPR_CLASSES), dtype=np.float32)[np.maximum(data["expr"], 0)], data["expr"] >= 0
    return data["au"].astype(np.float32), (data["au"] >= 0).all(1)


def task_scores(task: str, predicted: np.ndarray, data: dict, rows: np.ndarray) -> dict[str, float]:
    if task == "va":
        labels = data["va"][rows]
        return {"ccc_valence": float(ccc(predicted[:, 0], labels[:, 0])),
                "ccc_arousal": float(ccc(predicted[:, 1], labels[:, 1]))}
    if task == "expr":
        return {"expr_f1": float(expr_metrics(predicted, data["expr"][rows])["f1_macro"])}
    return {"au_f1": float(au_metrics(np.clip(predicted, 0, 1), data["au"][rows])["f1_mean"])}


def selection_score(task: str, predicted: np.ndarray, data: dict, rows: np.ndarray) -> float:
    return float(np.mean(list(task_scores(task, predicted, data, rows).values())))


def ridge_probe(features: str, train: dict, val: dict) -> dict:
    """For each task: pick the strength by cross-validation over the training videos (FOLDS folds grouped by
    video), refit on all training frames, score on validation. Returns the scores and the chosen strengths."""
    blocks = features.split("+")
    x_train = np.hstack([train[f] for f in blocks]).astype(np.float64)
    x_val = np.hstack([val[f] for f in blocks]).astype(np.float64)
    # Each modality's block has the same total variance, whatever its width: one ridge strength then treats
    # the few audio statistics and the many face features alike.
    weights = np.concatenate([np.full(train[f].shape[1], 1 / np.sqrt(train[f].shape[1])) for f in blocks])
    targets = {task: task_targets(train, task) for task in TASKS}
    videos = np.unique(train["video"])
    folds = [np.isin(train["video"], videos[k::FOLDS]) for k in range(FOLDS)]
    cv = {(task, strength): [] for task in TASKS for strength in STRENGTHS}
    for held in folds:
        for task, (y, has) in targets.items():
            fit, rows = ~held & has, held & has
            model = Ridge(x_train[fit], weights)
            for strength in STRENGTHS:
                predict = model.predictor(y[fit], strength)
                cv[task, strength].append(selection_score(task, predict(x_train[rows]), train, rows))
    result = {}
    for task, (y, has) in targets.items():
        strength = max(STRENGTHS, key=lambda s: np.mean(cv[task, s]))
        _, has_val = task_targets(val, task)
        predict = Ridge(x_train[has], weights).predictor(y[has], strength)
        result |= task_scores(task, predict(x_val[has_val]), val, has_val) | {f"strength_{task}": strength}
    return result


def latent_truth(root: Path) -> dict[str, np.ndarray] | None:
    """Per annotation name, the generator's latent (valence, arousal) at each frame, if the root has them."""
    path = root / "latent_truth.npz"
    if not path.is_file():
        return None
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def run(data_root: str, cache_dir: str | None = None) -> dict:
    layout = discover(data_root)
    audio = AudioStore(Path(cache_dir) / "audio" if cache_dir else None, sample_rate=SAMPLE_RATE)
    truth = latent_truth(Path(data_root))
    train = split_features(layout, "train", TRAIN_STRIDE, audio, truth)
    val = split_features(layout, "val", VAL_STRIDE, audio, truth)
    rows = []
    for features in ("face", "audio", "face+audio"):
        rows.append({"features": features, **ridge_probe(features, train, val)})
    if "latent" in val:
        has = (val["va"] != VA_IGNORE).all(1)
        rows.append({"features": "oracle (latent truth)",
                     "ccc_valence": float(ccc(val["latent"][has, 0], val["va"][has, 0])),
                     "ccc_arousal": float(ccc(val["latent"][has, 1], val["va"][has, 1]))})
    return {"data_root": str(data_root), "train_frames": int(len(train["va"])), "val_frames": int(len(val["va"])),
            "rows": rows}


def table(results: dict) -> str:
    lines = ["| probe | CCC valence | CCC arousal | EXPR F1 | AU F1 |", "|---|---:|---:|---:|---:|"]
    for row in results["rows"]:
        cells = [f"{row[k]:.3f}" if k in row else "" for k in ("ccc_valence", "ccc_arousal", "expr_f1", "au_f1")]
        lines.append(f"| {row['features']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data/synth")
    parser.add_argument("--cache-dir", default=None, help="where decoded audio is cached (default: $ABAW_CACHE)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    results = run(args.data_root, args.cache_dir)
    print(f"{results['train_frames']} training and {results['val_frames']} validation frames "
          f"(every {TRAIN_STRIDE}th / {VAL_STRIDE}rd labelled frame with a face)\n")
    print(table(results))
    if args.json:
        write_json(args.json, results)
        print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
