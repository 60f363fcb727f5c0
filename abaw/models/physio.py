"""The physiology paths: the PAST seconds of physiological signals -> one embedding, either by a 1D CNN on the
signals or by an MLP on their standard features.

:class:`PhysioEncoder` reads ``batch["physio"]`` (B, C, N) float signals, one row per channel of
``model.physio_channels`` (:mod:`abaw.data.physio`). Like the audio encoders it pools over time, so any window
length works, and it offers its sequence to fusions that attend over time. :class:`PhysioFeatureEncoder` reads
``batch["physio_features"]`` (B, F), the standard features of the same window
(:func:`abaw.data.physio_features.physio_features`: EDA level and response, heart rate, EMG RMS); its sequence
is one step long.
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
        in_channels: signals per window (``len(model.physio_channels)``; RECOLA's ECG and EDA: 2).

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


class PhysioFeatureEncoder(nn.Module):
    """MLP over the standard physiology features of a window.

    The features come in their own units (beats per minute, microsiemens, seconds), so they first go through a
    batch norm per feature (dataset statistics, as :class:`PhysioEncoder`'s input does), then Linear -> ReLU ->
    Linear to ``out_dim``. For fusions that attend over time the embedding is a sequence of one step.

    Args:
        in_features: features per window (``len(feature_names(model.physio_channels))``).
        out_dim: width of the embedding (and of the hidden layer).

    Attributes:
        input_key: ``"physio_features"``.
        out_dim: width of the embedding.
    """

    input_key = "physio_features"

    def __init__(self, in_features: int, out_dim: int = 128):
        super().__init__()
        self.in_features = in_features
        self.norm = nn.BatchNorm1d(in_features)
        self.mlp = nn.Sequential(nn.Linear(in_features, out_dim), nn.ReLU(inplace=True), nn.Linear(out_dim, out_dim))
        self.out_dim = out_dim

    def sequence(self, features: Tensor) -> Tensor:
        """(B, F) -> (B, 1, out_dim)."""
        if features.ndim != 2 or features.shape[1] != self.in_features:
            raise ValueError(f"physio_features must be (B, {self.in_features}), got {tuple(features.shape)}")
        return self.mlp(self.norm(features.to(self.norm.weight.dtype))).unsqueeze(1)

    @staticmethod
    def summarise(sequence: Tensor) -> Tensor:
        return sequence.mean(dim=1)

    def forward(self, features: Tensor, sequence: bool = False) -> Tensor:
        """(B, F) -> (B, out_dim); with ``sequence``, the (B, 1, out_dim) sequence instead."""
        steps = self.sequence(features)
        return steps if sequence else self.summarise(steps)
