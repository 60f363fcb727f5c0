"""Latent per-person trajectories: affect (valence, arousal, expression, AUs) and nuisance (blinks, pose, light).

Everything lives on a control grid of ``params.control_hz`` samples per second that starts at the first video
frame; video frames and audio samples read the same trajectories, so the face, the voice and the labels agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abaw.data.synthetic.params import SynthParams
from abaw.tasks import AU_NAMES, EXPR_CLASSES, FACE_CROP_SIZE


def smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Stationary Gaussian process of unit variance: white noise through a Gaussian kernel of ``sigma`` samples."""
    radius = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= np.sqrt(np.sum(kernel**2))
    return np.convolve(rng.standard_normal(n + 2 * radius), kernel, mode="valid")


def segment_starts(rng: np.random.Generator, n: int, hz: float, length_s: tuple[float, float]) -> np.ndarray:
    """Start indices of back-to-back segments covering ``n`` control samples, lengths uniform in ``length_s``."""
    starts = [0]
    while True:
        nxt = starts[-1] + max(1, round(rng.uniform(*length_s) * hz))
        if nxt >= n:
            return np.asarray(starts)
        starts.append(nxt)


def runs_mask(rng: np.random.Generator, n: int, fraction: float, run: tuple[int, int], max_share: float) -> np.ndarray:
    """Boolean mask of ``n`` frames with runs of ``run`` frames placed at random until ``fraction`` is covered.

    At least one run is placed; runs are capped at ``max_share`` of ``n`` so short videos keep most frames, and
    at what is still missing of ``fraction`` (but never below the shortest run) so the total stays near it.
    """
    mask = np.zeros(n, dtype=bool)
    cap = max(1, min(run[1], int(max_share * n)))
    while True:
        needed = int(np.ceil(fraction * n)) - int(mask.sum())
        longest = max(min(run[0], cap), min(cap, needed))
        length = int(rng.integers(min(run[0], cap), longest + 1))
        start = int(rng.integers(0, n - length + 1))
        mask[start : start + length] = True
        if mask.mean() >= fraction:
            return mask


@dataclass
class Affect:
    """One person's latent affect on the control grid."""

    valence: np.ndarray  # (n,) in (-1, 1)
    arousal: np.ndarray  # (n,) in (-1, 1), independent of valence
    expression: np.ndarray  # (n,) int in 0..7, order of tasks.EXPR_CLASSES
    aus: np.ndarray  # (n, 12) int8 0/1, order of tasks.AU_NAMES


def affect(rng: np.random.Generator, n: int, p: SynthParams) -> Affect:
    """Valence and arousal as independent smooth processes; expression from them; AUs from the expression."""
    sigma = p.va_smooth_sigma_s * p.control_hz
    valence = np.tanh(p.va_gain * smooth_noise(rng, n, sigma) + rng.normal(0, p.va_person_offset_std))
    arousal = np.tanh(p.va_gain * smooth_noise(rng, n, sigma) + rng.normal(0, p.va_person_offset_std))
    expression = expression_track(rng, valence, arousal, p)
    return Affect(valence, arousal, expression, au_track(rng, expression, p))


def rated(rng: np.random.Generator, latent: np.ndarray, p: SynthParams) -> np.ndarray:
    """The gold standard of ``p.raters`` raters of one latent trace: each follows it late, with their own gain,
    offset and slowly varying disagreement; their mean, clipped to [-1, 1]. Before a rater's lag has passed,
    they hold the first value (they have not moved the joystick yet)."""
    n = len(latent)
    traces = []
    for _ in range(p.raters):
        lag = round(rng.uniform(*p.rater_lag_s) * p.control_hz)
        late = np.concatenate([np.full(min(lag, n), latent[0]), latent[: max(0, n - lag)]])
        noise = p.rater_noise_std * smooth_noise(rng, n, p.rater_noise_sigma_s * p.control_hz)
        traces.append(rng.uniform(*p.rater_gain) * late + rng.normal(0, p.rater_offset_std) + noise)
    return np.clip(np.mean(traces, axis=0), -1.0, 1.0)


def expression_track(rng: np.random.Generator, valence: np.ndarray, arousal: np.ndarray, p: SynthParams) -> np.ndarray:
    """Segments of 1-4 s; each segment's class is drawn from a softmax over circumplex distances of its mean (v, a).

    "Other" takes a fixed share, independent of (v, a).
    """
    n = len(valence)
    names = [c for c in EXPR_CLASSES if c in p.circumplex]
    centres = np.array([p.circumplex[c] for c in names])
    starts = segment_starts(rng, n, p.control_hz, p.expr_segment_s)
    out = np.empty(n, dtype=np.int64)
    for start, stop in zip(starts, [*starts[1:], n]):
        point = np.array([valence[start:stop].mean(), arousal[start:stop].mean()])
        logits = -np.sum((centres - point) ** 2, axis=1) / (2 * p.expr_temperature**2)
        probs = np.exp(logits - logits.max())
        probs = (1 - p.other_share) * probs / probs.sum()
        name = rng.choice([*names, "Other"], p=[*probs, p.other_share])
        out[start:stop] = EXPR_CLASSES.index(name)
    return out


def au_track(rng: np.random.Generator, expression: np.ndarray, p: SynthParams) -> np.ndarray:
    """Each expression segment switches its prototype AUs on (per-AU probability), OR independent activations."""
    n = len(expression)
    aus = np.zeros((n, len(AU_NAMES)), dtype=np.int8)
    changes = np.flatnonzero(np.diff(expression)) + 1
    for start, stop in zip([0, *changes], [*changes, n]):
        proto = p.au_prototypes[EXPR_CLASSES[expression[start]]]
        probs = np.array([proto.get(au, 0.0) for au in AU_NAMES])
        aus[start:stop] = rng.random(len(AU_NAMES)) < probs
    for k in range(len(AU_NAMES)):
        starts = segment_starts(rng, n, p.control_hz, p.au_spontaneous_segment_s)
        on = rng.random(len(starts)) < p.au_spontaneous_p
        aus[:, k] |= np.repeat(on, np.diff([*starts, n])).astype(np.int8)
    return aus


@dataclass
class Nuisance:
    """What changes one person's pixels but not the labels, on the control grid."""

    blink: np.ndarray  # (n,) eye-opening factor, 1 = open, ~0.1 = closed
    gaze: np.ndarray  # (n, 2) iris offset, in eye widths
    crop_jitter: np.ndarray  # (n, 4) dx, dy (crop units: 1 = half the crop), roll (rad), log-scale
    head: np.ndarray  # (n, 4) dx (share of frame width), dy, roll (degrees), log-scale: head motion in the video


def nuisance(rng: np.random.Generator, arousal: np.ndarray, p: SynthParams) -> Nuisance:
    """Blinks (Poisson), gaze, the crop's residual misalignment and the head's motion. Only two of them follow
    the latent arousal, faintly: the blink rate (x exp(blink_arousal_gain * a)) and the amplitude of the head's
    and the crop's motion (x exp(motion_arousal_gain * a))."""
    hz, n = p.control_hz, len(arousal)
    blink = np.ones(n)
    # Blinks at the highest rate, each kept with the ratio of the rate at its time: a Poisson process whose
    # rate follows arousal.
    peak = np.exp(p.blink_arousal_gain)
    starts = rng.integers(0, n, rng.poisson(p.blink_rate_hz * peak * n / hz))
    starts = starts[rng.random(len(starts)) < np.exp(p.blink_arousal_gain * arousal[starts]) / peak]
    width = max(1, round(p.blink_duration_s * hz))
    closure = 1 - 0.9 * (1 - np.abs(np.linspace(-1, 1, width)))  # eyelid closes and reopens linearly
    for start in starts:
        seg = blink[start : start + width]
        np.minimum(seg, closure[: len(seg)], out=seg)
    pose_sigma = p.pose_smooth_sigma_s * hz
    gaze = p.gaze_std * np.stack([smooth_noise(rng, n, pose_sigma) for _ in range(2)], axis=1)
    energy = np.exp(p.motion_arousal_gain * arousal)[:, None]
    shift = p.crop_jitter_px / (FACE_CROP_SIZE / 2)
    jitter_scale = [shift, shift, np.deg2rad(p.crop_jitter_deg), p.crop_jitter_scale]
    jitter = energy * np.stack([s * smooth_noise(rng, n, pose_sigma) for s in jitter_scale], axis=1)
    head_scale = [p.head_shift, p.head_shift / 2, p.head_roll_deg, p.head_scale]
    head = energy * np.stack([s * smooth_noise(rng, n, pose_sigma) for s in head_scale], axis=1)
    return Nuisance(blink, gaze, jitter, head)


def lighting(rng: np.random.Generator, n: int, p: SynthParams) -> np.ndarray:
    """(n, 3): brightness factor and horizontal / vertical gradient of the scene's light, drifting slowly."""
    sigma = p.lighting_smooth_sigma_s * p.control_hz
    brightness = rng.uniform(0.8, 1.1) * np.exp(p.lighting_brightness_std * smooth_noise(rng, n, sigma))
    gradient = rng.uniform(-0.15, 0.15, 2) + 0.05 * np.stack([smooth_noise(rng, n, sigma) for _ in range(2)], 1)
    return np.column_stack([brightness, gradient])


def frame_indices(n_frames: int, fps: int, hz: float) -> np.ndarray:
    """Control-grid index of each video frame (frame 1 at time 0)."""
    return np.round(np.arange(n_frames) / fps * hz).astype(np.int64)


def control_length(n_frames: int, fps: int, hz: float) -> int:
    """Control samples needed to cover ``n_frames`` frames (and their audio) with a margin of one frame."""
    return int(np.ceil((n_frames + 1) / fps * hz)) + 1
