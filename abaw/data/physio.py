"""The physiology streams: the PAST window of a clip's physiological signals at the model's rate, as signals
("physio") or as standard features of that window ("physio_features").

The dataset's layout says which channels its files hold and reads them: ``layout.physio_channels`` (names, in
order) and ``layout.read_physio(path) -> (signals (C, N), rate)`` (RECOLA: ECG and EDA). ``data.physio_channels``
selects and orders channels (empty: all the layout's); the model names the channels it was built for
(``model.physio_channels``), and a stream that would feed it others stops at data set-up, naming both.

Each recording's signals are read once, resampled to ``model.physio_rate`` with an anti-aliasing filter,
standardised per recording and channel (``data.physio_standardise``), cached as ``.npy`` and read back
memory-mapped. Per-recording standardisation, because electrode contact and skin conductance levels differ
between people by more than affect moves them within one person: an encoder then reads a recording's changes,
not its person's baseline. A dataset whose files are short samples (BioVid: one 5.5-s file per stimulus) turns it
off: standardising each sample would erase how strongly that sample responded.

A recording without a physiology file gets zeros (a logged fallback, counted in ``PhysioStore.missing``), as a
video without a sound track gets silence.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.signal import resample_poly

from abaw.data.cache import atomic_save_npy, default_cache_dir, file_key
from abaw.data.physio_features import physio_features
from abaw.data.streams import register_stream
from abaw.errors import AbawError

if TYPE_CHECKING:
    from abaw.config import ExperimentConfig
    from abaw.data.clips import ClipDataset

log = logging.getLogger(__name__)


def resample(signals: np.ndarray, rate: float, target: int) -> np.ndarray:
    """(C, N) signals at ``rate`` Hz -> (C, M) at ``target`` Hz, polyphase with an anti-aliasing filter. The
    signal is extended past its ends along the line through its end samples (not with zeros), so that a skin
    conductance level far from zero does not droop at the start and the end."""
    ratio = Fraction(target) / Fraction(rate).limit_denominator(1000)
    if ratio == 1:
        return signals.astype(np.float32)
    return resample_poly(signals, ratio.numerator, ratio.denominator, axis=1, padtype="line").astype(np.float32)


def standardise(signals: np.ndarray) -> np.ndarray:
    """Each channel to mean 0 and standard deviation 1 (a flat channel to 0)."""
    mean = signals.mean(axis=1, keepdims=True)
    std = signals.std(axis=1, keepdims=True)
    return ((signals - mean) / np.where(std > 0, std, 1)).astype(np.float32)


class PhysioChannelError(AbawError, ValueError):
    """Physiology channels that a dataset lacks, or that differ from those the model was built for."""


def physio_window(signals: np.ndarray, rate: int, end_time: float, seconds: float) -> np.ndarray:
    """The ``seconds`` of (C, N) signals that end at ``end_time``; zeros before the start and past the end, so
    every window has ``round(seconds * rate)`` samples."""
    n = int(round(seconds * rate))
    end = int(round(end_time * rate))
    start = end - n
    out = np.zeros((signals.shape[0], n), np.float32)
    lo, hi = max(start, 0), min(end, signals.shape[1])
    if hi > lo:
        out[:, lo - start: hi - start] = signals[:, lo:hi]
    return out


class PhysioStore:
    """Physiology signals per file, resampled (and standardised) once, cached, read back memory-mapped.

    Args:
        cache_dir: where the processed signals are kept.
        rate: the rate every signal is resampled to, Hz.
        standardise: each file's channels to mean 0 and standard deviation 1; otherwise the layout's units.
    """

    def __init__(self, cache_dir: Path | None = None, rate: int = 100, standardise: bool = True):
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir() / "physio"
        self.rate = rate
        self.standardise = standardise
        self.missing: set[str] = set()
        self._open: dict[tuple[Path, tuple[str, ...]], np.ndarray] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_open": {}}  # workers get paths, not memory maps

    def signals(self, path: Path, layout, channels: tuple[str, ...]) -> np.ndarray:
        """(len(channels), N) float32 at ``rate``, sample 0 at the file's first time, read by
        ``layout.read_physio`` (whose rows are ``layout.physio_channels``; ``channels`` are among them)."""
        if (path, channels) in self._open:
            return self._open[path, channels]
        processing = "standardised" if self.standardise else "as read"
        cached = self.cache_dir / f"{path.stem}-{file_key(path, self.rate, processing, *channels)}.npy"
        if not cached.exists():
            raw, rate = layout.read_physio(path)
            if raw.ndim != 2 or raw.shape[0] != len(layout.physio_channels):
                raise PhysioChannelError(f"{path}: read signals of shape {raw.shape}, expected one row per channel "
                                         f"of {', '.join(layout.physio_channels)}")
            picked = resample(raw[[layout.physio_channels.index(c) for c in channels]], rate, self.rate)
            atomic_save_npy(cached, standardise(picked) if self.standardise else picked)
        self._open[path, channels] = np.load(cached, mmap_mode="r")
        return self._open[path, channels]


class PhysioStream:
    """The past ``seconds`` of the physiology channels, float32 (C, seconds * rate), ending at the end of the
    row's frame.

    Args:
        store: reads and caches each recording's signals.
        seconds: the window's length (``data.physio_seconds``).
        channels: the channels read, in this order (``data.physio_channels``); empty: all the layout's.
        model_channels: the channels the reading model was built for (``model.physio_channels``), checked
            against those read when a dataset is prepared; empty: not checked.
    """

    key = "physio"

    def __init__(self, store: PhysioStore, seconds: float, channels: tuple[str, ...] = (),
                 model_channels: tuple[str, ...] = ()):
        self.store = store
        self.seconds = seconds
        self.channels = tuple(channels)
        self.model_channels = tuple(model_channels)

    def channels_of(self, layout) -> tuple[str, ...]:
        """The channels read from a dataset's files: ``channels`` in their order, or all of the layout's.

        Raises:
            PhysioChannelError: a chosen channel that the layout does not have.
        """
        available = tuple(layout.physio_channels)
        lacking = [c for c in self.channels if c not in available]
        if lacking:
            raise PhysioChannelError(f"{layout.root}: data.physio_channels asks for {', '.join(lacking)}, which this "
                                     f"dataset's physiology files lack; they have {', '.join(available)}")
        return self.channels or available

    def prepare(self, dataset: ClipDataset) -> None:
        """Check the channels against the model's and read each recording's signals once; recordings without a
        physiology file are named in one warning and read as zeros.

        Raises:
            PhysioChannelError: a channel the dataset lacks, or channels other than the model's.
        """
        channels = self.channels_of(dataset.layout)
        if self.model_channels and channels != self.model_channels:
            raise PhysioChannelError(
                f"{dataset.layout.root}: the physiology stream reads the channels {', '.join(channels)}, but the "
                f"model was built for {', '.join(self.model_channels)} (model.physio_channels); set "
                f"model.physio_channels=[{','.join(channels)}] or data.physio_channels="
                f"[{','.join(self.model_channels)}]")
        names = dataset.video_names()
        missing = []
        for video, name in enumerate(names):
            path = dataset.stream_file("physio", video)
            if path is None:
                missing.append(name)
            else:
                self.store.signals(path, dataset.layout, channels)
        if missing:
            self.store.missing.update(missing)
            log.warning("no physiology file (%s) for %d of %d recordings (%s); their clips read zeros",
                        ", ".join(channels), len(missing), len(names), ", ".join(missing))

    def report(self, datasets: list[ClipDataset]) -> dict[str, list[str]]:
        """``recordings_without_physio``: those whose clips read zeros, over a run's datasets (one warning)."""
        stores = {id(r.store): r.store for d in datasets if (r := d.reads(self.key)) is not None}.values()
        missing = sorted({name for store in stores for name in store.missing})
        if missing:
            log.warning("recordings without a physiology file, whose clips read zeros: %d (%s)", len(missing),
                        ", ".join(missing))
        return {"recordings_without_physio": missing}

    def window(self, dataset: ClipDataset, row: int) -> np.ndarray:
        """Row ``row``'s past window (C, seconds * rate); zeros for a recording without a physiology file."""
        channels = self.channels_of(dataset.layout)
        path = dataset.stream_file("physio", dataset.video_of(row))
        if path is None:
            return np.zeros((len(channels), int(round(self.seconds * self.store.rate))), np.float32)
        signals = self.store.signals(path, dataset.layout, channels)
        return physio_window(signals, self.store.rate, dataset.end_time(row), self.seconds)

    def read(self, dataset: ClipDataset, row: int) -> dict[str, torch.Tensor]:
        return {self.key: torch.from_numpy(self.window(dataset, row))}


class PhysioFeatureStream(PhysioStream):
    """The standard features (:func:`abaw.data.physio_features.physio_features`, float32 (F,)) of the same past
    window as the "physio" stream: EDA level and response, heart rate, EMG RMS. Computed on the window as the
    stream holds it, so with ``data.physio_standardise`` in units of each recording's spread; a recording without
    a physiology file reads the features of zeros (all 0)."""

    key = "physio_features"

    def read(self, dataset: ClipDataset, row: int) -> dict[str, torch.Tensor]:
        features = physio_features(self.window(dataset, row), self.store.rate, self.channels_of(dataset.layout))
        return {self.key: torch.from_numpy(features)}


def physio_store(config: ExperimentConfig) -> PhysioStore:
    """The physiology cache of ``data.cache_dir`` at the model's ``physio_rate``."""
    cache_dir = Path(config.data.cache_dir) / "physio" if config.data.cache_dir else None
    return PhysioStore(cache_dir, config.model.physio_rate, config.data.physio_standardise)


def physio_stream(config: ExperimentConfig) -> PhysioStream:
    """The "physio" reader of an experiment's config."""
    return PhysioStream(physio_store(config), config.data.physio_seconds, config.data.physio_channels,
                        config.model.physio_channels)


def physio_feature_stream(config: ExperimentConfig) -> PhysioFeatureStream:
    """The "physio_features" reader of an experiment's config: the "physio" window, as features."""
    return PhysioFeatureStream(physio_store(config), config.data.physio_seconds, config.data.physio_channels,
                               config.model.physio_channels)


# The keys that cut a physiology window, the same for both streams.
PHYSIO_CONFIG_KEYS = ("data.physio_seconds", "data.physio_channels", "data.physio_standardise", "model.physio_rate",
                      "model.physio_channels")
register_stream("physio", physio_stream, config_keys=PHYSIO_CONFIG_KEYS)
register_stream("physio_features", physio_feature_stream, config_keys=PHYSIO_CONFIG_KEYS)
