"""Standard hand-crafted physiology features of one window: EDA level, slope and response, heart rate and its
change, EMG energy and its change.

These are the features of the BioVid literature's classical pipelines (Werner et al. 2014; Walter et al. 2013:
skin conductance amplitude and slope, heart rate from R-R intervals, EMG amplitude), kept few and plain so that
a linear read-out of them is a fixed, method-independent probe (``benchmarks/biovid_probes.py``) and an input
of the feature encoder. Which features a channel gets depends on its kind, read from its name and registered as
data in ``CHANNEL_KINDS``:

- EDA (``gsr``, ``eda``): tonic level (median of the first second), slope (least-squares, per second), the
  phasic response (the largest rise of the 1 Hz-smoothed signal above its lowest earlier value: a skin
  conductance response's amplitude; spontaneous responses count too, as in any peak-to-trough scoring), the
  time of that response's peak, and the spread (standard deviation).
- ECG (``ecg``): R peaks of the 5-30 Hz band-passed signal (scipy.signal.find_peaks, at least 0.3 s apart, at
  least 40% of the 99th percentile, on whichever polarity has the larger peaks); mean heart rate (60 / mean R-R),
  its change (mean instantaneous rate of the beats in the second half minus the first half), its rise (the
  largest instantaneous rate minus the first one) and the R-R spread (SDNN, seconds).
- EMG (``emg_*``): RMS of the 20 Hz high-passed signal, its change (RMS of the second half minus the first)
  and its peak (the largest RMS over 250 ms).

Robust to bad windows, by a documented fallback: a feature that cannot be measured (a flat or too short signal,
fewer than two R peaks) is 0, never NaN; a window too short for a filter is used unfiltered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

SMOOTH_S = 1.0  # EDA smoothing: responses rise over 1-3 s; faster wiggles are noise
LEVEL_S = 1.0  # the tonic level is read over the window's first second (before any response to its stimulus)
MIN_BEAT_S = 0.3  # R peaks at most 200 bpm apart
EMG_PEAK_S = 0.25  # the EMG peak: the largest RMS over 250 ms (a burst's typical duration)


def _band_passed(x: np.ndarray, rate: float, low: float, high: float | None = None) -> np.ndarray:
    """``x`` without what lies below ``low`` Hz (and above ``high``): zero-phase 4th-order Butterworth. A high
    cut-off at or past the Nyquist rate is dropped; a window too short for the filter (or a low cut-off past the
    Nyquist rate) only loses its mean."""
    nyquist = rate / 2
    high = high if high is not None and high < nyquist else None
    if low >= nyquist:
        return x - x.mean()
    sos = butter(4, (low, high) if high else low, btype="bandpass" if high else "highpass", fs=rate, output="sos")
    if len(x) <= 3 * (2 * len(sos) + 1):  # sosfiltfilt's default padding needs a longer window
        return x - x.mean()
    return sosfiltfilt(sos, x)


def _moving_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving mean over ``width`` samples, the ends averaged over what exists."""
    width = max(1, min(width, len(x)))
    kernel = np.ones(width)
    return np.convolve(x, kernel, mode="same") / np.convolve(np.ones(len(x)), kernel, mode="same")


def eda_features(x: np.ndarray, rate: float) -> list[float]:
    """Level (uS), slope (uS/s), response amplitude (uS), response peak time (s from the window start), spread."""
    if len(x) < 2:
        return [float(x[0]) if len(x) else 0.0, 0.0, 0.0, 0.0, 0.0]
    t = np.arange(len(x)) / rate
    level = float(np.median(x[: max(1, int(LEVEL_S * rate))]))
    slope = float(np.polyfit(t, x, 1)[0]) if np.ptp(x) > 0 else 0.0
    smooth = _moving_mean(x, int(SMOOTH_S * rate))
    rise = smooth - np.minimum.accumulate(smooth)
    peak = int(np.argmax(rise))
    return [level, slope, float(rise[peak]), float(t[peak]) if rise[peak] > 0 else 0.0, float(x.std())]


def ecg_features(x: np.ndarray, rate: float) -> list[float]:
    """Mean heart rate (bpm), its change (bpm, second half minus first), its rise (bpm), R-R spread (s)."""
    if len(x) < 2 or np.ptp(x) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    band = _band_passed(x, rate, 5.0, 30.0)
    if np.abs(np.percentile(band, 0.5)) > np.abs(np.percentile(band, 99.5)):
        band = -band  # an inverted lead: the R peaks point down
    height = 0.4 * np.percentile(band, 99)
    peaks, _ = find_peaks(band, height=height if height > 0 else None, distance=max(1, int(MIN_BEAT_S * rate)))
    if len(peaks) < 2:
        return [0.0, 0.0, 0.0, 0.0]
    rr = np.diff(peaks) / rate
    beat_rate = 60.0 / rr
    beat_time = peaks[1:] / rate
    half = len(x) / rate / 2
    early, late = beat_rate[beat_time <= half], beat_rate[beat_time > half]
    change = float(late.mean() - early.mean()) if len(early) and len(late) else 0.0
    return [float(60.0 / rr.mean()), change, float(beat_rate.max() - beat_rate[0]), float(rr.std())]


def emg_features(x: np.ndarray, rate: float) -> list[float]:
    """RMS, its change (second half minus first), and its largest value over 250 ms, of the high-passed signal."""
    if len(x) < 2:
        return [0.0, 0.0, 0.0]
    band = _band_passed(x, rate, 20.0)
    half = len(band) // 2
    power = band**2
    peak = np.sqrt(_moving_mean(power, int(EMG_PEAK_S * rate)).max())
    return [float(np.sqrt(power.mean())),
            float(np.sqrt(power[half:].mean()) - np.sqrt(power[:half].mean())) if half else 0.0, float(peak)]


@dataclass(frozen=True)
class ChannelKind:
    """The features of one kind of channel: their names (suffixes) and the function that computes them."""

    features: tuple[str, ...]
    compute: Callable[[np.ndarray, float], list[float]]


CHANNEL_KINDS = {
    "eda": ChannelKind(("level", "slope", "scr_amplitude", "scr_peak_time", "std"), eda_features),
    "ecg": ChannelKind(("hr_mean", "hr_change", "hr_rise", "rr_std"), ecg_features),
    "emg": ChannelKind(("rms", "rms_change", "rms_peak"), emg_features),
}
# Channel name (or its prefix before "_") -> kind: BioVid calls skin conductance "gsr", RECOLA "EDA".
KIND_OF_NAME = {"gsr": "eda", "eda": "eda", "ecg": "ecg", "emg": "emg"}


def channel_kind(channel: str) -> ChannelKind:
    """The kind of a channel by its name: ``gsr``/``eda``, ``ecg``, or ``emg`` and ``emg_<muscle>``."""
    name = channel.lower()
    kind = KIND_OF_NAME.get(name) or KIND_OF_NAME.get(name.split("_")[0])
    if kind is None:
        raise ValueError(f"no standard features for physiology channel {channel!r}: known kinds are "
                         f"{sorted(KIND_OF_NAME)} (a channel named like emg_<muscle> is an EMG)")
    return CHANNEL_KINDS[kind]


def feature_names(channels: tuple[str, ...]) -> tuple[str, ...]:
    """The names of :func:`physio_features`' outputs, ``<channel>_<feature>``, in its order."""
    return tuple(f"{channel}_{feature}" for channel in channels for feature in channel_kind(channel).features)


def physio_features(signals: np.ndarray, rate: float, channels: tuple[str, ...]) -> np.ndarray:
    """The standard features of one window of physiology.

    Args:
        signals: (C, N) the window's signals, one row per channel, in the order of ``channels``.
        rate: sampling rate in Hz.
        channels: the channel names (``gsr``, ``ecg``, ``emg_trapezius``, ...), which choose the features.

    Returns:
        (F,) float32, named by :func:`feature_names`; a feature that cannot be measured is 0.
    """
    signals = np.asarray(signals, dtype=np.float64)
    if signals.ndim != 2 or signals.shape[0] != len(channels):
        raise ValueError(f"physio_features: signals of shape {signals.shape} do not match {len(channels)} channels "
                         f"{tuple(channels)}")
    if rate <= 0:
        raise ValueError(f"physio_features: the rate must be positive, got {rate}")
    signals = np.nan_to_num(signals)
    values = [v for row, channel in zip(signals, channels) for v in channel_kind(channel).compute(row, rate)]
    return np.nan_to_num(np.asarray(values, dtype=np.float32))
