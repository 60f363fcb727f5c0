"""``abaw-synth --dataset biovid``: a synthetic BioVid Heat Pain (Part A) in its unpacked layout, deterministic
for a seed.

Each subject receives heat stimuli of five classes (BL1 baseline, PA1-PA4 rising temperatures) in a random
order; each sample is the 5.5 s window of one stimulus: a 25 fps face video (and the face crops that
``abaw-faces`` would write), and 512 Hz skin conductance (``gsr``), ECG and trapezius EMG, filtered and raw.
The class shows WEAKLY in the face (brows lowered, lids tightened, cheeks raised, upper lip raised: the pain
face of Prkachin & Solomon's PSPI, scaled by the stimulus, by the subject's expressiveness and by trial-to-trial
variability, after a latency) and STRONGLY in the skin conductance (an evoked response 2-4 s after onset whose
amplitude grows with the temperature, scaled by the subject's responsiveness, among spontaneous responses); the
heart rate rises a little, the trapezius EMG bursts a little more often. Identity, lighting, pose and the
session's order are nuisance that does not depend on the class.

Every number is in :class:`BiovidSynthParams`, each with its reason; the cue strengths were calibrated with the
fixed probes of ``benchmarks/biovid_probes.py`` before any method ran on the set: ``docs/synthetic-biovid.md``.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from abaw.data.synthetic.face import FaceRenderer, FaceState, random_identity
from abaw.data.synthetic.generate import MANIFEST, _finish, _prepare
from abaw.data.synthetic.latent import lighting, nuisance, smooth_noise
from abaw.data.synthetic.params import SynthParams
from abaw.data.synthetic.recola import ecg_wave
from abaw.data.synthetic.scene import Scene, face_sprite
from abaw.io import write_text
from abaw.progress import progress_bar
from abaw.tasks import AU_NAMES, frame_image_name

CLASSES = ("BL1", "PA1", "PA2", "PA3", "PA4")  # class_id 0..4, as samples.csv numbers them
CHANNELS = ("gsr", "ecg", "emg_trapezius")  # Part A's biosignals
SAMPLES_HEADER = ("subject_id", "subject_name", "class_id", "class_name", "sample_id", "sample_name")
DEFAULT_SUBJECTS, DEFAULT_PER_CLASS = 30, 8
PAIN_AUS = ("AU4", "AU6", "AU7", "AU10")  # PSPI's brow lowering, orbit tightening (AU6/AU7), levator (AU10)


@dataclass(frozen=True)
class BiovidSynthParams:
    """Parameters of the synthetic BioVid. Units: seconds, Hz, bpm, microsiemens (uS), face units (the crop
    spans [-1, 1]). Per-class tuples are in the order BL1, PA1, PA2, PA3, PA4."""

    # The Aff-Wild2 renderer's parameters (nuisance: blinks, gaze, misalignment, head motion, lighting, noise). The
    # class does not drive valence or arousal here, so their cue gains stay the Aff-Wild2 set's.
    face: SynthParams = field(default_factory=SynthParams)
    # ---- what BioVid fixes (Walter et al. 2013; the public code) ---------------------------------------------
    fps: int = 25
    frames: int = 138  # 5.5 s at 25 fps
    physio_rate: int = 512
    physio_samples: int = 2816  # 5.5 s at 512 Hz
    # The stimulus reaches its plateau at this time of the window (s); the plateau lasts 4 s. Where the real
    # windows sit relative to the plateau is not confirmed [I]: at 0, every response starts inside the window,
    # and the public code's "peak" frames 50-70 (2-2.8 s) fall on the face's response.
    onset_s: float = 0.0
    plateau_s: float = 4.0
    video_size: tuple[int, int] = (192, 144)  # small (the real camera is 1388x1038): encoding stays cheap
    crop_size: int = 112  # as the Aff-Wild2 crops
    # ---- the face -----------------------------------------------------------------------------------------
    # The pain face's intensity (0-1 scale of the AUs' deformation) per class: nothing at BL1, little at PA1-PA2
    # (the low temperatures are near threshold; real face-only classifiers barely tell PA1 from BL1), most at
    # PA4. Times the face gain (the calibrated strength), a subject's expressiveness (lognormal: many people
    # hardly show pain, a few show much; Kunz et al.) and a trial factor (trials differ; some show nothing).
    face_level: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0)
    face_gain: float = 0.45
    expressiveness_sigma: float = 0.6  # lognormal sigma of a subject's expressiveness (median 1)
    face_trial_sigma: float = 0.5  # lognormal sigma of a trial's intensity
    face_react_p: float = 0.8  # share of stimulated trials with any facial response
    # Which AUs carry the pain face, and how much of the intensity each gets.
    au_weights: tuple[float, ...] = (1.0, 0.6, 0.8, 0.5)  # PAIN_AUS
    face_latency_s: tuple[float, float] = (0.5, 1.5)  # after onset: faces react within 1-2 s
    face_rise_s: float = 0.5
    face_decay_s: float = 1.0  # after the plateau ends
    # Spontaneous frowns and squints, in every class: the same AUs at random, segments of 0.5-2 s.
    spontaneous_au_p: float = 0.1
    spontaneous_au_level: tuple[float, float] = (0.2, 0.8)
    # ---- skin conductance (gsr) -----------------------------------------------------------------------------
    # Tonic level 2-15 uS per subject, drifting over the session (x exp(0.15 N(0,1)) per sample) and within a
    # window (slope N(0, 0.03) uS/s: recovery from earlier responses). The evoked response (SCR: rise 0.7 s, decay
    # 2.5 s) starts 2-4 s after onset, amplitude scr_level[class] x scr_gain x subject gain (lognormal) x trial
    # factor (lognormal), habituating over the session. Spontaneous responses (non-specific SCRs, 1-3 per
    # minute at rest) of 0.02-0.3 uS x subject gain arrive in every class.
    gsr_level_us: tuple[float, float] = (2.0, 15.0)
    gsr_session_drift: float = 0.15
    gsr_slope_us_s: float = 0.03
    scr_level: tuple[float, ...] = (0.0, 0.15, 0.35, 0.65, 1.0)
    scr_gain_us: float = 0.5
    scr_subject_sigma: float = 0.5
    scr_trial_sigma: float = 0.45
    scr_react_p: float = 0.9  # share of stimulated trials with an evoked response
    scr_latency_s: tuple[float, float] = (2.0, 4.0)
    scr_rise_s: float = 0.7
    scr_decay_s: float = 2.5
    habituation_per_stimulus: float = 0.005  # evoked amplitude x exp(-0.005 k) at the k-th stimulus
    spontaneous_scr_per_minute: float = 2.0
    spontaneous_scr_us: tuple[float, float] = (0.02, 0.3)
    gsr_noise_us: float = 0.005
    # ---- heart (ecg) -----------------------------------------------------------------------------------------
    # Resting rate 55-85 bpm per subject, +-3 bpm between samples; pain speeds the heart a little after 1-3 s
    # (hr_level x hr_gain bpm at PA4), among respiratory sinus arrhythmia (+-3 bpm).
    heart_rate_bpm: tuple[float, float] = (55.0, 85.0)
    heart_sample_std_bpm: float = 3.0
    hr_level: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0)
    hr_gain_bpm: float = 2.0
    hr_latency_s: tuple[float, float] = (1.0, 3.0)
    rsa_bpm: float = 3.0
    ecg_noise: float = 0.03  # of the R-peak height, in the filtered file
    # ---- trapezius EMG ---------------------------------------------------------------------------------------
    # Background activity (RMS 3-10 per subject, arbitrary units) and bursts of 0.2-0.6 s at 2-5x it: 0.3 per
    # window at rest, and pain adds emg_level[class] x emg_gain bursts after 0.5-2 s (shoulders tense weakly).
    emg_rms: tuple[float, float] = (3.0, 10.0)
    emg_bursts_rest: float = 0.3
    emg_level: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0)
    emg_gain: float = 0.25
    emg_burst_s: tuple[float, float] = (0.2, 0.6)
    emg_burst_x: tuple[float, float] = (2.0, 5.0)
    # ---- the raw files: what the filtered ones lack --------------------------------------------------------
    mains_hz: float = 50.0  # recorded in Germany
    raw_mains: float = 0.2  # hum amplitude, of each channel's scale
    raw_wander: float = 0.3  # ECG baseline wander, of the R-peak height
    raw_noise: float = 0.05


@dataclass(frozen=True)
class Subject:
    index: int
    name: str
    samples: tuple[tuple[int, str, int, int], ...]  # (sample_id, sample_name, class_id, position in session)


def plan_subjects(rng: np.random.Generator, subjects: int, per_class: int) -> list[Subject]:
    """Names like ``071309_w_21`` (recording date-like id, sex, age 18-65), each with ``per_class`` stimuli of
    every class in a random order; sample names ``<subject>-<class>-<nnn>``, nnn the position in the session."""
    if subjects < 2 or per_class < 1:
        raise ValueError(f"need at least 2 subjects and 1 sample per class, got {subjects} and {per_class}")
    names: list[str] = []
    while len(names) < subjects:
        ident = f"{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}{rng.integers(9, 14):02d}"
        if any(n.startswith(ident) for n in names):
            continue
        names.append(f"{ident}_{'wm'[rng.integers(2)]}_{rng.integers(18, 66)}")
    plans, sample_id = [], 0
    for index, name in enumerate(names):
        order = rng.permutation(np.repeat(np.arange(len(CLASSES)), per_class))
        samples = []
        for position, class_id in enumerate(order):
            samples.append((sample_id, f"{name}-{CLASSES[class_id]}-{position:03d}", int(class_id), position))
            sample_id += 1
        plans.append(Subject(index, name, tuple(samples)))
    return plans


def _envelope(t: np.ndarray, start: float, rise: float, end: float, decay: float) -> np.ndarray:
    """0 before ``start``, rising as 1 - exp(-dt/rise), held until ``end``, then decaying with ``decay``."""
    up = np.where(t >= start, 1 - np.exp(-np.clip(t - start, 0, None) / rise), 0.0)
    return up * np.where(t > end, np.exp(-np.clip(t - end, 0, None) / decay), 1.0)


def _scr(t: np.ndarray, onset: float, p: BiovidSynthParams) -> np.ndarray:
    """A skin conductance response of peak 1 starting at ``onset``: rise 0.7 s, decay 2.5 s."""
    span = np.clip(t - onset, 0, None)
    shape = (1 - np.exp(-span / p.scr_rise_s)) * np.exp(-span / p.scr_decay_s)
    peak = p.scr_rise_s * np.log((p.scr_rise_s + p.scr_decay_s) / p.scr_rise_s)
    return shape / ((1 - np.exp(-peak / p.scr_rise_s)) * np.exp(-peak / p.scr_decay_s))


def pain_face(rng: np.random.Generator, class_id: int, expressiveness: float, p: BiovidSynthParams) -> tuple[
        np.ndarray, float]:
    """(frames, 12) AU intensities in [0, 1] of one sample, and its pain-face intensity at the plateau."""
    t = np.arange(p.frames) / p.fps
    intensity = p.face_gain * p.face_level[class_id] * expressiveness * rng.lognormal(0, p.face_trial_sigma)
    intensity *= rng.random() < p.face_react_p
    start = p.onset_s + rng.uniform(*p.face_latency_s)
    course = intensity * _envelope(t, start, p.face_rise_s, p.onset_s + p.plateau_s, p.face_decay_s)
    aus = np.zeros((p.frames, len(AU_NAMES)))
    for au, weight in zip(PAIN_AUS, p.au_weights):
        k = AU_NAMES.index(au)
        aus[:, k] = weight * course
        # Spontaneous activity of the same muscles, whatever the class: one segment, or none.
        if rng.random() < p.spontaneous_au_p:
            length = int(rng.uniform(0.5, 2.0) * p.fps)
            begin = int(rng.integers(0, p.frames - length))
            aus[begin: begin + length, k] += rng.uniform(*p.spontaneous_au_level)
    return np.clip(aus, 0, 1), float(intensity)


def biosignals(rng: np.random.Generator, class_id: int, position: int, subject: dict, p: BiovidSynthParams
               ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Filtered and raw (3, N) gsr (uS), ecg (R peaks near 1) and trapezius EMG of one sample, and its truth."""
    n, fs = p.physio_samples, p.physio_rate
    t = np.arange(n) / fs
    # Skin conductance.
    tonic = subject["gsr_level"] * np.exp(p.gsr_session_drift * rng.standard_normal())
    gsr = tonic + rng.normal(0, p.gsr_slope_us_s) * t
    evoked = (p.scr_gain_us * p.scr_level[class_id] * subject["scr_gain"] * rng.lognormal(0, p.scr_trial_sigma)
              * np.exp(-p.habituation_per_stimulus * position) * (rng.random() < p.scr_react_p))
    gsr = gsr + evoked * _scr(t, p.onset_s + rng.uniform(*p.scr_latency_s), p)
    # Spontaneous responses may have begun before the window: onsets from 10 s before it.
    for onset in rng.uniform(-10, n / fs, rng.poisson(p.spontaneous_scr_per_minute / 60 * (10 + n / fs))):
        gsr = gsr + subject["scr_gain"] * rng.uniform(*p.spontaneous_scr_us) * _scr(t, onset, p)
    gsr = gsr + p.gsr_noise_us * rng.standard_normal(n)
    # Heart.
    rise = p.hr_gain_bpm * p.hr_level[class_id] * rng.lognormal(0, 0.3)
    start = p.onset_s + rng.uniform(*p.hr_latency_s)
    bpm = (subject["heart_rate"] + rng.normal(0, p.heart_sample_std_bpm)
           + rise * _envelope(t, start, 1.0, p.onset_s + p.plateau_s + 1.0, 2.0)
           + p.rsa_bpm * np.sin(2 * np.pi * rng.uniform(0.2, 0.3) * t + rng.uniform(0, 2 * np.pi)))
    phase = np.cumsum(bpm / 60 / fs) + rng.uniform()
    ecg = subject["ecg_gain"] * ecg_wave(phase % 1.0)
    ecg_clean = ecg + p.ecg_noise * subject["ecg_gain"] * rng.standard_normal(n)
    # Trapezius EMG: background noise, bursts at rest and with pain.
    envelope = np.ones(n)
    starts = np.concatenate([rng.uniform(0, n / fs, rng.poisson(p.emg_bursts_rest)),
                             p.onset_s + rng.uniform(0.5, 2.0, rng.poisson(p.emg_gain * p.emg_level[class_id]))])
    for at in starts:
        envelope += (rng.uniform(*p.emg_burst_x) - 1) * ((t >= at) & (t < at + rng.uniform(*p.emg_burst_s)))
    emg = subject["emg_rms"] * envelope * rng.standard_normal(n)
    filtered = np.stack([gsr, ecg_clean, emg])
    # Raw: mains hum on every channel, baseline wander on the ECG, more noise.
    scale = np.array([[tonic * 0.01], [subject["ecg_gain"]], [subject["emg_rms"]]])
    hum = np.sin(2 * np.pi * p.mains_hz * t + rng.uniform(0, 2 * np.pi))[None]
    wander = np.zeros((3, n))
    wander[1] = p.raw_wander * subject["ecg_gain"] * smooth_noise(rng, n, 0.7 * fs)
    raw = filtered + scale * (p.raw_mains * hum + p.raw_noise * rng.standard_normal((3, n))) + wander
    return filtered, raw, {"scr_amplitude": float(evoked), "hr_rise": float(rise)}


def _write_biosignals(path: Path, signals: np.ndarray, rate: int) -> None:
    """TAB-separated ``time gsr ecg emg_trapezius``; time in microseconds, as BioVid's files give it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    times = np.round(np.arange(signals.shape[1]) * 1e6 / rate).astype(np.int64)
    lines = ["\t".join(("time", *CHANNELS))]
    lines += [f"{time}\t{g:.4f}\t{e:.5f}\t{m:.4f}" for time, g, e, m in zip(times, *signals)]
    write_text(path, "\n".join(lines) + "\n")


def _yuv420p(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3H/2, W) planar YUV 4:2:0, BT.601 limited range (chroma averaged over 2x2)."""
    h, w = rgb.shape[:2]
    r, g, b = (rgb[..., k].astype(np.float32) for k in range(3))
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    half = [c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)).reshape(h // 4, w) for c in (u, v)]
    return np.clip(np.round(np.concatenate([y, *half])), 0, 255).astype(np.uint8)


class _VideoWriter:
    """A silent H.264 mp4 (BioVid's videos carry no sound), byte-identical for identical frames."""

    def __init__(self, path: Path, fps: int, size: tuple[int, int], p: SynthParams):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(path), "w", options={"fflags": "+bitexact"})
        self.stream = self.container.add_stream("libx264", rate=fps)
        self.stream.pix_fmt = "yuv420p"
        self.stream.width, self.stream.height = size
        self.stream.thread_count = 1
        self.stream.codec_context.flags |= av.codec.context.Flags.bitexact
        self.stream.options = {"preset": p.x264_preset, "crf": str(p.x264_crf)}
        self.fps, self.frames = fps, 0

    def add(self, image: Image.Image) -> None:
        # Converted to YUV here, not by the encoder's swscale, whose output was seen to differ between processes
        # for the same picture (its SIMD paths depend on the buffer's alignment).
        frame = av.VideoFrame.from_ndarray(_yuv420p(np.asarray(image)), format="yuv420p")
        frame.pts, frame.time_base = self.frames, Fraction(1, self.fps)
        self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()


def render_subject(out: Path, plan: Subject, seed: int, p: BiovidSynthParams) -> list[dict]:
    """Writes every sample of one subject (video, crops, filtered and raw biosignals); returns their truth.
    Everything random comes from generators seeded by (seed, subject, sample): no dependence on the worker."""
    out, fp = Path(out), p.face
    rng = np.random.default_rng([seed, 21, plan.index])
    ident = random_identity(rng)
    scene = Scene(rng, *p.video_size, [ident])  # one lab, one camera per subject
    expressiveness = float(rng.lognormal(0, p.expressiveness_sigma))
    subject = {"gsr_level": rng.uniform(*p.gsr_level_us), "scr_gain": rng.lognormal(0, p.scr_subject_sigma),
               "heart_rate": rng.uniform(*p.heart_rate_bpm), "ecg_gain": rng.uniform(0.5, 2.0),
               "emg_rms": rng.uniform(*p.emg_rms)}
    renderer = FaceRenderer(fp, p.crop_size)
    hz = fp.control_hz
    at = np.round(np.arange(p.frames) / p.fps * hz).astype(np.int64)
    n_ctrl = int(at[-1]) + 1
    truth = []
    for sample_id, name, class_id, position in plan.samples:
        srng = np.random.default_rng([seed, 22, sample_id])
        aus, intensity = pain_face(srng, class_id, expressiveness, p)
        # Nuisance, independent of the class: slow valence/arousal wander, blinks, gaze, misalignment, lighting.
        va = 0.2 * np.stack([smooth_noise(srng, n_ctrl, fp.va_smooth_sigma_s * hz) for _ in range(2)])
        nui = nuisance(srng, va[1], fp)
        light = lighting(srng, n_ctrl, fp)
        noise_std = srng.uniform(*fp.pixel_noise_std)
        state = FaceState(va[0][at], va[1][at], aus, nui.blink[at], nui.gaze[at], nui.crop_jitter[at], light[at])
        rgb, coverage = renderer.render(ident, state, srng, noise_std)
        crop_dir = out / "cropped_aligned" / name
        crop_dir.mkdir(parents=True, exist_ok=True)
        writer = _VideoWriter(out / "video" / plan.name / f"{name}.mp4", p.fps, p.video_size, fp)
        for j in range(p.frames):
            Image.fromarray(rgb[j]).save(crop_dir / frame_image_name(j + 1), "JPEG", quality=90)
            writer.add(scene.frame(float(light[at[j], 0]), [(face_sprite(rgb[j], coverage[j]), nui.head[at[j]])]))
        writer.close()
        filtered, raw, physio_truth = biosignals(np.random.default_rng([seed, 23, sample_id]), class_id, position,
                                                 subject, p)
        _write_biosignals(out / "biosignals_filtered" / plan.name / f"{name}_bio.csv", filtered, p.physio_rate)
        _write_biosignals(out / "biosignals_raw" / plan.name / f"{name}_bio.csv", raw, p.physio_rate)
        truth.append({"sample": name, "subject": plan.name, "class_id": class_id, "face_intensity": intensity,
                      **physio_truth})
    return truth


def generate_biovid(out: str | os.PathLike, seed: int = 0, subjects: int = DEFAULT_SUBJECTS,
                    per_class: int = DEFAULT_PER_CLASS, *, overwrite: bool = False, workers: int | None = None,
                    progress: bool = True, params: BiovidSynthParams | None = None) -> Path:
    """Writes a synthetic BioVid Part A (``samples.csv``, ``video/``, ``biosignals_filtered/``,
    ``biosignals_raw/``, plus ``cropped_aligned/``) under ``out``.

    Args:
        out: output folder; must be empty or absent (see ``overwrite``).
        seed: the same seed and arguments give the same files.
        subjects: number of subjects (at least 2).
        per_class: samples per class and subject (BioVid has 20).
        overwrite: replace a non-empty ``out`` that an earlier run of abaw-synth wrote.
        workers: rendering processes (default: up to 2); the files do not depend on it.
        progress: show a progress bar over subjects.
        params: generator parameters (default ``BiovidSynthParams()``).
    """
    out = Path(out)
    p = params or BiovidSynthParams()
    plans = plan_subjects(np.random.default_rng([seed, 20]), subjects, per_class)
    _prepare(out, overwrite)
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    bar = progress_bar(total=len(plans), desc="abaw-synth biovid", unit="subject", enabled=progress)
    truth: list[dict] = []
    if workers <= 1:
        for plan in plans:
            truth += render_subject(out, plan, seed, p)
            bar.update()
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for result in pool.map(render_subject, [out] * len(plans), plans, [seed] * len(plans),
                                   [p] * len(plans)):
                truth += result
                bar.update()
    bar.close()
    rows = ["\t".join(SAMPLES_HEADER)]
    rows += [f"{plan.index}\t{plan.name}\t{class_id}\t{CLASSES[class_id]}\t{sample_id}\t{name}"
             for plan in plans for sample_id, name, class_id, _ in plan.samples]
    write_text(out / "samples.csv", "\n".join(rows) + "\n")
    manifest = {
        "generator": "abaw.data.synthetic.biovid", "dataset": "biovid", "seed": seed,
        "arguments": {"subjects": subjects, "per_class": per_class},
        "parameters": dataclasses.asdict(p),
        "samples": truth,  # the latent truth of each sample (what its face and skin show), not part of BioVid
    }
    return _finish(out, "Synthetic BioVid Heat Pain, Part A layout, with face crops (not real data; see "
                        "docs/synthetic-biovid.md).\n"
                        f"Made with: abaw-synth --dataset biovid {out.name} --seed {seed} --subjects {subjects} "
                        f"--per-class {per_class}\n", manifest)


def describe_biovid(out: str | os.PathLike) -> str:
    """A one-line summary of a generated BioVid folder, from its manifest."""
    m = json.loads((Path(out) / MANIFEST).read_text(encoding="utf-8"))
    p = m["parameters"]
    return (f"{m['arguments']['subjects']} subjects x {len(CLASSES)} classes x {m['arguments']['per_class']} "
            f"samples = {len(m['samples'])} samples of {p['frames']} frames at {p['fps']} fps (face crops for "
            f"every frame) and {', '.join(CHANNELS)} at {p['physio_rate']} Hz, filtered and raw")
