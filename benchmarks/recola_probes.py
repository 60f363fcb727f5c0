"""Fixed, method-independent probes of what each modality of a RECOLA root carries about valence and arousal.

The calibration probes of ``docs/recola.md``, written before the synthetic RECOLA was calibrated and never
changed to favour a method. The face and audio features are those of ``benchmarks/probes.py`` (HOG of the crop,
its past 2 s mean and motion energy; eGeMAPS-like statistics of the past 4 s of audio at 8 kHz); the
physiology features are the standard ECG / EDA statistics of the past 10 s:

- **physio**: heart rate (60 / mean R-R interval) and its spread, from R peaks of the ECG; skin conductance
  level (mean), slope and spread; the count and summed amplitude of skin conductance responses (rises of the
  low-passed EDA). Each feature is standardised per recording: resting heart rate and skin conductance differ
  between people by more than affect moves them.

Each row is a ridge regression on standardised features (blocks scaled to equal total variance), its strength
picked by leave-one-recording-out cross-validation over the TRAINING recordings, refitted on all of them, and
scored on the dev recordings: CCC per recording averaged (AVEC's convention) and pooled over frames.

The annotation delay is chosen first, on the training recordings only, with the all-modality features
(:func:`abaw.datasets.recola.choose_label_shift`); dev is scored at that shift. The oracle row (a synthetic
root only) scores the generator's latent state against the dev labels at that shift: what rater noise leaves.

    python benchmarks/recola_probes.py --data-root data/recola_synth [--json benchmarks/results/recola_probes.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.signal import find_peaks, resample_poly

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probes import SAMPLE_RATE, STRENGTHS, Ridge, audio_features, audio_frames, face_features, face_track  # noqa: E402

from abaw.datasets.recola import (  # noqa: E402
    build_manifest, choose_label_shift, discover, gold_trace, recording_scores)
from abaw.datasets.recola_files import ANNOTATION_STEP_S, read_physio, read_wav  # noqa: E402
from abaw.io import write_json  # noqa: E402
from abaw.metrics import ccc  # noqa: E402
from abaw.tasks import VA_IGNORE  # noqa: E402

PHYSIO_WINDOW_S = 10.0
PHYSIO_RATE = 50  # features are computed after resampling to this rate
STRIDE = 2  # every 2nd frame: neighbours are near-duplicates
SHIFT_STRIDE = 4  # the delay search refits a ridge per shift and recording: every 4th frame
BLOCKS = ("face", "audio", "physio")


def physio_features(path: Path | None, end_times: np.ndarray) -> np.ndarray:
    """(len(end_times), 7) heart rate, its spread, EDA level, slope and spread, SCR count and amplitude over the
    past PHYSIO_WINDOW_S, standardised per recording (zeros without a file)."""
    out = np.zeros((len(end_times), 7), np.float32)
    if path is None:
        return out
    signals, rate = read_physio(path)
    up, down = PHYSIO_RATE, int(round(rate))
    ecg, eda = (resample_poly(s.astype(np.float64), up, down, padtype="line") for s in signals)
    ecg = (ecg - np.median(ecg)) / (ecg.std() + 1e-9)
    peaks, _ = find_peaks(ecg, height=np.percentile(ecg, 98) * 0.5, distance=int(0.33 * PHYSIO_RATE))
    beat_times = peaks / PHYSIO_RATE
    smooth = np.convolve(eda, np.ones(PHYSIO_RATE // 2) / (PHYSIO_RATE // 2), mode="same")
    rises, props = find_peaks(np.diff(smooth, prepend=smooth[0]) * PHYSIO_RATE, height=0.01)
    rise_times, rise_size = rises / PHYSIO_RATE, props["peak_heights"]
    width = int(PHYSIO_WINDOW_S * PHYSIO_RATE)
    for i, t in enumerate(end_times):
        stop = min(len(eda), int(t * PHYSIO_RATE))
        start = max(0, stop - width)
        if stop - start < 2:
            continue
        beats = beat_times[(beat_times > t - PHYSIO_WINDOW_S) & (beat_times <= t)]
        rr = np.diff(beats)
        part = smooth[start:stop]
        in_window = (rise_times > t - PHYSIO_WINDOW_S) & (rise_times <= t)
        out[i] = [60 / rr.mean() if len(rr) else 0.0, rr.std() if len(rr) > 1 else 0.0, part.mean(),
                  part[-1] - part[0], part.std(), in_window.sum(), rise_size[in_window].sum()]
    return (out - out.mean(0)) / (out.std(0) + 1e-6)


def recording_features(layout, manifest, name: str) -> dict[str, np.ndarray]:
    """Every frame's face, audio and physio features of one recording."""
    rows = manifest.frames[manifest.frames["video"] == name]
    fps = float(manifest.videos.at[name, "fps"])
    end_times = rows["frame"].to_numpy() / fps
    features = {"face": face_features(face_track(manifest, name), fps)}
    wav = layout.stream_file("audio", name)
    if wav is not None:
        wave, rate = read_wav(wav)
        wave = resample_poly(wave, SAMPLE_RATE, rate).astype(np.float32)
        features["audio"] = audio_features(audio_frames(wave), end_times)
    else:
        features["audio"] = np.zeros((len(rows), 11), np.float32)
    features["physio"] = physio_features(layout.stream_file("physio", name), end_times)
    return features


def gold_grid(layout, name: str) -> np.ndarray:
    """(rows, 2) valence and arousal on the 40 ms grid, from the layout's gold standard."""
    traces = [gold_trace(layout, name, dim) for dim in ("valence", "arousal")]
    n = min(len(t.values) for t in traces)
    return np.column_stack([t.values[:n] for t in traces])


def block_weights(x: dict, blocks: list[str]) -> np.ndarray:
    return np.concatenate([np.full(x[b].shape[1], 1 / np.sqrt(x[b].shape[1])) for b in blocks])


def fit_predict(train: dict, test: dict, blocks: list[str], strengths: tuple[float, ...]) -> list[np.ndarray]:
    """The test predictions of a ridge fitted on ``train`` at each strength (one SVD for all)."""
    x = np.hstack([train[b] for b in blocks]).astype(np.float64)
    model = Ridge(x, block_weights(train, blocks))
    x_test = np.hstack([test[b] for b in blocks]).astype(np.float64)
    return [model.predictor(train["va"], strength)(x_test) for strength in strengths]


def subset(data: dict, rows: np.ndarray) -> dict:
    return {k: v[rows] for k, v in data.items()}


def probe(blocks: list[str], train: dict, dev: dict) -> dict:
    """Strength by leave-one-recording-out CV on train (mean of the two pooled CCCs), then dev scores."""
    predicted = np.zeros((len(STRENGTHS), *train["va"].shape))
    for name in np.unique(train["video"]):
        held = train["video"] == name
        predicted[:, held] = fit_predict(subset(train, ~held), subset(train, held), blocks, STRENGTHS)
    cv = [np.mean([ccc(p[:, d], train["va"][:, d]) for d in range(2)]) for p in predicted]
    strength = STRENGTHS[int(np.argmax(cv))]
    scores = recording_scores(fit_predict(train, dev, blocks, (strength,))[0], dev["va"], dev["video"])
    return {"features": "+".join(blocks), "strength": strength, **scores}


def split_data(layout, split: str, features: dict, truth: dict | None) -> dict:
    manifest = build_manifest(layout, split)
    parts: dict[str, list] = {k: [] for k in (*BLOCKS, "va", "video", "latent")}
    for name in manifest.videos.index:
        rows = manifest.frames[manifest.frames["video"] == name]
        va = rows[["valence", "arousal"]].to_numpy(np.float32)
        keep = np.flatnonzero((va != VA_IGNORE).all(1) & rows["has_face"].to_numpy())[::STRIDE]
        for block in BLOCKS:
            parts[block].append(features[name][block][keep])
        parts["va"].append(va[keep])
        parts["video"].append(np.full(len(keep), name, dtype=object))
        if truth is not None and name in truth:
            parts["latent"].append(truth[name][keep])
    return {k: np.concatenate(v) for k, v in parts.items() if v}


def run(data_root: str) -> dict:
    started = time.time()
    layout = discover(data_root)
    manifests = {split: build_manifest(layout, split) for split in ("train", "dev")}
    features = {name: recording_features(layout, manifests[split], name)
                for split in ("train", "dev") for name in manifests[split].videos.index}
    train_names = list(manifests["train"].videos.index)
    shift, shift_scores = choose_label_shift(
        {n: np.hstack([features[n][b] for b in BLOCKS]) for n in train_names},
        {n: gold_grid(layout, n) for n in train_names},
        {n: float(manifests["train"].videos.at[n, "fps"]) for n in train_names}, stride=SHIFT_STRIDE)
    shifted = discover(data_root, label_shift_s=shift)
    truth_path = Path(data_root) / "latent_truth.npz"
    truth = dict(np.load(truth_path)) if truth_path.is_file() else None
    train = split_data(shifted, "train", features, truth)
    dev = split_data(shifted, "dev", features, truth)
    rows = [probe([b], train, dev) for b in BLOCKS]
    rows += [probe(["face", "audio"], train, dev), probe(["face", "physio"], train, dev), probe(list(BLOCKS), train, dev)]
    if "latent" in dev:
        rows.append({"features": "oracle (latent truth)", **recording_scores(dev["latent"], dev["va"], dev["video"])})
    return {"data_root": str(data_root), "label_shift_s": shift,
            "shift_scores": {f"{k:.1f}": round(v, 4) for k, v in shift_scores.items()},
            "train_frames": int(len(train["va"])), "dev_frames": int(len(dev["va"])), "rows": rows,
            "seconds": round(time.time() - started, 1), "annotation_step_s": ANNOTATION_STEP_S}


def table(results: dict) -> str:
    keys = [f"ccc_{d}_{w}" for w in ("per_recording", "pooled") for d in ("valence", "arousal")]
    lines = ["| probe | V per recording | A per recording | V pooled | A pooled |", "|---|---:|---:|---:|---:|"]
    for row in results["rows"]:
        lines.append(f"| {row['features']} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data/recola_synth")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    results = run(args.data_root)
    print(f"annotation delay chosen on train: {results['label_shift_s']:.1f} s; {results['train_frames']} training "
          f"and {results['dev_frames']} dev frames (every {STRIDE}nd labelled frame with a face); "
          f"{results['seconds']} s\n")
    print(table(results))
    if args.json:
        write_json(args.json, results)
        print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
