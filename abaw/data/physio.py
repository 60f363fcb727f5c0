"""The physiology stream: ECG and EDA, the PAST window of a clip at the model's rate.

Each recording's signals are read once (:func:`abaw.datasets.recola_files.read_physio`: columns by header name,
the rate from the time column), resampled to ``model.physio_rate`` with an anti-aliasing filter, standardised
per recording and channel, cached as ``.npy`` and read back memory-mapped. Per-recording standardisation,
because electrode contact and skin conductance levels differ between people by more than affect moves them
within one person: an encoder then reads a recording's changes, not its person's baseline.

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
from abaw.data.streams import register_stream
from abaw.datasets.recola_files import PHYSIO_CHANNELS, read_physio

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
    """Physiology signals per file, resampled and standardised once, cached, read back memory-mapped.

    Args:
        cache_dir: where the processed signals are kept.
        rate: the rate every signal is resampled to, Hz.
    """

    def __init__(self, cache_dir: Path | None = None, rate: int = 100):
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir() / "physio"
        self.rate = rate
        self.missing: set[str] = set()
        self._open: dict[Path, np.ndarray] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_open": {}}  # workers get paths, not memory maps

    def signals(self, path: Path) -> np.ndarray:
        """(len(PHYSIO_CHANNELS), N) float32 at ``rate``, sample 0 at the file's first time."""
        if path in self._open:
            return self._open[path]
        cached = self.cache_dir / f"{path.stem}-{file_key(path, self.rate, 'standardised')}.npy"
        if not cached.exists():
            raw, rate = read_physio(path)
            atomic_save_npy(cached, standardise(resample(raw, rate, self.rate)))
        self._open[path] = np.load(cached, mmap_mode="r")
        return self._open[path]


class PhysioStream:
    """The past ``seconds`` of ECG and EDA, float32 (2, seconds * rate), ending at the end of the row's frame.

    Args:
        store: reads and caches each recording's signals.
        seconds: the window's length (``data.physio_seconds``).
    """

    key = "physio"

    def __init__(self, store: PhysioStore, seconds: float):
        self.store = store
        self.seconds = seconds

    def prepare(self, dataset: ClipDataset) -> None:
        """Read each recording's signals once; recordings without a physiology file are named in one warning and
        read as zeros."""
        names = dataset.video_names()
        missing = []
        for video, name in enumerate(names):
            path = dataset.stream_file(self.key, video)
            if path is None:
                missing.append(name)
            else:
                self.store.signals(path)
        if missing:
            self.store.missing.update(missing)
            log.warning("no physiology file (ECG, EDA) for %d of %d recordings (%s); their clips read zeros",
                        len(missing), len(names), ", ".join(missing))

    def report(self, datasets: list[ClipDataset]) -> dict[str, list[str]]:
        """``recordings_without_physio``: those whose clips read zeros, over a run's datasets (one warning)."""
        stores = {id(r.store): r.store for d in datasets if (r := d.reads(self.key)) is not None}.values()
        missing = sorted({name for store in stores for name in store.missing})
        if missing:
            log.warning("recordings without a physiology file, whose clips read zeros: %d (%s)", len(missing),
                        ", ".join(missing))
        return {"recordings_without_physio": missing}

    def read(self, dataset: ClipDataset, row: int) -> dict[str, torch.Tensor]:
        path = dataset.stream_file(self.key, dataset.video_of(row))
        n = int(round(self.seconds * self.store.rate))
        if path is None:
            return {self.key: torch.zeros(len(PHYSIO_CHANNELS), n)}
        window = physio_window(self.store.signals(path), self.store.rate, dataset.end_time(row), self.seconds)
        return {self.key: torch.from_numpy(window)}


def physio_store(config: ExperimentConfig) -> PhysioStore:
    """The physiology cache of ``data.cache_dir`` at the model's ``physio_rate``."""
    cache_dir = Path(config.data.cache_dir) / "physio" if config.data.cache_dir else None
    return PhysioStore(cache_dir, config.model.physio_rate)


register_stream("physio", lambda config: PhysioStream(physio_store(config), config.data.physio_seconds),
                config_keys=("data.physio_seconds", "model.physio_rate"))
