"""Where derived data (decoded audio, later features and frames) is cached, and how it is written safely."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from abaw.io import atomic_write


def default_cache_dir() -> Path:
    """``$ABAW_CACHE`` if set, else ``~/.cache/abaw``: never inside the data root, which may be read-only."""
    return Path(os.environ.get("ABAW_CACHE", Path.home() / ".cache" / "abaw")).expanduser()


def file_key(path: Path, *extra: object) -> str:
    """A short key that changes when the file (its absolute path, size or modification time) or ``extra`` does,
    so a cache entry made from an older copy of a file is never reused."""
    stat = path.stat()
    text = "|".join([str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns), *map(str, extra)])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` through a temporary file and a rename, so a crash never leaves a half file."""
    with atomic_write(path, "wb") as f:
        np.save(f, array, allow_pickle=False)
