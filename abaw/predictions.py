"""The predictions directory: one ``<video>.csv`` per video, one row per frame (design.md).

Header ``frame,valence,arousal,Neutral,...,Other,AU1,...,AU26``; the columns of a task that was not predicted
may be left out. ``frame`` is 1-based; EXPR and AU columns are probabilities. ``abaw-predict`` writes it,
``abaw-eval`` and ``abaw-submit`` read it, and every reader checks it the same way, here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from abaw.errors import AbawError
from abaw.io import atomic_write
from abaw.tasks import PREDICTION_COLUMNS, TASKS


class PredictionError(AbawError, ValueError):
    """A predictions file that is malformed, incomplete or holds an invalid value."""


def write_predictions(out_dir: Path, video: str, frames: np.ndarray, outputs: dict[str, np.ndarray]) -> Path:
    """Write one video's predictions atomically (temporary file, then rename).

    Args:
        out_dir: the predictions directory.
        video: annotation name (``video2_left`` keeps its suffix).
        frames: 1-based frame numbers, one per row.
        outputs: task -> array: "va" (N, 2) in [-1, 1], "expr" (N, 8) and "au" (N, 12) probabilities.
    """
    table = {"frame": np.asarray(frames, dtype=np.int64)}
    for task in TASKS:
        if task in outputs:
            values = np.asarray(outputs[task], dtype=np.float64).reshape(len(frames), -1)
            for k, column in enumerate(PREDICTION_COLUMNS[task]):
                table[column] = values[:, k]
    frame = pd.DataFrame(table)
    path = Path(out_dir) / f"{video}.csv"
    with atomic_write(path, newline="") as f:
        frame.to_csv(f, index=False, float_format="%.6f")
    return path


def prediction_files(pred_dir: Path) -> dict[str, Path]:
    """Video name -> predictions file in a directory."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise PredictionError(f"{pred_dir}: no such predictions directory")
    return {p.stem: p for p in sorted(pred_dir.glob("*.csv"))}


def read_predictions(path: Path, frames: np.ndarray | None = None) -> pd.DataFrame:
    """Read and check one video's predictions.

    Checks: a ``frame`` column and only known columns; each task's columns complete; no NaN or infinity;
    valence/arousal in [-1, 1] and probabilities in [0, 1]; and the frames: exactly ``frames`` in order when
    given (``np.arange(1, n + 1)`` for a whole video, from the organisers' files; the listed frames for the
    MTL set), else strictly increasing from 1 up. Errors name the file and the line.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise PredictionError(f"{path}: cannot be read as CSV: {error}") from None
    known = {"frame", *(c for cols in PREDICTION_COLUMNS.values() for c in cols)}
    unknown = [c for c in table.columns if c not in known]
    if "frame" not in table.columns or unknown:
        raise PredictionError(f"{path}:1: header must be 'frame' and task columns {sorted(known - {'frame'})}; "
                              f"found {list(table.columns)}")
    for task, columns in PREDICTION_COLUMNS.items():
        present = [c for c in columns if c in table.columns]
        if present and len(present) != len(columns):
            missing = [c for c in columns if c not in table.columns]
            raise PredictionError(f"{path}:1: {task.upper()} columns incomplete, missing {missing}")
    values = table.drop(columns="frame")
    numeric = values.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() & values.notna()
    if bad.any(axis=None):
        raise PredictionError(f"{path}:{_line(bad)}: non-numeric value")
    not_finite = ~np.isfinite(numeric.to_numpy(np.float64))
    if not_finite.any():
        raise PredictionError(f"{path}:{int(np.flatnonzero(not_finite.any(axis=1))[0]) + 2}: NaN or infinite "
                              f"value (column {numeric.columns[np.flatnonzero(not_finite.any(axis=0))[0]]})")
    written = pd.to_numeric(table["frame"], errors="coerce").to_numpy()
    if frames is not None:
        _check_frames(path, written, np.asarray(frames))
    else:
        wrong = ~np.isfinite(written) | (written < 1) | (np.diff(written, prepend=0) <= 0)
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            raise PredictionError(f"{path}:{i + 2}: frame {written[i]}, frames must increase from 1")
    for task, lo, hi in (("va", -1.0, 1.0), ("expr", 0.0, 1.0), ("au", 0.0, 1.0)):
        columns = [c for c in PREDICTION_COLUMNS[task] if c in numeric.columns]
        if columns:
            outside = (numeric[columns] < lo) | (numeric[columns] > hi)
            if outside.any(axis=None):
                raise PredictionError(f"{path}:{_line(outside)}: {task.upper()} value outside [{lo:g}, {hi:g}]")
    numeric.insert(0, "frame", written.astype(np.int64))
    return numeric


def tasks_in(table: pd.DataFrame) -> tuple[str, ...]:
    """The tasks whose columns a predictions table holds."""
    return tuple(t for t in TASKS if PREDICTION_COLUMNS[t][0] in table.columns)


def task_values(table: pd.DataFrame, task: str) -> np.ndarray:
    """A task's columns as a float64 array: (N, 2) VA, (N, 8) EXPR probabilities, (N, 12) AU probabilities."""
    return table[list(PREDICTION_COLUMNS[task])].to_numpy(np.float64)


def _check_frames(path: Path, written: np.ndarray, expected: np.ndarray) -> None:
    """The ``frame`` column must be exactly ``expected``; the error names the first line that is not."""
    n = min(len(written), len(expected))
    differ = np.flatnonzero(written[:n] != expected[:n])
    counts = f"{len(written)} rows for {len(expected)} frames"
    if len(differ):
        i = int(differ[0])
        raise PredictionError(f"{path}:{i + 2}: frame {written[i]} where frame {expected[i]} is expected ({counts})")
    if len(written) < len(expected):
        raise PredictionError(f"{path}: ends after frame {written[-1] if n else 'none'}; frames {expected[n]} to "
                              f"{expected[-1]} are missing ({counts})")
    if len(written) > len(expected):
        raise PredictionError(f"{path}:{n + 2}: frame {written[n]} and the rows after it are past the expected "
                              f"frames ({counts})")


def _line(mask: pd.DataFrame) -> int:
    return int(np.flatnonzero(mask.any(axis=1).to_numpy())[0]) + 2
