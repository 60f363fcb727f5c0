"""Readers of the BioVid Heat Pain Database's files: the sample table ``samples.csv`` and the biosignal CSVs.

Facts and their evidence are in ``docs/biovid.md``. What only public code shows (the columns, the unit of the
time column) is read from the file, never assumed: columns by their header names, the rate from the time
column. Every reader checks every value and raises :class:`BioVidFileError` naming the file and the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abaw.errors import AbawError

CLASSES = ("BL1", "PA1", "PA2", "PA3", "PA4")  # the class names of samples.csv; the ``pain`` label is the index
CHANNELS = ("gsr", "ecg", "emg_trapezius", "emg_corrugator", "emg_zygomaticus")  # the order channels are returned
WINDOW_S = 5.5  # every BioVid sample is a 5.5 s window
# The time column's unit: seconds per unit. "auto" takes the one that makes the file's span nearest the window
# (the units are 1000x apart, so any span within ~30x of the window is read unambiguously).
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


class BioVidFileError(AbawError, ValueError):
    """A BioVid file that cannot be read as the database ships it; the message names the file and line."""


@dataclass(frozen=True)
class Sample:
    """One row of ``samples.csv``: the sample's name, its subject, its class name and ``pain`` (0 for BL1,
    1-4 for PA1-PA4), and the line it was read from."""

    name: str
    subject: str
    class_name: str
    pain: int
    line: int


@dataclass(frozen=True)
class BioSignals:
    """A biosignal file: ``channels`` (names, in :data:`CHANNELS` order), ``signals`` float32 (C, N),
    ``rate`` in Hz (from the time column), ``time_unit`` (the unit the time column was read in)."""

    channels: tuple[str, ...]
    signals: np.ndarray
    rate: float
    time_unit: str

    @property
    def seconds(self) -> float:
        """The time the samples cover (each stands for one sampling period)."""
        return self.signals.shape[1] / self.rate


def _text_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise BioVidFileError(f"{path}: no such file") from None
    except UnicodeDecodeError as error:
        raise BioVidFileError(f"{path}: not a text file ({error.reason} at byte {error.start})") from None


def _fields(line: str) -> list[str]:
    return [field.strip() for field in line.split("\t")]


def read_samples(path: str | Path) -> list[Sample]:
    """``samples.csv``: TAB-separated, a header naming at least ``subject_name``, ``sample_name`` and
    ``class_name`` or ``class_id`` (any order, any case; other columns are ignored). Where both class columns are
    present they must agree (``class_id`` k is ``CLASSES[k]``).

    Raises:
        BioVidFileError: no header or a required column missing (line 1), a row with another number of fields,
            an unknown class, class columns that disagree, an empty name, a sample listed twice (both lines).
    """
    path = Path(path)
    lines = _text_lines(path)
    header_line = next((n for n, line in enumerate(lines, start=1) if line.strip()), None)
    if header_line is None:
        raise BioVidFileError(f"{path}: empty; expected a TAB-separated header with subject_name, class_name, "
                              f"sample_name")
    header = [h.lower() for h in _fields(lines[header_line - 1])]
    missing = [c for c in ("subject_name", "sample_name") if c not in header]
    if "class_name" not in header and "class_id" not in header:
        missing.append("class_name (or class_id)")
    if missing:
        raise BioVidFileError(f"{path}:{header_line}: the header {header} lacks {', '.join(missing)} "
                              f"(samples.csv is TAB-separated)")
    column = {name: header.index(name) for name in ("subject_name", "sample_name", "class_name", "class_id")
              if name in header}
    samples, first_line = [], {}
    for number in range(header_line + 1, len(lines) + 1):
        line = lines[number - 1]
        if not line.strip():
            continue
        fields = _fields(line)
        if len(fields) != len(header):
            raise BioVidFileError(f"{path}:{number}: {len(fields)} TAB-separated fields, the header has "
                                  f"{len(header)}: {line!r}")
        name, subject = fields[column["sample_name"]], fields[column["subject_name"]]
        if not name or not subject:
            raise BioVidFileError(f"{path}:{number}: an empty sample_name or subject_name: {line!r}")
        pain = _class_of(fields, column, path, number)
        if name in first_line:
            raise BioVidFileError(f"{path}:{number}: sample {name} is listed twice (first on line "
                                  f"{first_line[name]})")
        first_line[name] = number
        samples.append(Sample(name=name, subject=subject, class_name=CLASSES[pain], pain=pain, line=number))
    if not samples:
        raise BioVidFileError(f"{path}: a header but no sample rows")
    return samples


def _class_of(fields: list[str], column: dict[str, int], path: Path, number: int) -> int:
    """The pain level (0..4) of a row, from class_name and/or class_id, which must agree."""
    by_name = by_id = None
    if "class_name" in column:
        text = fields[column["class_name"]].upper()
        if text not in CLASSES:
            raise BioVidFileError(f"{path}:{number}: class_name {fields[column['class_name']]!r} is not one of "
                                  f"{', '.join(CLASSES)}")
        by_name = CLASSES.index(text)
    if "class_id" in column:
        text = fields[column["class_id"]]
        if not text.isdigit() or int(text) >= len(CLASSES):
            raise BioVidFileError(f"{path}:{number}: class_id {text!r} is not one of 0..{len(CLASSES) - 1}")
        by_id = int(text)
    if by_name is not None and by_id is not None and by_name != by_id:
        raise BioVidFileError(f"{path}:{number}: class_id {by_id} ({CLASSES[by_id]}) disagrees with class_name "
                              f"{CLASSES[by_name]}")
    return by_name if by_name is not None else by_id


def biosignal_channels(path: str | Path) -> tuple[str, ...]:
    """The channels a biosignal file's header names, among :data:`CHANNELS`, in that order (reads one line)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig") as f:
            header = [h.lower() for h in _fields(f.readline())]
    except FileNotFoundError:
        raise BioVidFileError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise BioVidFileError(f"{path}:1: not a text header") from None
    return tuple(c for c in CHANNELS if c in header)


def time_scale(span: float, unit: str, window_s: float = WINDOW_S) -> tuple[str, float]:
    """The unit of a time column (name, seconds per unit): ``unit`` itself, or for "auto" the one of
    :data:`TIME_UNITS` that makes ``span`` nearest ``window_s`` (by ratio)."""
    if unit != "auto":
        if unit not in TIME_UNITS:
            raise ValueError(f"time_unit must be 'auto' or one of {', '.join(TIME_UNITS)}, got {unit!r}")
        return unit, TIME_UNITS[unit]
    best = min(TIME_UNITS, key=lambda u: abs(math.log(span * TIME_UNITS[u] / window_s)))
    return best, TIME_UNITS[best]


def read_biosignals(path: str | Path, channels: tuple[str, ...] | None = None, time_unit: str = "auto",
                    window_s: float = WINDOW_S) -> BioSignals:
    """A biosignal CSV: TAB-separated, a header naming ``time`` and channels among :data:`CHANNELS` (any order,
    any case; other columns are ignored), one row per sample.

    Args:
        channels: the channels to return, in this order (default: every one of :data:`CHANNELS` the header has).
        time_unit: the unit of the time column, "s", "ms", "us", or "auto" (:func:`time_scale`). BioVid's files
            count microseconds (public code divides by 1000 to get ms; 512 Hz over 5.5 s).
        window_s: the time a sample must cover; a file covering less (by more than one sampling period) is short.

    Raises:
        BioVidFileError: a missing or non-text file; a header without ``time`` or without a channel asked for
            (line 1); a row with another number of fields or a value that is not a finite number; times that do
            not increase; fewer than two rows; a file shorter than ``window_s``.
    """
    path = Path(path)
    lines = _text_lines(path)
    if not lines or not lines[0].strip():
        raise BioVidFileError(f"{path}:1: no header; expected TAB-separated columns time, gsr, ecg, ...")
    header = [h.lower() for h in _fields(lines[0])]
    present = tuple(c for c in CHANNELS if c in header)
    wanted = present if channels is None else tuple(channels)
    lacking = [c for c in ("time", *wanted) if c not in header]
    if lacking or not wanted:
        raise BioVidFileError(f"{path}:1: the header {header} lacks {', '.join(lacking) or 'every channel'} "
                              f"(expected TAB-separated time and channels among {', '.join(CHANNELS)})")
    columns = [header.index("time")] + [header.index(c) for c in wanted]
    rows, numbers = [], []
    for number in range(2, len(lines) + 1):
        line = lines[number - 1]
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise BioVidFileError(f"{path}:{number}: {len(fields)} TAB-separated fields, the header has "
                                  f"{len(header)}: {line[:80]!r}")
        try:
            values = [float(fields[k]) for k in columns]
        except ValueError:
            raise BioVidFileError(f"{path}:{number}: a value that is not a number: {line[:80]!r}") from None
        if not all(map(math.isfinite, values)):
            raise BioVidFileError(f"{path}:{number}: a value that is not finite: {line[:80]!r}")
        rows.append(values)
        numbers.append(number)
    if len(rows) < 2:
        raise BioVidFileError(f"{path}: {len(rows)} rows: no sampling rate can be read from the time column")
    table = np.asarray(rows, np.float64)
    times = table[:, 0]
    back = np.flatnonzero(np.diff(times) <= 0)
    if len(back):
        k = int(back[0])
        raise BioVidFileError(f"{path}:{numbers[k + 1]}: time {times[k + 1]:g} does not follow {times[k]:g} "
                              f"(line {numbers[k]}); rows must run forward in time")
    unit, scale = time_scale(times[-1] - times[0], time_unit, window_s)
    rate = (len(times) - 1) / ((times[-1] - times[0]) * scale)
    found = BioSignals(channels=wanted, signals=np.ascontiguousarray(table[:, 1:].T, dtype=np.float32), rate=rate,
                       time_unit=unit)
    if found.signals.shape[1] < round(window_s * rate) - 1:
        raise BioVidFileError(f"{path}: short: {found.signals.shape[1]} rows at {rate:.4g} Hz cover "
                              f"{found.seconds:.3f} s, less than the {window_s:g} s window (time column read in "
                              f"{unit})")
    return found
