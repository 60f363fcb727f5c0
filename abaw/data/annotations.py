"""Readers for the organisers' annotation files, test lists and sample files.

Line i after the header of a per-video annotation file is frame i. Every reader checks the header and every
value, and a bad file raises ``AnnotationError`` naming the file and the line, because a silently skipped or
shifted line would misalign every label after it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from abaw.errors import AbawError
from abaw.tasks import (
    ANNOTATION_HEADER,
    AU_IGNORE,
    AU_NAMES,
    EXPR_CLASSES,
    EXPR_IGNORE,
    MTL_HEADER,
    VA_IGNORE,
)

log = logging.getLogger(__name__)

# Values per line: the EXPR header names 8 classes but each line holds one class index.
_FIELDS = {"va": 2, "expr": 1, "au": len(AU_NAMES)}
_IMAGE_RE = re.compile(r"^(?P<video>[^/\\]+)[/\\](?P<frame>\d+)\.jpg$")


class AnnotationError(AbawError, ValueError):
    """An annotation, list or sample file that cannot be read as the organisers define it."""


def read_task_file(path: Path, task: str) -> np.ndarray:
    """Read one video's annotation file of a task.

    Args:
        path: ``<video>.txt`` from a ``Train_Set`` / ``Validation_Set`` folder.
        task: "va", "expr" or "au".

    Returns:
        VA: float32 (N, 2) with -5 on unlabelled frames; EXPR: int64 (N,) with -1; AU: int64 (N, 12) with -1.
        Row i is frame i + 1.

    Raises:
        AnnotationError: wrong header, a non-numeric value, a wrong number of fields, or a value out of range.
    """
    path = Path(path)
    header = _read_header(path)
    expected = ANNOTATION_HEADER[task]
    if _normalise(header) != expected:
        raise AnnotationError(f"{path}:1: header is {header!r}, expected {expected!r} for {task.upper()}")
    values = _read_numbers(path, n_fields=_FIELDS[task], skip_rows=1)
    if not len(values):  # a video of no frame: a file cut short, or written by a tool that failed
        raise AnnotationError(f"{path}:1: the header but no frame line; the file looks cut short: copy it again")
    if task == "va":
        _check_values(path, values, lambda v: ((v >= -1) & (v <= 1)) | (v == VA_IGNORE),
                      f"valence/arousal must lie in [-1, 1] or be {VA_IGNORE:g}")
        return values.astype(np.float32)
    if task == "expr":
        _check_values(path, values, lambda v: np.isin(v, np.arange(-1, len(EXPR_CLASSES))),
                      f"an expression is an integer 0..{len(EXPR_CLASSES) - 1} or {EXPR_IGNORE}")
        return values[:, 0].astype(np.int64)
    _check_values(path, values, lambda v: np.isin(v, (0, 1, AU_IGNORE)), f"an AU is 0, 1 or {AU_IGNORE}")
    return values.astype(np.int64)


@dataclass(frozen=True)
class MTLRows:
    """The rows of an MTL annotation file, duplicates removed.

    Attributes:
        video: annotation name of each row (``video2_left``).
        frame: 1-based frame of each row.
        va: float32 (N, 2), -5 where unlabelled.
        expr: int64 (N,), -1 where unlabelled.
        au: int64 (N, 12), -1 where unlabelled.
    """

    video: np.ndarray
    frame: np.ndarray
    va: np.ndarray
    expr: np.ndarray
    au: np.ndarray


def read_mtl_file(path: Path) -> MTLRows:
    """Read an MTL annotation file: ``image,valence,arousal,expression,aus`` then ``video/00001.jpg,v,a,e,12 AUs``.

    Exact duplicate rows (they occur in the organisers' files) are dropped and counted in the log; two rows
    for the same image with different labels raise, naming both lines.
    """
    path = Path(path)
    header = _read_header(path)
    if _normalise(header) != MTL_HEADER:
        raise AnnotationError(f"{path}:1: header is {header!r}, expected {MTL_HEADER!r}")
    lines = _read_text(path).splitlines()[1:]
    images, rows, line_of = [], [], {}
    seen: dict[str, tuple[int, str]] = {}
    duplicates = 0
    for lineno, raw in enumerate(lines, start=2):
        line = raw.strip().rstrip(",")
        if not line:
            continue
        image, _, rest = line.partition(",")
        if image in seen:
            first_line, first_rest = seen[image]
            if first_rest != rest:
                raise AnnotationError(
                    f"{path}:{lineno}: {image} was already labelled differently on line {first_line}"
                )
            duplicates += 1
            continue
        seen[image] = (lineno, rest)
        images.append(image)
        rows.append(rest)
        line_of[len(rows) - 1] = lineno
    if duplicates:
        log.info("%s: dropped %d exact duplicate rows", path, duplicates)
    if not images:
        raise AnnotationError(f"{path}:1: the header but no image line; the file looks cut short: copy it again")

    videos, frames = _parse_images(path, images, [line_of[i] for i in range(len(images))])
    values = np.empty((len(rows), 15), dtype=np.float64)
    for i, rest in enumerate(rows):
        fields = rest.split(",")
        if len(fields) != 15:
            raise AnnotationError(f"{path}:{line_of[i]}: expected 16 fields (image, v, a, expr, 12 AUs), "
                                  f"found {len(fields) + 1}")
        try:
            values[i] = [float(x) for x in fields]
        except ValueError:
            raise AnnotationError(f"{path}:{line_of[i]}: non-numeric value in {rest!r}") from None
    checks = (
        (slice(0, 2), lambda v: ((v >= -1) & (v <= 1)) | (v == VA_IGNORE), "valence/arousal out of [-1, 1]"),
        (slice(2, 3), lambda v: np.isin(v, np.arange(-1, len(EXPR_CLASSES))), "expression not in -1..7"),
        (slice(3, 15), lambda v: np.isin(v, (0, 1, AU_IGNORE)), "an AU not 0, 1 or -1"),
    )
    for cols, ok, message in checks:
        bad = ~ok(values[:, cols]).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AnnotationError(f"{path}:{line_of[i]}: {message}: {rows[i]!r}")
    return MTLRows(
        video=videos,
        frame=frames,
        va=values[:, 0:2].astype(np.float32),
        expr=values[:, 2].astype(np.int64),
        au=values[:, 3:15].astype(np.int64),
    )


@dataclass(frozen=True)
class FrameList:
    """The ordered rows of a test sample file or MTL test list.

    Attributes:
        header: the first line if it is a header (sample files), else None.
        locations: each row's image location exactly as written (``2-30-640x360/00001.jpg``).
        video: annotation name of each row.
        frame: 1-based frame of each row.
    """

    header: str | None
    locations: list[str]
    video: np.ndarray
    frame: np.ndarray


def read_frame_list(path: Path) -> FrameList:
    """Read a sample file (``image_location,...`` header, rows ``video/00001.jpg,``) or an MTL test list."""
    path = Path(path)
    lines = _read_text(path).splitlines()
    header = None
    start = 0
    if lines and lines[0].strip().lower().startswith("image"):
        header, start = _normalise(lines[0]), 1
    locations, line_numbers = [], []
    for lineno, raw in enumerate(lines[start:], start=start + 1):
        location = raw.strip().split(",")[0].strip()
        if location:
            locations.append(location)
            line_numbers.append(lineno)
    if not locations:
        raise AnnotationError(f"{path}: lists no image; the file looks cut short: copy it again")
    videos, frames = _parse_images(path, locations, line_numbers)
    return FrameList(header=header, locations=locations, video=videos, frame=frames)


def read_video_list(path: Path) -> list[str]:
    """Read a test release list: one video name per line (extensions and trailing commas tolerated)."""
    names = []
    for raw in _read_text(Path(path)).splitlines():
        name = raw.strip().rstrip(",").strip()
        if name:
            names.append(Path(name).stem if Path(name).suffix.lower() in (".mp4", ".avi") else name)
    return names


def _read_header(path: Path) -> str:
    return next(iter(_read_text(path).splitlines()), "")


def _read_text(path: Path) -> str:
    """A file's text; one that is missing or not UTF-8 text (a binary file under a .txt name) is an error."""
    if not path.is_file():
        raise AnnotationError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise AnnotationError(f"{path}:{line}: not UTF-8 text (byte {error.start}: {error.reason})") from None


def _normalise(header: str) -> str:
    """Headers compare without spaces, line ends and a trailing comma, which some editions' files carry."""
    return ",".join(part.strip() for part in header.strip().rstrip(",").split(","))


def _read_numbers(path: Path, n_fields: int, skip_rows: int) -> np.ndarray:
    """Parse a numeric table fast with pandas; on any problem, find and name the first bad line."""
    try:
        table = pd.read_csv(path, header=None, skiprows=skip_rows, dtype=np.float64, skip_blank_lines=False,
                            encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        return np.empty((0, n_fields))
    except (ValueError, pd.errors.ParserError):
        table = None
    if table is not None:
        # A blank line at the very end is harmless; anywhere else it would shift frames, so it is an error.
        values = table.to_numpy()
        last = len(values)
        while last and np.isnan(values[last - 1]).all():
            last -= 1
        values = values[:last]
        if values.shape[1] == n_fields + 1 and np.isnan(values[:, -1]).all():
            values = values[:, :-1]  # a comma at the end of the lines, as some editions' files have in headers
        if values.shape[1] == n_fields and not np.isnan(values).any():
            return values
    _raise_first_bad_line(path, n_fields, skip_rows)
    raise AssertionError("unreachable")  # pragma: no cover


def _raise_first_bad_line(path: Path, n_fields: int, skip_rows: int) -> None:
    lines = _read_text(path).rstrip().splitlines()
    for lineno, line in enumerate(lines[skip_rows:], start=skip_rows + 1):
        fields = line.strip().removesuffix(",").split(",")
        if len(fields) != n_fields:
            raise AnnotationError(f"{path}:{lineno}: expected {n_fields} comma-separated values, "
                                  f"found {len(fields)}: {line!r}")
        try:
            numbers = [float(x) for x in fields]
        except ValueError:
            raise AnnotationError(f"{path}:{lineno}: non-numeric value: {line!r}") from None
        if any(np.isnan(numbers)):
            raise AnnotationError(f"{path}:{lineno}: NaN value: {line!r}")
    raise AnnotationError(f"{path}: could not be parsed as {n_fields} numeric columns")


def _check_values(path: Path, values: np.ndarray, ok, message: str) -> None:
    bad = ~ok(values).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        shown = ",".join(f"{x:g}" for x in values[i])
        raise AnnotationError(f"{path}:{i + 2}: {message}, found {shown}")


def _parse_images(path: Path, images: list[str], line_numbers: list[int]) -> tuple[np.ndarray, np.ndarray]:
    videos, frames = [], []
    for image, lineno in zip(images, line_numbers):
        match = _IMAGE_RE.match(image)
        if match is None:
            raise AnnotationError(f"{path}:{lineno}: expected an image location like video/00001.jpg, "
                                  f"found {image!r}")
        if int(match["frame"]) < 1:
            raise AnnotationError(f"{path}:{lineno}: frames are numbered from 1 (00001.jpg), found {image!r}")
        videos.append(match["video"])
        frames.append(int(match["frame"]))
    return np.array(videos, dtype=object), np.array(frames, dtype=np.int64)


__all__ = [
    "AnnotationError",
    "FrameList",
    "MTLRows",
    "read_frame_list",
    "read_mtl_file",
    "read_task_file",
    "read_video_list",
]
