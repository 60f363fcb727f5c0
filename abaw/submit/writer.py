"""Turn a predictions directory into the organisers' test-set submission files.

The formats (``docs/abaw-format.md``, "Submission formats"): per-video files for the 3rd edition's
uni-task challenges, one file per challenge in the sample file's row order from the 4th edition on, and one
MTL file in the test list's order. EXPR is written as the argmax class, AU as ``probability >= threshold``.

A submission is all or nothing: every needed predictions file is looked for before anything is written,
every file is first written to a temporary file beside its target, and the targets are replaced only once
every file of every challenge was written without a problem. Missing videos or frames are errors naming
them; nothing is ever filled in silently.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from abaw.data.annotations import AnnotationError, FrameList, read_frame_list
from abaw.data.layout import Layout, LayoutError
from abaw.errors import AbawError
from abaw.io import temporary_path
from abaw.prediction_files import PredictionError, check_one_run, prediction_files, read_predictions, task_values
from abaw.submit.validator import (
    CHALLENGES,
    FIRST_EDITION,
    check_edition,
    expected_video_frames,
    submission_path,
)
from abaw.tasks import ANNOTATION_HEADER, AU_NAMES, MTL_HEADER, PREDICTION_COLUMNS, SUBMISSION_HEADER, TASKS

log = logging.getLogger(__name__)

DEFAULT_AU_THRESHOLD = 0.5


class SubmissionError(AbawError, RuntimeError):
    """A submission that cannot be written as asked; the message names what is missing or wrong."""


@dataclass(frozen=True)
class WrittenChallenge:
    """What was written for one challenge.

    Attributes:
        challenge: "va", "expr", "au" or "mtl".
        path: the file, or for the 3rd edition's uni-task challenges the folder of per-video files.
        n_files: files written (1, or one per test video).
        n_rows: value rows written, headers not counted.
    """

    challenge: str
    path: Path
    n_files: int
    n_rows: int


def expr_classes(probabilities: np.ndarray) -> np.ndarray:
    """The expression class of each frame: the index of its highest probability (the first one on a tie).

    Args:
        probabilities: (N, 8) class probabilities in ``abaw.tasks.EXPR_CLASSES`` order.

    Returns:
        int64 (N,) class indices 0..7.
    """
    return np.argmax(np.asarray(probabilities, dtype=np.float64), axis=1).astype(np.int64)


def binarise_aus(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Action units as 0/1: present where ``probability >= threshold`` (the rule of ``abaw.metrics``).

    Args:
        probabilities: (N, 12) AU probabilities in ``abaw.tasks.AU_NAMES`` order.
        thresholds: (12,) per-AU thresholds.

    Returns:
        int64 (N, 12) of 0 and 1.
    """
    return (np.asarray(probabilities, dtype=np.float64) >= np.asarray(thresholds)[None, :]).astype(np.int64)


def check_thresholds(values: object, source: str = "thresholds") -> np.ndarray:
    """Validate 12 AU thresholds, each a number in [0, 1].

    Args:
        values: a sequence of 12 numbers, in ``AU_NAMES`` order.
        source: where they came from, for the error message.

    Raises:
        SubmissionError: not a list of 12 numbers, or a value outside [0, 1] or not finite.
    """
    if not isinstance(values, (list, tuple, np.ndarray)) or len(values) != len(AU_NAMES):
        raise SubmissionError(f"{source}: expected {len(AU_NAMES)} AU thresholds ({', '.join(AU_NAMES)}), "
                              f"found {values!r}")
    if any(isinstance(v, bool) or not isinstance(v, (int, float, np.number)) for v in values):
        raise SubmissionError(f"{source}: AU thresholds must be numbers, found {list(values)!r}")
    thresholds = np.asarray(values, dtype=np.float64)
    if not np.isfinite(thresholds).all() or (thresholds < 0).any() or (thresholds > 1).any():
        raise SubmissionError(f"{source}: AU thresholds must lie in [0, 1], found {thresholds.tolist()}")
    return thresholds


def load_thresholds(path: str | Path) -> np.ndarray:
    """Read 12 AU thresholds from a JSON file.

    Accepted: the file ``abaw-eval --json`` writes (thresholds under the key ``au.thresholds``), or a plain
    JSON list of 12 numbers in ``AU_NAMES`` order.

    Raises:
        SubmissionError: the file cannot be read, holds no thresholds, or they are invalid.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SubmissionError(f"{path}: cannot read AU thresholds: {error}") from None
    if isinstance(data, dict):
        au = data.get("au")
        if not isinstance(au, dict) or "thresholds" not in au:
            raise SubmissionError(f"{path}: no 'au' -> 'thresholds' entry (as abaw-eval --json writes it) and "
                                  f"not a plain list of {len(AU_NAMES)} thresholds")
        data = au["thresholds"]
    return check_thresholds(data, source=str(path))


def write_submission(pred_dir: str | Path, layout: Layout, edition: int, out_dir: str | Path,
                     thresholds: np.ndarray | None = None, tasks: Iterable[str] | None = None,
                     allow_mixed_runs: bool = False) -> list[WrittenChallenge]:
    """Write the submission files of an edition from a predictions directory.

    A challenge is written when the data root holds its organisers' list (sample file, release list or MTL
    test list, as the edition needs) and the predictions hold its task columns (all three for MTL). The
    result is not validated here: run ``abaw.submit.check_submission`` on ``out_dir`` (``abaw-submit`` does).

    Args:
        pred_dir: the predictions directory (one ``<video>.csv`` per video, see ``abaw.prediction_files``).
        layout: the data root's layout, for the test lists and sample files.
        edition: the ABAW edition (3 or later).
        out_dir: the submission directory; created if needed.
        thresholds: (12,) AU thresholds; None means 0.5 for every AU.
        tasks: the challenges to write ("va", "expr", "au", "mtl"); None writes every one that can be.
        allow_mixed_runs: use predictions files that different runs wrote (by default an error:
            ``abaw.prediction_files.check_one_run``).

    Returns:
        What was written, one entry per challenge.

    Raises:
        SubmissionError: a named challenge cannot be written, nothing can be, the sample's header is not
            the expected one, or predictions are missing for a video or a frame (all of them are named);
            nothing is written then.
    """
    check_edition(edition)
    thresholds = (np.full(len(AU_NAMES), DEFAULT_AU_THRESHOLD) if thresholds is None
                  else check_thresholds(thresholds))
    try:
        files = prediction_files(Path(pred_dir))
    except PredictionError as error:
        raise SubmissionError(str(error)) from None
    challenges = _choose_challenges(layout, edition, files, tasks)
    targets = {c: _target(layout, c, edition) for c in challenges}
    _require_prediction_files(targets, files, pred_dir)
    used = {str(v) for target in targets.values() for v in (target if isinstance(target, dict)
                                                             else pd.unique(target.video))}
    try:
        check_one_run(Path(pred_dir), sorted(used), allow_mixed_runs)
    except PredictionError as error:
        raise SubmissionError(str(error)) from None

    out_dir = Path(out_dir)
    problems: list[str] = []
    written = []
    with _Staging() as staging:
        for challenge in challenges:
            target = targets[challenge]
            path = submission_path(out_dir, challenge, edition)
            if isinstance(target, FrameList):
                header = MTL_HEADER if challenge == "mtl" else SUBMISSION_HEADER[challenge]
                n_rows = _write_listed(staging, path, challenge, header, target, files, thresholds, problems)
                written.append(WrittenChallenge(challenge, path, 1, n_rows))
            else:
                n_rows = _write_per_video(staging, path, challenge, target, files, thresholds, problems)
                written.append(WrittenChallenge(challenge, path, len(target), n_rows))
        if problems:
            # A video listed twice in a list may report the same problem twice; say each once.
            raise SubmissionError("predictions incomplete, nothing was written:\n"
                                  + "\n".join(dict.fromkeys(problems)))
    return written


# ----------------------------------------------------------------------------------------------------------
# Planning: which challenges, against which organisers' list, and whether every predictions file is there.


def _choose_challenges(layout: Layout, edition: int, files: dict[str, Path],
                       tasks: Iterable[str] | None) -> list[str]:
    """The challenges to write; a named one that cannot be written is an error saying what it lacks."""
    requested = None if tasks is None else list(dict.fromkeys(tasks))
    unknown = [t for t in requested or () if t not in CHALLENGES]
    if unknown:
        raise SubmissionError(f"unknown challenge(s) {unknown}; choose from {list(CHALLENGES)}")
    predicted = _predicted_tasks(files)
    chosen, problems = [], []
    for challenge in requested if requested is not None else CHALLENGES:
        lacking = []
        if not _has_list(layout, challenge, edition):
            lacking.append(_list_wanted(challenge, edition) + f" in {layout.root}")
        needed = TASKS if challenge == "mtl" else (challenge,)
        absent = [t.upper() for t in needed if t not in predicted]
        if absent:
            lacking.append(f"{'/'.join(absent)} columns in the predictions")
        if not lacking:
            chosen.append(challenge)
        elif requested is not None:
            problems.append(f"cannot write {challenge.upper()}: missing {' and '.join(lacking)}")
    if problems:
        raise SubmissionError("\n".join(problems))
    if not chosen:
        raise SubmissionError(
            "nothing to write: no challenge has both its organisers' list and predicted columns "
            f"(predicted tasks: {', '.join(sorted(predicted)) or 'none'}; {len(files)} predictions files)\n"
            + layout.describe())
    return chosen


def _has_list(layout: Layout, challenge: str, edition: int) -> bool:
    if challenge == "mtl" or edition > FIRST_EDITION:
        return challenge in layout.test_frame_lists
    return challenge in layout.test_frame_lists or challenge in layout.test_video_lists


def _list_wanted(challenge: str, edition: int) -> str:
    if challenge == "mtl":
        return "the MTL test list"
    if edition > FIRST_EDITION:
        return f"the {challenge.upper()} test sample file (the submission copies its rows)"
    return f"a {challenge.upper()} test release list or sample file"


def _predicted_tasks(files: dict[str, Path]) -> set[str]:
    """Tasks whose columns appear in any predictions file (read from the header lines only)."""
    found: set[str] = set()
    for path in files.values():
        try:
            with open(path, encoding="utf-8") as f:
                header = set(f.readline().strip().split(","))
        except UnicodeDecodeError as error:
            raise SubmissionError(f"{path}:1: not UTF-8 text (byte {error.start}: {error.reason})") from None
        found.update(t for t in TASKS if PREDICTION_COLUMNS[t][0] in header)
        if found == set(TASKS):
            break
    return found


def _target(layout: Layout, challenge: str, edition: int) -> FrameList | dict[str, int]:
    """The organisers' list of a challenge: its ordered rows, or (3rd edition) video -> frame count."""
    try:
        if challenge != "mtl" and edition == FIRST_EDITION:
            return expected_video_frames(layout, challenge)
        source = layout.test_frame_lists[challenge]
        listed = read_frame_list(source)
    except (LayoutError, AnnotationError) as error:
        raise SubmissionError(f"cannot write {challenge.upper()}: {error}") from None
    if challenge != "mtl":
        expected = SUBMISSION_HEADER[challenge]
        if listed.header is None:
            log.warning("%s has no header line; writing the documented one: %s", source, expected)
        elif listed.header != expected:
            raise SubmissionError(f"{source}: the sample's header {listed.header!r} differs from the "
                                  f"documented {challenge.upper()} header {expected!r}; check the edition "
                                  "and the sample file before submitting")
    return listed


def _require_prediction_files(targets: dict[str, FrameList | dict[str, int]], files: dict[str, Path],
                              pred_dir: str | Path) -> None:
    """Every video any challenge needs has a predictions file, or an error names all that do not."""
    lines = []
    for challenge, target in targets.items():
        videos = target if isinstance(target, dict) else pd.unique(target.video)
        missing = sorted(str(v) for v in videos if v not in files)
        if missing:
            lines.append(f"{challenge.upper()}: {len(missing)} test video(s) without predictions: "
                         + ", ".join(missing))
    if lines:
        raise SubmissionError(f"no predictions file (<video>.csv) in {pred_dir} for:\n" + "\n".join(lines))


# ----------------------------------------------------------------------------------------------------------
# Writing.


def _write_listed(staging: _Staging, path: Path, challenge: str, header: str, listed: FrameList,
                  files: dict[str, Path], thresholds: np.ndarray, problems: list[str]) -> int:
    """One file: the list's image locations in its order, each followed by its frame's values."""
    cache = _LastVideo(files)
    n_rows = 0
    with staging.open(path) as f:
        f.write(header + "\n")
        for video, start, stop in _runs(listed.video):
            table = cache.get(video, challenge, problems)
            if table is None:
                continue
            rows = _rows_of(table, listed.frame[start:stop], video, files[video], problems)
            if rows is None:
                continue
            values = _value_strings(challenge, rows, thresholds)
            f.writelines(f"{loc},{text}\n" for loc, text in zip(listed.locations[start:stop], values))
            n_rows += len(values)
    return n_rows


def _write_per_video(staging: _Staging, folder: Path, challenge: str, counts: dict[str, int],
                     files: dict[str, Path], thresholds: np.ndarray, problems: list[str]) -> int:
    """3rd edition: ``<video>.txt`` per test video, the annotation header, a line for each of its frames."""
    n_rows = 0
    for video, n_frames in counts.items():
        table = _read_video(files[video], challenge, problems)
        if table is None:
            continue
        rows = _rows_of(table, np.arange(1, n_frames + 1), video, files[video], problems)
        if rows is None:
            continue
        if len(table) > n_frames:
            log.warning("%s: predictions go up to frame %d; the organisers' count is %d, the rest is not written",
                        video, int(table["frame"].iloc[-1]), n_frames)
        values = _value_strings(challenge, rows, thresholds)
        with staging.open(folder / f"{video}.txt") as f:
            f.write(ANNOTATION_HEADER[challenge] + "\n")
            f.writelines(text + "\n" for text in values)
        n_rows += len(values)
    return n_rows


def _value_strings(challenge: str, table: pd.DataFrame, thresholds: np.ndarray) -> list[str]:
    """The value part of each row: ``v,a`` / ``class`` / 12 x ``0|1``, or all of them for MTL."""
    columns: list[list[str]] = []
    if challenge in ("va", "mtl"):
        # Rounding first and adding 0.0 turns a would-be "-0.000000" into "0.000000".
        va = np.round(task_values(table, "va"), 6) + 0.0
        columns += [[f"{x:.6f}" for x in va[:, 0].tolist()], [f"{x:.6f}" for x in va[:, 1].tolist()]]
    if challenge in ("expr", "mtl"):
        columns.append([str(k) for k in expr_classes(task_values(table, "expr")).tolist()])
    if challenge in ("au", "mtl"):
        bits = binarise_aus(task_values(table, "au"), thresholds)
        columns.append([",".join(map(str, row)) for row in bits.tolist()])
    return [",".join(parts) for parts in zip(*columns)]


def _rows_of(table: pd.DataFrame, frames: np.ndarray, video: str, path: Path,
             problems: list[str]) -> pd.DataFrame | None:
    """The predictions rows of ``frames`` (in that order), or None after recording the frames that lack one."""
    have = table["frame"].to_numpy()  # strictly increasing, checked by read_predictions
    position = np.searchsorted(have, frames)
    found = position < len(have)
    found[found] = have[position[found]] == frames[found]
    if not found.all():
        problems.append(f"{video}: {path} has no row for {int((~found).sum())} frame(s) the organisers list: "
                        f"{_ranges(frames[~found])}")
        return None
    return table.iloc[position]


def _read_video(path: Path, challenge: str, problems: list[str]) -> pd.DataFrame | None:
    """One video's checked predictions, or None after recording why they cannot serve ``challenge``."""
    try:
        table = read_predictions(path)
    except PredictionError as error:
        problems.append(str(error))
        return None
    needed = TASKS if challenge == "mtl" else (challenge,)
    absent = [t.upper() for t in needed if PREDICTION_COLUMNS[t][0] not in table.columns]
    if absent:
        problems.append(f"{path}: no {'/'.join(absent)} columns, needed for {challenge.upper()}")
        return None
    return table


class _LastVideo:
    """Keeps the last video's predictions: the organisers' lists run video by video, so each is read once."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files
        self.video: str | None = None
        self.table: pd.DataFrame | None = None

    def get(self, video: str, challenge: str, problems: list[str]) -> pd.DataFrame | None:
        if video != self.video:
            self.video, self.table = video, _read_video(self.files[video], challenge, problems)
        return self.table


def _runs(videos: np.ndarray) -> Iterator[tuple[str, int, int]]:
    """Consecutive stretches of one video in a list: (video, start, stop)."""
    if len(videos) == 0:
        return
    change = np.flatnonzero(videos[1:] != videos[:-1]) + 1
    starts = np.concatenate(([0], change))
    stops = np.concatenate((change, [len(videos)]))
    for start, stop in zip(starts.tolist(), stops.tolist()):
        yield str(videos[start]), start, stop


def _ranges(frames: np.ndarray) -> str:
    """``1,2,3,7`` -> ``1-3, 7``: missing frames usually come in runs."""
    values = sorted(set(int(f) for f in frames))
    parts, start = [], None
    for i, value in enumerate(values):
        if start is None:
            start = value
        if i + 1 == len(values) or values[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ", ".join(parts)


class _Staging:
    """Temporary files beside their targets, moved into place only when every one was written.

    Used as a context manager: a clean exit replaces the targets (``os.replace``, atomic per file); an
    exception removes the temporary files and any folder created for them, leaving earlier files untouched.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []
        self._created: list[Path] = []

    def __enter__(self) -> _Staging:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            for tmp, target in self._pending:
                os.replace(tmp, target)
            return
        for tmp, _ in self._pending:
            tmp.unlink(missing_ok=True)
        for folder in reversed(self._created):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    def open(self, target: Path) -> TextIO:
        """A text file to write ``target``'s content into; it becomes ``target`` on a clean exit."""
        missing = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
        self._created.extend(reversed(missing))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path(target)
        self._pending.append((tmp, target))
        return open(tmp, "x", encoding="utf-8", newline="\n")


__all__ = [
    "DEFAULT_AU_THRESHOLD",
    "SubmissionError",
    "WrittenChallenge",
    "binarise_aus",
    "check_thresholds",
    "expr_classes",
    "load_thresholds",
    "write_submission",
]
