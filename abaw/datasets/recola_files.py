"""Readers of RECOLA's files: gold-standard ARFF, individual ratings, physiology CSV and WAV audio.

Facts and their evidence are in ``docs/recola.md``. What is only inferred from public code (the physiology
CSV's columns, its rate) is read from the file, never assumed: the columns are found by their header names and
the rate from the time column. Every reader checks every value and raises :class:`RecolaFileError` naming the
file and the line, because a skipped or shifted line would misalign every label after it.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abaw.errors import AbawError

ANNOTATION_STEP_S = 0.04  # the gold standard and the individual ratings: one value every 40 ms (25 Hz)


class RecolaFileError(AbawError, ValueError):
    """A RECOLA file that cannot be read as the AVEC packages write it; the message names the file and line."""


@dataclass(frozen=True)
class Trace:
    """A time series read from a file: ``times`` (N,) seconds, increasing; ``values`` (N,) or (N, C)."""

    times: np.ndarray
    values: np.ndarray
    names: tuple[str, ...] = ()


def _text_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        raise RecolaFileError(f"{path}: not a UTF-8 text file ({error.reason} at byte {error.start})") from None


def _number(text: str, path: Path, line: int, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RecolaFileError(f"{path}:{line}: {what} {text.strip()!r} is not a number") from None
    if not np.isfinite(value):
        raise RecolaFileError(f"{path}:{line}: {what} is {text.strip()}, not a finite number")
    return value


def _check_increasing(times: np.ndarray, lines: list[int], path: Path) -> None:
    back = np.flatnonzero(np.diff(times) <= 0)
    if len(back):
        k = int(back[0])
        raise RecolaFileError(f"{path}:{lines[k + 1]}: time {times[k + 1]:g} does not follow {times[k]:g} "
                              f"(line {lines[k]}); rows must run forward in time")


def read_arff(path: str | Path) -> Trace:
    """A gold-standard ARFF: attributes ``Instance_name string``, ``frameTime numeric``, ``GoldStandard numeric``
    (any order; the value is the last numeric attribute that is not the time), rows ``dev_1,0.04,-0.02``.

    Returns:
        ``times`` (N,) from ``frameTime`` and ``values`` (N,) float32.
    """
    path = Path(path)
    attributes: list[str] = []
    times, values, lines = [], [], []
    in_data = False
    time_col = value_col = -1
    for number, raw in enumerate(_text_lines(path), start=1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        lower = line.lower()
        if not in_data:
            if lower.startswith("@attribute"):
                parts = line.split()
                if len(parts) < 3:
                    raise RecolaFileError(f"{path}:{number}: an @attribute line needs a name and a type: {line!r}")
                attributes.append(parts[1].lower() + " " + parts[2].lower())
            elif lower.startswith("@data"):
                in_data = True
                names = [a.split()[0] for a in attributes]
                if "frametime" not in names:
                    raise RecolaFileError(f"{path}:{number}: no frameTime attribute before @data "
                                          f"(found: {', '.join(names) or 'none'})")
                time_col = names.index("frametime")
                numeric = [k for k, a in enumerate(attributes) if a.split()[1] in ("numeric", "real")
                           and k != time_col]
                if not numeric:
                    raise RecolaFileError(f"{path}:{number}: no numeric attribute besides frameTime "
                                          f"(found: {', '.join(attributes)})")
                value_col = numeric[-1]
            elif not lower.startswith("@relation"):
                raise RecolaFileError(f"{path}:{number}: expected @relation, @attribute or @data, found {line!r}")
            continue
        fields = line.split(",")
        if len(fields) != len(attributes):
            raise RecolaFileError(f"{path}:{number}: {len(fields)} fields, the header declares "
                                  f"{len(attributes)}: {line!r}")
        times.append(_number(fields[time_col], path, number, "frameTime"))
        values.append(_number(fields[value_col], path, number, "the value"))
        lines.append(number)
    if not in_data:
        raise RecolaFileError(f"{path}: no @data line: not an ARFF file")
    if not times:
        raise RecolaFileError(f"{path}: no rows after @data")
    times_array = np.asarray(times)
    _check_increasing(times_array, lines, path)
    return Trace(times_array, np.asarray(values, np.float32))


def _read_table(path: Path, what: str) -> tuple[list[str], np.ndarray, list[int]]:
    """A ``;``-separated table with a header row (``,`` accepted where no ``;`` appears): names and values."""
    rows, lines, header = [], [], None
    for number, raw in enumerate(_text_lines(path), start=1):
        line = raw.strip()
        if not line:
            continue
        sep = ";" if ";" in line else ","
        fields = [f.strip() for f in line.rstrip(sep).split(sep)]
        if header is None:
            header = fields
            continue
        if len(fields) != len(header):
            raise RecolaFileError(f"{path}:{number}: {len(fields)} fields, the header has {len(header)}: {line!r}")
        rows.append([_number(f, path, number, f"{what} value") for f in fields])
        lines.append(number)
    if header is None or not rows:
        raise RecolaFileError(f"{path}: no {'header' if header is None else 'rows after the header'}")
    return header, np.asarray(rows, np.float64), lines


def read_individual_ratings(path: str | Path) -> Trace:
    """Individual ratings: a ``;``-separated CSV, a header, column 0 the time, then one column per rater.

    Returns:
        ``times`` (N,), ``values`` (N, raters) float32, ``names`` the raters' header names.
    """
    path = Path(path)
    header, table, lines = _read_table(path, "rating")
    if len(header) < 2:
        raise RecolaFileError(f"{path}:1: expected a time column and at least one rater, found {header}")
    _check_increasing(table[:, 0], lines, path)
    return Trace(table[:, 0], table[:, 1:].astype(np.float32), tuple(header[1:]))


PHYSIO_CHANNELS = ("ECG", "EDA")  # the physiology stream's channels, in this order


def read_physio(path: str | Path) -> tuple[np.ndarray, float]:
    """A physiology CSV: a header naming ``time``, ``ECG`` and ``EDA`` columns (any order, any case).

    Returns:
        (2, N) float32 signals in the order of :data:`PHYSIO_CHANNELS`, and the sampling rate in Hz read from
        the time column (its median step; the files' rate is not documented).
    """
    path = Path(path)
    header, table, lines = _read_table(path, "signal")
    names = [h.lower() for h in header]
    missing = [c for c in ("time", *(c.lower() for c in PHYSIO_CHANNELS)) if c not in names]
    if missing:
        raise RecolaFileError(f"{path}:1: the header {header} lacks the column(s) {', '.join(missing)}")
    if len(table) < 2:
        raise RecolaFileError(f"{path}: one sample: no sampling rate can be read from it")
    times = table[:, names.index("time")]
    _check_increasing(times, lines, path)
    step = float(np.median(np.diff(times)))
    signals = np.stack([table[:, names.index(c.lower())] for c in PHYSIO_CHANNELS]).astype(np.float32)
    return signals, 1.0 / step


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A PCM WAV file as mono float32 in [-1, 1] (the mean of its channels) and its sample rate."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as f:
            channels, width, rate, frames = f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()
            data = f.readframes(frames)
    except (wave.Error, EOFError) as error:
        raise RecolaFileError(f"{path}: not a PCM WAV file: {error}") from None
    if width == 1:
        samples = (np.frombuffer(data, np.uint8).astype(np.float32) - 128) / 128
    elif width in (2, 4):
        kind = np.int16 if width == 2 else np.int32
        samples = np.frombuffer(data, kind).astype(np.float32) / float(np.iinfo(kind).max + 1)
    else:
        raise RecolaFileError(f"{path}: {8 * width}-bit samples; 8, 16 or 32-bit PCM expected")
    usable = len(samples) // channels * channels
    return samples[:usable].reshape(-1, channels).mean(axis=1), rate


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Mono float samples in [-1, 1] as a 16-bit PCM WAV file."""
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(rate))
        f.writeframes(pcm.tobytes())
