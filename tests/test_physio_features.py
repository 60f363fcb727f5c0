"""abaw.data.physio_features against signals whose answer is known by construction."""

import numpy as np
import pytest

from abaw.data.physio_features import feature_names, physio_features

RATE = 512.0


def _ecg(bpm: np.ndarray, rate: float, seconds: float, seed: int = 0) -> np.ndarray:
    """Narrow Gaussian R peaks at a heart rate that may change over time (``bpm`` per sample), baseline wander
    and noise: the peaks fall where the integrated rate crosses an integer."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    phase = np.cumsum(np.broadcast_to(bpm, (n,)) / 60 / rate)
    beats = np.flatnonzero(np.diff(np.floor(phase)) > 0) + 1
    ecg = np.zeros(n)
    for b in beats:
        ecg += np.exp(-0.5 * ((t - t[b]) / 0.01) ** 2)
    rng = np.random.default_rng(seed)
    return ecg + 0.3 * np.sin(2 * np.pi * 0.3 * t) + 0.02 * rng.standard_normal(n)


def _named(values: np.ndarray, channels: tuple[str, ...]) -> dict[str, float]:
    return dict(zip(feature_names(channels), values.tolist()))


def test_names_match_values_in_order():
    channels = ("gsr", "ecg", "emg_trapezius", "emg_corrugator")
    values = physio_features(np.random.default_rng(0).standard_normal((4, 2816)), RATE, channels)
    names = feature_names(channels)
    assert values.dtype == np.float32 and values.shape == (len(names),) == (5 + 4 + 3 + 3,)
    assert names[0] == "gsr_level" and names[5] == "ecg_hr_mean" and names[-3] == "emg_corrugator_rms"


@pytest.mark.parametrize("bpm", [55.0, 72.0, 110.0])
def test_heart_rate_of_a_known_rhythm(bpm):
    f = _named(physio_features(_ecg(np.array(bpm), RATE, 10.0)[None], RATE, ("ecg",)), ("ecg",))
    assert f["ecg_hr_mean"] == pytest.approx(bpm, rel=0.01)
    assert abs(f["ecg_hr_change"]) < 1.0
    assert f["ecg_rr_std"] < 0.01


def test_heart_rate_change_of_an_accelerating_heart():
    n = int(12 * RATE)
    bpm = np.where(np.arange(n) < n // 2, 60.0, 90.0)
    f = _named(physio_features(-_ecg(bpm, RATE, 12.0)[None], RATE, ("ecg",)), ("ecg",))  # inverted lead
    assert f["ecg_hr_change"] == pytest.approx(30.0, abs=3.0)
    assert f["ecg_hr_rise"] == pytest.approx(30.0, abs=3.0)


def test_skin_conductance_response_amplitude_level_and_slope():
    t = np.arange(int(5.5 * RATE)) / RATE
    onset, amplitude = 2.0, 0.4
    span = np.clip(t - onset, 0, None)
    shape = (1 - np.exp(-span / 0.7)) * np.exp(-span / 2.5)
    response = amplitude * shape / shape.max()
    f = _named(physio_features((6.0 + response)[None], RATE, ("gsr",)), ("gsr",))
    assert f["gsr_level"] == pytest.approx(6.0, abs=1e-6)
    # The 1 s smoothing lowers the peak a little: within 5% of the amplitude.
    assert f["gsr_scr_amplitude"] == pytest.approx(amplitude, rel=0.05)
    peak_time = onset + 0.7 * np.log((0.7 + 2.5) / 0.7)  # where the bi-exponential peaks
    assert f["gsr_scr_peak_time"] == pytest.approx(peak_time, abs=0.25)
    drift = physio_features((6.0 + 0.05 * t)[None], RATE, ("gsr",))
    assert _named(drift, ("gsr",))["gsr_slope"] == pytest.approx(0.05, rel=1e-4)


def test_emg_rms_of_a_known_burst():
    rng = np.random.default_rng(1)
    n = int(6 * RATE)
    quiet, loud = 0.01, 0.2
    noise = rng.standard_normal(n)
    x = np.where(np.arange(n) >= n // 2, loud, quiet) * noise
    f = _named(physio_features(x[None], RATE, ("emg_trapezius",)), ("emg_trapezius",))
    # White noise keeps about sqrt((256 - 20) / 256) of its RMS above 20 Hz.
    kept = np.sqrt((RATE / 2 - 20) / (RATE / 2))
    expected = np.sqrt((quiet**2 + loud**2) / 2) * kept
    assert f["emg_trapezius_rms"] == pytest.approx(expected, rel=0.05)
    assert f["emg_trapezius_rms_change"] == pytest.approx((loud - quiet) * kept, rel=0.05)
    assert f["emg_trapezius_rms_peak"] == pytest.approx(loud * kept, rel=0.15)


@pytest.mark.parametrize("n", [0, 1, 5, 40])
def test_flat_and_short_windows_give_finite_features(n):
    channels = ("gsr", "ecg", "emg_zygomaticus")
    for signals in (np.zeros((3, n)), np.full((3, n), 3.0), np.random.default_rng(2).standard_normal((3, n))):
        values = physio_features(signals, RATE, channels)
        assert values.shape == (len(feature_names(channels)),) and np.isfinite(values).all()
    flat = _named(physio_features(np.full((3, 2816), 3.0), RATE, channels), channels)
    assert flat["gsr_level"] == 3.0 and flat["ecg_hr_mean"] == 0.0 and abs(flat["emg_zygomaticus_rms"]) < 1e-9


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="no standard features.*'resp'"):
        feature_names(("resp",))
    with pytest.raises(ValueError, match="do not match 2 channels"):
        physio_features(np.zeros((3, 100)), RATE, ("gsr", "ecg"))
