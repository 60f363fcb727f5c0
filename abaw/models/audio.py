"""The audio path: the PAST seconds of raw mono waveform -> one audio embedding.

Two encoders, both reading ``batch["audio"]`` (B, N) float waveforms at the model's sample rate:

* :class:`SoundNetEncoder`: SoundNet-style 1D convolutions on the raw waveform (ABAW 2022 paper).
* :class:`LogMelEncoder`: a log-mel spectrogram and a small 2D CNN (the PKD paper's spectrogram route).

Both pool over time, so any waveform length works (the ABAW 2022 paper uses 10 s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

# SoundNet's eight conv layers as (kernel, stride, max-pool after it; 0 = none). Its conv8 was a 1000-way
# object classifier distilled from ImageNet models; here the eighth layer is a feature layer like the others.
SOUNDNET_LAYERS: tuple[tuple[int, int, int], ...] = (
    (64, 2, 8), (32, 2, 8), (16, 2, 0), (8, 2, 0), (4, 2, 4), (4, 2, 0), (4, 2, 0), (8, 2, 0),
)


def _check_waveform(wave: Tensor) -> None:
    if wave.ndim != 2:
        raise ValueError(f"audio must be a (B, N) mono waveform, got {tuple(wave.shape)}")


class AudioEncoder(nn.Module):
    """What both audio encoders share: ``sequence`` gives (B, L, out_dim) projected features over time (for
    fusions that attend over time), and the embedding is their mean over time. The projection is linear, so
    that mean is the projection of the mean feature."""

    input_key = "audio"

    def sequence(self, wave: Tensor) -> Tensor:
        raise NotImplementedError

    @staticmethod
    def summarise(sequence: Tensor) -> Tensor:
        return sequence.mean(dim=1)

    def forward(self, wave: Tensor, sequence: bool = False) -> Tensor:
        """(B, N) waveform -> (B, out_dim); with ``sequence``, the (B, L, out_dim) sequence instead."""
        steps = self.sequence(wave)
        return steps if sequence else self.summarise(steps)


class SoundNetEncoder(AudioEncoder):
    """SoundNet-style 1D CNN on the raw waveform.

    Eight conv layers with SoundNet's large kernels and strides, each followed by batch norm and ReLU, with
    max-pooling after the first, second and fifth. Channels start at ``width`` and double up to the seventh
    layer (the eighth keeps the seventh's width). The embedding is the eighth layer's feature map averaged
    over time, then projected to ``out_dim``: an intermediate conv feature, not a 1000-way class output
    (feeding SoundNet's class scores is the public code's fault).

    Convs are padded by half their kernel and pools round up, so every input length yields at least one
    time step.

    Args:
        out_dim: width of the embedding.
        width: channels of the first conv (SoundNet: 16).

    Attributes:
        input_key: ``"audio"``.
        out_dim: width of the embedding.
    """

    def __init__(self, out_dim: int = 512, width: int = 16):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for index, (kernel, stride, pool) in enumerate(SOUNDNET_LAYERS):
            out_channels = width * 2 ** min(index, 6)
            layers += [
                nn.Conv1d(channels, out_channels, kernel, stride, padding=kernel // 2, bias=False),
                nn.BatchNorm1d(out_channels),
                nn.ReLU(inplace=True),
            ]
            if pool:
                layers.append(nn.MaxPool1d(pool, pool, ceil_mode=True))
            channels = out_channels
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Linear(channels, out_dim)
        self.out_dim = out_dim

    def sequence(self, wave: Tensor) -> Tensor:
        """(B, N) waveform -> (B, L, out_dim): the eighth layer's map projected at each of its L time steps."""
        _check_waveform(wave)
        features = self.convs(wave.unsqueeze(1).to(self.proj.weight.dtype))
        return self.proj(features.transpose(1, 2))

def hz_to_mel(hz: Tensor | float) -> Tensor:
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def mel_to_hz(mel: Tensor) -> Tensor:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> Tensor:
    """Triangular filters equally spaced on the HTK mel scale.

    Filter m rises from edge m to 1 at edge m+1 and falls to 0 at edge m+2, the ``n_mels + 2`` edges being
    equally spaced in mel between ``f_min`` and ``f_max``; neighbouring filters overlap so that, between the
    first and the last centre, the weights of every frequency sum to 1.

    Args:
        n_fft: FFT size; the filters act on its ``n_fft // 2 + 1`` one-sided bins.
        n_mels: number of filters.
        sample_rate: sampling rate in Hz.
        f_min: lowest edge in Hz.
        f_max: highest edge in Hz (default: Nyquist).

    Returns:
        (n_mels, n_fft // 2 + 1) float32 weights.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    bins = torch.linspace(0.0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2,
                                     dtype=torch.float64))
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - left) / (centre - left)
    falling = (right - bins) / (right - centre)
    return torch.minimum(rising, falling).clamp(min=0.0).float()


class LogMelEncoder(AudioEncoder):
    """Log-mel spectrogram and a small 2D CNN (PKD paper: spectrograms -> CNN, trained from scratch).

    25 ms Hann windows every 10 ms, zero-padded to an FFT of at least twice the window so that the low mel
    filters are not narrower than a bin. Each mel band is then normalised by a batch norm, i.e. a z-score
    with dataset statistics: a per-clip z-score would erase loudness, which carries arousal. The CNN has one
    block per entry of ``channels`` (3x3 conv, batch norm, ReLU, 2x2 average pool); its map is averaged over
    frequency and time and projected to ``out_dim``.

    Args:
        sample_rate: sampling rate of the waveform in Hz.
        out_dim: width of the embedding.
        n_mels: mel bands.
        channels: output channels of the CNN blocks.

    Attributes:
        input_key: ``"audio"``.
        out_dim: width of the embedding.
    """

    def __init__(self, sample_rate: int = 16000, out_dim: int = 512, n_mels: int = 64,
                 channels: Sequence[int] = (32, 64, 128, 256)):
        super().__init__()
        self.win_length = round(0.025 * sample_rate)
        self.hop_length = round(0.010 * sample_rate)
        self.n_fft = 2 ** math.ceil(math.log2(2 * self.win_length))
        # Non-persistent: they follow from the arguments, so checkpoints need not carry them.
        self.register_buffer("window", torch.hann_window(self.win_length), persistent=False)
        self.register_buffer("filterbank", mel_filterbank(self.n_fft, n_mels, sample_rate), persistent=False)
        self.norm = nn.BatchNorm1d(n_mels)
        blocks: list[nn.Module] = []
        in_channels = 1
        for out_channels in channels:
            blocks += [
                nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                nn.AvgPool2d(2, ceil_mode=True),
            ]
            in_channels = out_channels
        self.cnn = nn.Sequential(*blocks)
        self.proj = nn.Linear(in_channels, out_dim)
        self.out_dim = out_dim

    def log_mel(self, wave: Tensor) -> Tensor:
        """(B, N) waveform -> (B, n_mels, frames) natural-log mel power, frame t centred on sample t * hop."""
        _check_waveform(wave)
        # Spectra in float32 outside autocast: STFTs have no half-precision kernels on CPU, and the log of
        # small powers needs the range.
        with torch.autocast(wave.device.type, enabled=False):
            spec = torch.stft(wave.float(), self.n_fft, self.hop_length, self.win_length,
                              window=self.window.float(), center=True, pad_mode="constant",
                              return_complex=True)
            power = spec.real.square() + spec.imag.square()
            return torch.log(self.filterbank.float() @ power + 1e-6)

    def sequence(self, wave: Tensor) -> Tensor:
        """(B, N) waveform -> (B, L, out_dim): the CNN's map averaged over frequency, projected per time step."""
        mel = self.norm(self.log_mel(wave).to(self.proj.weight.dtype))
        features = self.cnn(mel.unsqueeze(1)).mean(dim=-2)
        return self.proj(features.transpose(1, 2))
