"""The predictions directory: one ``<video>.csv`` per video, one row per frame (docs/design.md).

Header ``frame,valence,arousal,Neutral,...,Other,AU1,...,AU26``; the columns of a task that was not predicted
may be left out. ``frame`` is 1-based; EXPR and AU columns are probabilities. ``abaw-predict`` writes it,
``abaw-eval`` and ``abaw-submit`` read it, and every reader checks it the same way, here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from abaw.errors import AbawError
from abaw.io import atomic_write
from abaw.task_registry import TASK_REGISTRY, get_task

log = logging.getLogger(__name__)

WRITTEN_BY = "written_by"  # the folder, inside a predictions directory, that records which run wrote each file


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
    order = np.argsort(frames, kind="stable")  # the MTL set lists its frames out of order; files run upwards
    frames = np.asarray(frames)[order]
    outputs = {task: np.asarray(values)[order] for task, values in outputs.items()}
    table = {"frame": np.asarray(frames, dtype=np.int64)}
    for name, task in TASK_REGISTRY.items():
        if name in outputs:
            values = np.asarray(outputs[name], dtype=np.float64).reshape(len(frames), -1)
            for k, column in enumerate(task.output_columns):
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
        raise PredictionError(f"{path}: cannot be read as CSV: {' '.join(str(error).split())}") from None
    known = {"frame", *(c for task in TASK_REGISTRY.values() for c in task.output_columns)}
    unknown = [c for c in table.columns if c not in known]
    if "frame" not in table.columns or unknown:
        raise PredictionError(f"{path}:1: header must be 'frame' and task columns {sorted(known - {'frame'})}; "
                              f"found {list(table.columns)}")
    for task in TASK_REGISTRY.values():
        present = [c for c in task.output_columns if c in table.columns]
        if present and len(present) != task.width:
            missing = [c for c in task.output_columns if c not in table.columns]
            raise PredictionError(f"{path}:1: {task.title} columns incomplete, missing {missing}")
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
    for task in TASK_REGISTRY.values():
        if task.output_columns[0] not in numeric.columns:
            continue
        columns = list(task.output_columns)
        lo, hi = task.value_range
        outside = (numeric[columns] < lo) | (numeric[columns] > hi)
        if outside.any(axis=None):
            raise PredictionError(f"{path}:{_line(outside)}: {task.title} value outside [{lo:g}, {hi:g}]")
        if task.output == "softmax":
            # Softmax probabilities sum to 1; a row that does not (all zeros, scores of another kind) would be
            # read as its largest column, the first on a tie, without a word.
            sums = numeric[columns].sum(axis=1).to_numpy()
            off = np.abs(sums - 1) > PROBABILITY_SUM_TOLERANCE
            if off.any():
                i = int(np.flatnonzero(off)[0])
                raise PredictionError(f"{path}:{i + 2}: the {task.title} probabilities sum to {sums[i]:g}, not 1 "
                                      f"(within {PROBABILITY_SUM_TOLERANCE:g})")
    numeric.insert(0, "frame", written.astype(np.int64))
    return numeric


PROBABILITY_SUM_TOLERANCE = 0.01  # far above the rounding of a few values written with 6 decimals


def tasks_in(table: pd.DataFrame) -> tuple[str, ...]:
    """The tasks whose columns a predictions table holds."""
    return tuple(name for name, task in TASK_REGISTRY.items() if task.output_columns[0] in table.columns)


def task_values(table: pd.DataFrame, task: str) -> np.ndarray:
    """A task's columns as a float64 array: (N, 2) VA, (N, 8) EXPR probabilities, (N, 12) AU probabilities."""
    return table[list(get_task(task).output_columns)].to_numpy(np.float64)


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


# ----------------------------------------------------------------------------------------------------------
# Which run wrote each file. Every abaw-predict process keeps a log in PRED/written_by/: its first line
# describes the run (run folder, checkpoint, SHA-256 of the weights and of config.yaml), each further line a
# file it wrote and that file's SHA-256. A file belongs to the run whose log holds its current hash, so the
# record stays true whatever happens later: a file overwritten by another run, or by hand, no longer matches
# the old line; a process killed between writing a file and logging it leaves the file without a record.
# Logs are appended to, never rewritten, so processes that write into one folder never undo each other's.


class PredictionsLog:
    """The log of one process that writes predictions files into ``pred_dir`` for ``run``."""

    def __init__(self, pred_dir: Path, run: dict):
        folder = Path(pred_dir) / WRITTEN_BY
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{socket.gethostname()}-{os.getpid()}.jsonl"
        self._append({"run": run})

    def record(self, path: Path) -> None:
        """Say that this run wrote ``path`` (as it is now)."""
        self._append({"file": Path(path).name, "sha256": file_sha256(path)})

    def _append(self, entry: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())


def run_record(run_dir: Path, weights: Path, checkpoint: str) -> dict:
    """What identifies the run that writes predictions: its weights and its config, by content."""
    return {"run_dir": str(Path(run_dir).resolve()), "checkpoint": checkpoint,
            "weights_sha256": file_sha256(weights), "config_sha256": file_sha256(Path(run_dir) / "config.yaml")}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def writers(pred_dir: Path, videos: Iterable[str]) -> dict[str, dict | None]:
    """For each video's file in ``pred_dir``, the run that wrote it as it is now (None: no record says)."""
    by_hash: dict[tuple[str, str], dict] = {}
    for log_file in sorted((Path(pred_dir) / WRITTEN_BY).glob("*.jsonl")):
        run = None
        for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # the last line of a process killed while it wrote it
            if isinstance(entry, dict) and "run" in entry:
                run = entry["run"]
            elif run is not None and isinstance(entry, dict) and "file" in entry:
                by_hash[(entry["file"], entry.get("sha256"))] = run
    result = {}
    for video in videos:
        path = Path(pred_dir) / f"{video}.csv"
        result[video] = by_hash.get((path.name, file_sha256(path))) if path.is_file() else None
    return result


def describe_run(run: dict) -> str:
    return f"{run.get('run_dir')} ({run.get('checkpoint')} weights {str(run.get('weights_sha256'))[:12]})"


def run_identity(run: dict) -> tuple:
    return run.get("weights_sha256"), run.get("config_sha256")


def check_one_run(pred_dir: Path, videos: Iterable[str], allow_mixed: bool = False) -> None:
    """Raise unless the predictions files of ``videos`` were all written by one run.

    Files without any record at all (written by hand, or before records were kept) pass, with a warning: there
    is nothing to compare. A mix of runs, or of recorded and unrecorded files, is an error unless
    ``allow_mixed`` (then a warning).
    """
    found = writers(pred_dir, videos)
    groups: dict[tuple, list[str]] = {}
    runs: dict[tuple, dict] = {}
    unrecorded = []
    for video, run in found.items():
        if run is None:
            unrecorded.append(video)
        else:
            groups.setdefault(run_identity(run), []).append(video)
            runs[run_identity(run)] = run
    if not groups:
        if unrecorded:
            log.warning("%s: no record says which run wrote these %d predictions files (written by hand, or by "
                        "an earlier version); they are used as they are", pred_dir, len(unrecorded))
        return
    if len(groups) == 1 and not unrecorded:
        return
    parts = [f"{describe_run(runs[key])} wrote {len(names)} ({_few(names)})" for key, names in groups.items()]
    if unrecorded:
        parts.append(f"{len(unrecorded)} have no record of their run ({_few(unrecorded)})")
    message = f"{pred_dir}: these predictions mix runs: " + "; ".join(parts)
    if allow_mixed:
        log.warning("%s (used anyway: --allow-mixed-runs)", message)
        return
    raise PredictionError(f"{message}. Predict again into an empty folder, or pass --allow-mixed-runs to use them "
                          f"anyway")


def _few(names: list[str], n: int = 3) -> str:
    names = sorted(names)
    return ", ".join(names[:n]) + (" ..." if len(names) > n else "")
