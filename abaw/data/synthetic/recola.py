"""``abaw-synth --dataset recola``: a synthetic RECOLA in the AVEC 2016 layout, deterministic for a seed.

Each recording is one person in a video call: a face video (plus the face crops that preprocessing would
write, in the toolkit's ``cropped_aligned`` layout), a WAV of their voice, and ECG and EDA. One latent valence
and arousal drive all of them: the face through the Aff-Wild2 generator's renderer (lip bend for valence;
eye opening, brows, blinks and head motion for arousal), the voice through its voice model (arousal only), the
heart rate and the skin conductance through :func:`physiology`. Six raters follow the latent state 2-4 s late,
each with their own gain, offset and disagreement; their traces are the individual ratings, and their
combination (:func:`abaw.datasets.recola.combine_raters`, AVEC 2018's rule) is the gold standard.

Every number is in :class:`RecolaSynthParams`, each with its reason; the cue strengths were calibrated with
fixed probes (``benchmarks/recola_probes.py``) before any model was trained on the set: ``docs/recola.md``.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from abaw.data.synthetic.face import FaceRenderer, FaceState, random_identity
from abaw.data.synthetic.generate import LATENT_TRUTH, MANIFEST, _finish, _prepare, _write_npz
from abaw.data.synthetic.latent import affect, control_length, frame_indices, lighting, nuisance, runs_mask, smooth_noise
from abaw.data.synthetic.media import AVWriter
from abaw.data.synthetic.params import SynthParams
from abaw.data.synthetic.scene import Scene, face_sprite
from abaw.data.synthetic.voice import soundtrack
from abaw.datasets.recola import combine_raters
from abaw.datasets.recola_files import ANNOTATION_STEP_S, write_wav
from abaw.io import atomic_path, write_text
from abaw.progress import progress_bar
from abaw.tasks import frame_image_name

DEFAULT_RECORDINGS, DEFAULT_SECONDS = 9, 15.0  # per labelled split, as AVEC's 9 train and 9 dev; short, for speed
RATER_NAMES = ("FM1", "FM2", "FM3", "FF1", "FF2", "FF3")  # RECOLA: 6 raters, 3 male and 3 female
BATCH = 32


def _face_params() -> SynthParams:
    # The Aff-Wild2 renderer with RECOLA's cue strengths (docs/recola.md, "Calibration"): RECOLA's faces carry
    # less valence and more arousal than the Aff-Wild2 set's (visual-only dev CCC 0.34 / 0.46, PKD paper Table 1).
    return dataclasses.replace(
        SynthParams(),
        mouth_valence_lift=0.022,
        eye_arousal_gain=0.42,
        brow_arousal_raise=0.055,
        # One person, one webcam: no missing-face run at the start and fewer missing faces than in the wild.
        no_face_fraction=(0.01, 0.03),
        sample_rates=(16000,),
    )


@dataclass(frozen=True)
class RecolaSynthParams:
    """Parameters of the synthetic RECOLA. Units: seconds, Hz, beats per minute, microsiemens (uS).

    What RECOLA's public material fixes is kept (6 raters, 25 Hz ratings, the folder layout); what it does not
    (video rate and size, physiology rate) is chosen and said so in ``docs/recola.md``.
    """

    face: SynthParams = field(default_factory=_face_params)
    # The webcam video. RECOLA's native rate is not confirmed: 25 fps, and one recording per split at 30 fps,
    # so that every split exercises the by-time alignment of the 25 Hz ratings.
    fps: int = 25
    other_fps: int = 30
    size: tuple[int, int] = (320, 240)
    audio_rate: int = 16000
    physio_rate: int = 250  # the rate public loaders assume; the reader reads it from the time column anyway
    # ---- raters: the gold standard's imperfections ----------------------------------------------------------
    # Continuous raters react 2-4 s late (AVEC's delay search spans 0-9.6 s; measured delays are 2-4 s), use the
    # scale differently (gain, offset) and disagree slowly (smooth noise).
    raters: int = 6
    rater_lag_s: tuple[float, float] = (2.0, 4.0)
    rater_gain: tuple[float, float] = (0.6, 1.2)
    rater_offset_std: float = 0.1
    rater_noise_std: float = 0.45
    rater_noise_sigma_s: float = 2.0
    # ---- heart (ECG) ----------------------------------------------------------------------------------------
    # Resting rate 60-85 bpm per person; arousal speeds the heart (sympathetic activation), faintly and with
    # much else moving it: respiratory sinus arrhythmia (+-3 bpm at 0.25 Hz) and slow drift.
    heart_rate_bpm: tuple[float, float] = (60.0, 85.0)
    heart_bpm_per_arousal: float = 8.0
    heart_bpm_per_valence: float = -1.5  # a faint deceleration with pleasant states (orienting)
    heart_drift_bpm: float = 3.0
    rsa_bpm: float = 3.0
    ecg_noise: float = 0.05  # of the R-peak height
    ecg_wander: float = 0.3  # baseline wander (breathing, movement), of the R-peak height
    # ---- skin conductance (EDA) ------------------------------------------------------------------------------
    # Tonic level 2-15 uS per person, drifting; phasic responses (SCRs: rise 0.7 s, decay 2.5 s, 0.05-0.5 uS)
    # arrive as a Poisson process whose rate rises with arousal, x exp(gain * a), 4 per minute at a = 0. The
    # tonic level follows arousal slowly (a 10 s smoothing, x exp(tonic_gain * a)).
    eda_level_us: tuple[float, float] = (2.0, 15.0)
    scr_per_minute: float = 6.0
    scr_arousal_gain: float = 1.5
    scr_amplitude_us: tuple[float, float] = (0.05, 0.5)
    eda_tonic_gain: float = 0.15
    eda_drift: float = 0.1  # relative slow drift of the tonic level
    eda_noise_us: float = 0.01


@dataclass(frozen=True)
class RecordingPlan:
    index: int
    name: str
    split: str
    fps: int
    n_frames: int


def plan_recordings(rng: np.random.Generator, recordings: int, seconds: float, p: RecolaSynthParams
                    ) -> list[RecordingPlan]:
    """``recordings`` per labelled split (train, dev), lengths +-10% around ``seconds``; the second recording of
    each split runs at ``p.other_fps``."""
    if recordings < 2:
        raise ValueError(f"recordings per split must be at least 2 (a split's score is a mean over them), "
                         f"got {recordings}")
    plans = []
    for split in ("train", "dev"):
        for k in range(1, recordings + 1):
            fps = p.other_fps if k == 2 else p.fps
            length = seconds * rng.uniform(0.9, 1.1)
            plans.append(RecordingPlan(len(plans), f"{split}_{k}", split, fps, max(2, round(length * fps))))
    return plans


def rater_traces(rng: np.random.Generator, latent: np.ndarray, hz: float, p: RecolaSynthParams) -> np.ndarray:
    """(raters, n) traces on the control grid: each rater follows ``latent`` late, with gain, offset and slow
    disagreement; clipped to [-1, 1]. Before their lag has passed a rater holds the first value."""
    n = len(latent)
    traces = []
    for _ in range(p.raters):
        lag = round(rng.uniform(*p.rater_lag_s) * hz)
        late = np.concatenate([np.full(min(lag, n), latent[0]), latent[: max(0, n - lag)]])
        noise = p.rater_noise_std * smooth_noise(rng, n, p.rater_noise_sigma_s * hz)
        traces.append(rng.uniform(*p.rater_gain) * late + rng.normal(0, p.rater_offset_std) + noise)
    return np.clip(np.array(traces), -1.0, 1.0)


def _on_grid(trace: np.ndarray, hz: float, rate: float, n: int) -> np.ndarray:
    """A control-grid trace read at ``n`` samples of ``rate`` Hz (linear interpolation)."""
    return np.interp(np.arange(n) / rate * hz, np.arange(trace.shape[-1]), trace)


def ecg_wave(phase: np.ndarray) -> np.ndarray:
    """A PQRST complex as a function of the cardiac phase in [0, 1) (R peak 1 at 0.4), sums of Gaussians."""
    waves = ((0.2, 0.12, 0.025), (0.37, -0.12, 0.008), (0.4, 1.0, 0.01), (0.43, -0.25, 0.01), (0.65, 0.3, 0.045))
    return sum(a * np.exp(-0.5 * ((phase - mu) / w) ** 2) for mu, a, w in waves)


def physiology(rng: np.random.Generator, valence: np.ndarray, arousal: np.ndarray, hz: float, n: int,
               p: RecolaSynthParams) -> tuple[np.ndarray, np.ndarray]:
    """ECG (arbitrary units, R peaks near 1) and EDA (uS), ``n`` samples at ``p.physio_rate``, from the latent
    valence and arousal on the control grid (``hz``)."""
    fs = p.physio_rate
    t = np.arange(n) / fs
    a, v = _on_grid(arousal, hz, fs, n), _on_grid(valence, hz, fs, n)
    drift = _on_grid(smooth_noise(rng, len(arousal), 8.0 * hz), hz, fs, n)
    rate = (rng.uniform(*p.heart_rate_bpm) + p.heart_bpm_per_arousal * a + p.heart_bpm_per_valence * v
            + p.heart_drift_bpm * drift + p.rsa_bpm * np.sin(2 * np.pi * rng.uniform(0.2, 0.3) * t
                                                              + rng.uniform(0, 2 * np.pi)))
    phase = np.cumsum(rate / 60 / fs) + rng.uniform()
    wander = _on_grid(smooth_noise(rng, len(arousal), 1.5 * hz), hz, fs, n)
    gain = rng.uniform(0.5, 2.0)  # electrode placement
    ecg = gain * (ecg_wave(phase % 1.0) + p.ecg_wander * wander + p.ecg_noise * rng.standard_normal(n))

    tonic_arousal = np.convolve(a, np.ones(10 * fs) / (10 * fs), mode="full")[:n]  # the past 10 s
    slow = _on_grid(smooth_noise(rng, len(arousal), 20.0 * hz), hz, fs, n)
    tonic = rng.uniform(*p.eda_level_us) * np.exp(p.eda_tonic_gain * tonic_arousal + p.eda_drift * slow)
    peak = p.scr_per_minute / 60 * np.exp(p.scr_arousal_gain)
    candidates = np.sort(rng.uniform(0, n / fs, rng.poisson(peak * n / fs)))
    onsets = candidates[rng.random(len(candidates)) < np.exp(p.scr_arousal_gain * (
        np.interp(candidates, t, a) - 1))]
    phasic = np.zeros(n)
    span = np.arange(int(15 * fs)) / fs
    shape = (1 - np.exp(-span / 0.7)) * np.exp(-span / 2.5)
    shape /= shape.max()
    for onset in onsets:
        start = int(onset * fs)
        piece = shape[: n - start]
        phasic[start: start + len(piece)] += rng.uniform(*p.scr_amplitude_us) * piece
    eda = tonic + phasic + p.eda_noise_us * rng.standard_normal(n)
    return ecg.astype(np.float32), eda.astype(np.float32)


def render_recording(out: Path, plan: RecordingPlan, seed: int, p: RecolaSynthParams) -> dict:
    """Writes one recording's video, crops, WAV, physiology and ratings; returns its latent truth per frame."""
    out = Path(out)
    fp = p.face
    rng = np.random.default_rng([seed, 11, plan.index])
    n, fps, hz = plan.n_frames, plan.fps, fp.control_hz
    seconds = n / fps
    n_ctrl = control_length(n, fps, hz)
    at = frame_indices(n, fps, hz)
    ident = random_identity(rng)
    aff = affect(rng, n_ctrl, fp)
    nui = nuisance(rng, aff.arousal, fp)
    light = lighting(rng, n_ctrl, fp)
    has_face = ~runs_mask(rng, n, rng.uniform(*fp.no_face_fraction), fp.no_face_run, fp.no_face_run_max_share)
    noise_std = rng.uniform(*fp.pixel_noise_std)
    quality = int(rng.integers(fp.jpeg_quality[0], fp.jpeg_quality[1] + 1))
    f0 = rng.uniform(*fp.f0_base_hz[rng.integers(len(fp.f0_base_hz))])
    n_audio = round(seconds * p.audio_rate)
    audio = soundtrack(rng, [aff.arousal], [f0], p.audio_rate, n_audio, 1, fp)

    scene = Scene(rng, *p.size, [ident])
    renderer = FaceRenderer(fp)
    crop_dir = out / "cropped_aligned" / plan.name
    crop_dir.mkdir(parents=True, exist_ok=True)
    video = out / "recordings_video" / f"{plan.name}.mp4"
    video.parent.mkdir(parents=True, exist_ok=True)
    writer = AVWriter(video, fps, p.size, audio, p.audio_rate, fp)
    for start in range(0, n, BATCH):
        frames = np.arange(start, min(n, start + BATCH))
        idx = at[frames]
        state = FaceState(aff.valence[idx], aff.arousal[idx], aff.aus[idx], nui.blink[idx], nui.gaze[idx],
                          nui.crop_jitter[idx], light[idx])
        rgb, coverage = renderer.render(ident, state, rng, noise_std)
        for j, frame in enumerate(frames):
            sprite = None
            if has_face[frame]:
                Image.fromarray(rgb[j]).save(crop_dir / frame_image_name(frame + 1), "JPEG", quality=quality)
                sprite = face_sprite(rgb[j], coverage[j])
            writer.add(scene.frame(float(light[idx[j], 0]), [(sprite, nui.head[idx[j]])]))
    writer.close()

    audio_dir = out / "recordings_audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    write_wav(audio_dir / f"{plan.name}.wav", audio[0], p.audio_rate)

    physio_rng = np.random.default_rng([seed, 13, plan.index])
    n_physio = round(seconds * p.physio_rate)
    ecg, eda = physiology(physio_rng, aff.valence, aff.arousal, hz, n_physio, p)
    physio_dir = out / "recordings_physio"
    physio_dir.mkdir(parents=True, exist_ok=True)
    table = np.column_stack([np.arange(n_physio) / p.physio_rate, eda, ecg])
    with atomic_path(physio_dir / f"{plan.name}.csv") as tmp:
        np.savetxt(tmp, table, fmt=("%.3f", "%.4f", "%.5f"), delimiter=";", header="time;EDA;ECG", comments="")

    raters = np.random.default_rng([seed, 15, plan.index])  # its own stream: labels do not depend on rendering
    rows = int(np.floor(seconds / ANNOTATION_STEP_S + 1e-9)) + 1
    times = np.arange(rows) * ANNOTATION_STEP_S
    for dim, latent in (("valence", aff.valence), ("arousal", aff.arousal)):
        ratings = np.stack([_on_grid(trace, hz, 1 / ANNOTATION_STEP_S, rows)
                            for trace in rater_traces(raters, latent, hz, p)], axis=1)
        gold = combine_raters(ratings)
        _write_ratings(out, plan.name, dim, times, ratings, gold)
    return {"name": plan.name, "split": plan.split, "fps": fps, "n_frames": n,
            "frames_without_face": int((~has_face).sum()),
            "latent": np.column_stack([aff.valence[at], aff.arousal[at]]).astype(np.float32)}


def _write_ratings(out: Path, name: str, dim: str, times: np.ndarray, ratings: np.ndarray, gold: np.ndarray) -> None:
    gold_dir = out / "ratings_gold_standard" / dim
    gold_dir.mkdir(parents=True, exist_ok=True)
    lines = ["@relation GoldStandard", "", "@attribute Instance_name string", "@attribute frameTime numeric",
             "@attribute GoldStandard numeric", "", "@data"]
    lines += [f"{name},{t:.2f},{g:.6f}" for t, g in zip(times, gold)]
    write_text(gold_dir / f"{name}.arff", "\n".join(lines) + "\n")
    individual_dir = out / "ratings_individual" / dim
    individual_dir.mkdir(parents=True, exist_ok=True)
    header = ";".join(["time", *RATER_NAMES[: ratings.shape[1]]])
    body = [";".join([f"{t:.2f}", *(f"{r:.6f}" for r in row)]) for t, row in zip(times, ratings)]
    write_text(individual_dir / f"{name}.csv", "\n".join([header, *body]) + "\n")


def generate_recola(out: str | os.PathLike, seed: int = 0, recordings: int = DEFAULT_RECORDINGS,
                    seconds: float = DEFAULT_SECONDS, *, overwrite: bool = False, workers: int | None = None,
                    progress: bool = True, params: RecolaSynthParams | None = None) -> Path:
    """Writes a synthetic RECOLA (AVEC 2016 layout, plus ``cropped_aligned/``) under ``out``.

    Args:
        out: output folder; must be empty or absent (see ``overwrite``).
        seed: the same seed and arguments give the same files.
        recordings: recordings per labelled split (train, dev); at least 2.
        seconds: mean recording length (+-10%).
        overwrite: replace a non-empty ``out`` that an earlier run of abaw-synth wrote.
        workers: rendering processes (default: up to 2); the files do not depend on it.
        progress: show a progress bar.
        params: generator parameters (default ``RecolaSynthParams()``).
    """
    out = Path(out)
    p = params or RecolaSynthParams()
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    plans = plan_recordings(np.random.default_rng([seed, 10]), recordings, seconds, p)
    _prepare(out, overwrite)
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    bar = progress_bar(total=len(plans), desc="abaw-synth recola", unit="recording", enabled=progress)
    if workers <= 1:
        results = []
        for plan in plans:
            results.append(render_recording(out, plan, seed, p))
            bar.update()
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(render_recording, out, plan, seed, p) for plan in plans]
            results = []
            for future in futures:
                results.append(future.result())
                bar.update()
    bar.close()
    _write_npz(out / LATENT_TRUTH, {r["name"]: r["latent"] for r in results})
    manifest = {
        "generator": "abaw.data.synthetic.recola", "dataset": "recola", "seed": seed,
        "arguments": {"recordings": recordings, "seconds": seconds},
        "parameters": dataclasses.asdict(p),
        "recordings": [{k: v for k, v in r.items() if k != "latent"} for r in results],
    }
    return _finish(out, "Synthetic RECOLA in the AVEC 2016 layout, with face crops (not real data; see "
                        "docs/recola.md).\n"
                        f"Made with: abaw-synth --dataset recola {out.name} --seed {seed} --videos {recordings} "
                        f"--seconds {seconds:g}\n", manifest)


def describe_recola(out: str | os.PathLike) -> str:
    """A one-line summary of a generated RECOLA folder, from its manifest."""
    m = json.loads((Path(out) / MANIFEST).read_text(encoding="utf-8"))
    recs = m["recordings"]
    parts = [f"{split} {sum(r['split'] == split for r in recs)}" for split in ("train", "dev")]
    frames = sum(r["n_frames"] for r in recs)
    missing = sum(r["frames_without_face"] for r in recs)
    return (f"{len(recs)} recordings ({', '.join(parts)}), {frames} video frames at "
            f"{'/'.join(str(f) for f in sorted({r['fps'] for r in recs}))} fps, {frames - missing} face crops; "
            f"audio, ECG and EDA for each; 6 raters' ratings and their gold standard")
