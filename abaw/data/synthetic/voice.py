"""A voice-like soundtrack whose loudness, pitch, syllable rate and brightness follow arousal.

The source is a harmonic wave (a wavetable read at the pitch f0(t)); a syllable-rate envelope gates it into
syllables; talk spurts and pauses, drawn independently of arousal, gate it into phrases. Arousal raises the
level (dB), f0 (semitones), the syllable rate and the brightness (a flatter harmonic spectrum). Valence and the
expression do not reach the audio. Background noise (pink, per-video SNR, slowly drifting) is added last.
"""

from __future__ import annotations

import numpy as np

from abaw.data.synthetic.latent import smooth_noise
from abaw.data.synthetic.params import SynthParams

WAVETABLE_SIZE = 4096
HARMONICS = 40  # below Nyquist for every f0 used (<= 320 Hz * 40 = 12.8 kHz < 22.05 kHz)


def wavetable(tilt: float) -> np.ndarray:
    """One period of a harmonic wave with amplitudes 1/k^tilt, scaled to unit RMS."""
    phase = np.arange(WAVETABLE_SIZE) / WAVETABLE_SIZE * 2 * np.pi
    k = np.arange(1, HARMONICS + 1)[:, None]
    wave = np.sum(np.sin(k * phase) / k**tilt, axis=0)
    return (wave / np.sqrt(np.mean(wave**2))).astype(np.float32)


def talk_turns(rng: np.random.Generator, duration: float, speakers: int, p: SynthParams
               ) -> list[list[tuple[float, float]]]:
    """Talk spurts (start, end) in seconds for each speaker, taking turns, separated by pauses.

    Durations come from fixed ranges: when someone pauses says nothing about their arousal.
    """
    turns: list[list[tuple[float, float]]] = [[] for _ in range(speakers)]
    t, who = rng.uniform(0, p.pause_s[1]), int(rng.integers(speakers))
    while t < duration:
        end = t + rng.uniform(*p.talk_spurt_s)
        turns[who].append((t, min(end, duration)))
        t, who = end + rng.uniform(*p.pause_s), (who + 1) % speakers
    return turns


def _gate(turns: list[tuple[float, float]], n: int, sr: int, ramp_s: float = 0.03) -> np.ndarray:
    """0/1 talk gate at the sample rate, with short linear ramps so phrases do not click."""
    gate = np.zeros(n, dtype=np.float32)
    ramp = np.linspace(0, 1, max(2, int(ramp_s * sr)), dtype=np.float32)
    for start, end in turns:
        a, b = int(start * sr), min(n, int(end * sr))
        if b - a > 2 * len(ramp):
            gate[a:b] = 1
            gate[a : a + len(ramp)] = ramp
            gate[b - len(ramp) : b] = ramp[::-1]
    return gate


def voice(rng: np.random.Generator, arousal: np.ndarray, turns: list[tuple[float, float]], f0_base: float,
          sr: int, n: int, p: SynthParams) -> np.ndarray:
    """One speaker's voice, ``n`` samples at ``sr``; ``arousal`` is on the control grid (``p.control_hz``)."""
    hz = p.control_hz
    a = np.interp(np.arange(n) / sr * hz, np.arange(len(arousal)), arousal).astype(np.float32)
    intonation = p.intonation_semitones * smooth_noise(rng, len(arousal), 0.4 * hz)
    semitones = np.interp(np.arange(n) / sr * hz, np.arange(len(arousal)), intonation).astype(np.float32)
    semitones += p.f0_semitones_per_arousal * a
    f0 = f0_base * np.exp2(semitones / 12)
    phase = np.cumsum(f0 / sr, dtype=np.float64) % 1.0
    index = (phase * WAVETABLE_SIZE).astype(np.int64)
    brightness = (a + 1) / 2  # 0: lax voice, 1: tense voice
    source = wavetable(p.tilt_lax)[index] * (1 - brightness) + wavetable(p.tilt_tense)[index] * brightness

    syllable = np.cumsum(p.syllable_rate_hz * (1 + p.syllable_rate_gain * a) / sr, dtype=np.float64)
    stress = rng.uniform(0.5, 1.0, int(syllable[-1]) + 2).astype(np.float32)  # syllables differ in stress
    envelope = np.sin(np.pi * (syllable % 1.0)).astype(np.float32) ** 2 * stress[syllable.astype(np.int64)]
    # RMS ``speech_rms`` while talking at arousal 0: sin^2 has mean square 3/8, the stress factor 7/12.
    level = p.speech_rms / np.sqrt(3 / 8 * 7 / 12)
    loudness = np.power(10.0, p.loudness_db_per_arousal * a / 20, dtype=np.float32)
    breath = 0.05 * rng.standard_normal(n, dtype=np.float32)
    return level * loudness * envelope * _gate(turns, n, sr) * (source + breath)


def pink_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Noise with a 1/f power spectrum (rooms, traffic, fans), unit RMS."""
    n_fft = 1 << (n - 1).bit_length()  # a power of two: the FFT of a prime-ish length can be very slow
    spectrum = np.fft.rfft(rng.standard_normal(n_fft))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1.0))
    noise = np.fft.irfft(spectrum, n_fft)[:n]
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def soundtrack(rng: np.random.Generator, arousals: list[np.ndarray], f0_bases: list[float], sr: int, n: int,
               channels: int, p: SynthParams) -> np.ndarray:
    """The video's audio (channels, n) float32 in [-1, 1]: every person's voice, taking turns, plus noise.

    Two people are panned left and right in stereo (the left person louder on the left channel).
    """
    speakers = len(arousals)
    turns = talk_turns(rng, n / sr, speakers, p)
    voices = [voice(rng, a, t, f0, sr, n, p) for a, t, f0 in zip(arousals, turns, f0_bases)]
    if speakers == 1:
        pans = [np.full(channels, 1.0)]
    else:
        pans = [np.array([0.8, 0.45]), np.array([0.45, 0.8])] if channels == 2 else [np.ones(1), np.ones(1)]
    mix = sum(pan[:, None] * v[None, :] for pan, v in zip(pans, voices)).astype(np.float32)
    snr_db = rng.uniform(*p.snr_db)
    drift = np.power(10.0, p.noise_drift_db * smooth_noise(rng, n // 1000 + 2, 5.0 * sr / 1000) / 20)
    noise_level = p.speech_rms * 10 ** (-snr_db / 20) * np.interp(np.arange(n) / 1000, np.arange(len(drift)), drift)
    for channel in range(channels):
        mix[channel] += (noise_level * pink_noise(rng, n)).astype(np.float32)
    gain = 10 ** (rng.uniform(*p.recording_gain_db) / 20)
    return np.clip(gain * mix, -1.0, 1.0)
