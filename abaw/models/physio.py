"""The physiology path: the PAST seconds of ECG and EDA -> one embedding (a 1D CNN).

Reads ``batch["physio"]`` (B, C, N) float signals (standardised per recording by the stream,
:mod:`abaw.data.physio`). Like the audio encoders it pools over time, so any window length works, and it offers
its sequence to fusions that attend over time.
"""

from __future__ import annotations

from torch import Tensor, nn

# (kernel, stride) of each conv block: wide first kernels see a heartbeat (0.3-1 s) at 50-250 Hz; every block
# halves the rate, so the last map steps every 16 samples.
PHYSIO_LAYERS: tuple[tuple[int, int], ...] = ((9, 2), (7, 2), (5, 2), (5, 2))


class PhysioEncoder(nn.Module):
    """1D CNN over physiological signals.

    The input first goes through a batch norm per channel (dataset statistics, as the log-mel encoder's bands
    do), then conv blocks (conv, batch norm, ReLU) of ``width``, 2x, 4x, 8x channels with the strides of
    :data:`PHYSIO_LAYERS`; the last map is projected to ``out_dim`` per time step and averaged over time.

    Args:
        out_dim: width of the embedding.
        width: channels of the first conv.
        in_channels: signals per window (the stream's ECG and EDA: 2).

    Attributes:
        input_key: ``"physio"``.
        out_dim: width of the embedding.
    """

    input_key = "physio"

    def __init__(self, out_dim: int = 128, width: int = 16, in_channels: int = 2):
        super().__init__()
        self.norm = nn.BatchNorm1d(in_channels)
        layers: list[nn.Module] = []
        channels = in_channels
        for index, (kernel, stride) in enumerate(PHYSIO_LAYERS):
            out_channels = width * 2**index
            layers += [nn.Conv1d(channels, out_channels, kernel, stride, padding=kernel // 2, bias=False),
                       nn.BatchNorm1d(out_channels), nn.ReLU(inplace=True)]
            channels = out_channels
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Linear(channels, out_dim)
        self.out_dim = out_dim

    def sequence(self, signals: Tensor) -> Tensor:
        """(B, C, N) -> (B, L, out_dim), L about N / 16."""
        if signals.ndim != 3:
            raise ValueError(f"physio must be (B, channels, samples), got {tuple(signals.shape)}")
        features = self.convs(self.norm(signals.to(self.proj.weight.dtype)))
        return self.proj(features.transpose(1, 2))

    @staticmethod
    def summarise(sequence: Tensor) -> Tensor:
        return sequence.mean(dim=1)

    def forward(self, signals: Tensor, sequence: bool = False) -> Tensor:
        """(B, C, N) -> (B, out_dim); with ``sequence``, the (B, L, out_dim) sequence instead."""
        steps = self.sequence(signals)
        return steps if sequence else self.summarise(steps)
