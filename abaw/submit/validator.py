"""Check a test-set submission on disk against the organisers' lists, whoever wrote it.

The validator reads the submitted files and the organisers' test lists / sample files and nothing else: it
shares no code path with the writer beyond the file names, so a bug in the writer cannot hide itself, and a
submission made by another tool can be checked the same way. Every problem is reported as one line naming
the file (and the line number where there is one); nothing stops at the first problem.

What is expected, per edition (``docs/abaw-format.md``, "Submission formats"):

- 3rd edition, uni-task: ``<challenge folder>/<video>.txt`` for every test video, header = the annotation
  header, one line per frame of the video.
- 4th edition and later, uni-task: ``<challenge>.txt``, header = the sample file's, then the sample's image
  locations in the sample's order, each followed by the values.
- MTL (any edition): ``MTL_Challenge.txt``, header ``image,valence,arousal,expression,aus``, the test list's
  images in order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

from abaw.data.annotations import AnnotationError, read_frame_list
from abaw.data.layout import Layout, LayoutError
from abaw.data.manifest import build_manifest
from abaw.tasks import ANNOTATION_HEADER, AU_NAMES, EXPR_CLASSES, MTL_HEADER, SUBMISSION_HEADER, VA_COLUMNS

CHALLENGES: tuple[str, ...] = ("va", "expr", "au", "mtl")
FIRST_EDITION = 3  # the first edition whose submission format is documented (docs/abaw-format.md)
MAX_SHOWN = 20  # problems of one kind listed per file before the rest are counted in one line

# File (4th+ edition) and folder (3rd edition) names of each challenge in a submission directory.
SINGLE_FILE_NAMES: dict[str, str] = {
    "va": "VA_Estimation_Challenge.txt",
    "expr": "EXPR_Recognition_Challenge.txt",
    "au": "AU_Detection_Challenge.txt",
    "mtl": "MTL_Challenge.txt",
}
PER_VIDEO_FOLDERS: dict[str, str] = {
    "va": "VA_Estimation_Challenge",
    "expr": "EXPR_Classification_Challenge",
    "au": "AU_Detection_Challenge",
}

# The value columns of a submitted row (after the image location, when there is one), per challenge.
VALUE_COLUMNS: dict[str, tuple[str, ...]] = {
    "va": VA_COLUMNS,
    "expr": ("expression",),
    "au": AU_NAMES,
    "mtl": (*VA_COLUMNS, "expression", *AU_NAMES),
}


def submission_path(out_dir: str | Path, challenge: str, edition: int) -> Path:
    """Where a challenge's submission lies: a file, or for the 3rd edition's uni-task challenges a folder.

    Args:
        out_dir: the submission directory.
        challenge: "va", "expr", "au" or "mtl".
        edition: the ABAW edition (3 or later).
    """
    out_dir = Path(out_dir)
    if challenge != "mtl" and edition == FIRST_EDITION:
        return out_dir / PER_VIDEO_FOLDERS[challenge]
    return out_dir / SINGLE_FILE_NAMES[challenge]


def check_edition(edition: int) -> None:
    """Raise ValueError for an edition whose submission format is not known (before the 3rd)."""
    if edition < FIRST_EDITION:
        raise ValueError(f"edition {edition}: only the 3rd edition and later are supported "
                         "(their submission formats are the documented ones)")


def expected_video_frames(layout: Layout, task: str) -> dict[str, int]:
    """The test videos of a uni-task challenge and their frame counts, from the organisers' lists.

    Counts come from the sample file where one lists the video, else from the video file (see
    ``abaw.data.manifest.build_manifest``). Used by the 3rd edition's per-video format.

    Raises:
        LayoutError: the data root holds neither a release list nor a sample file for ``task``, or a video
            with no sample file has no video file to count its frames from.
    """
    if task not in layout.test_video_lists and task not in layout.test_frame_lists:
        raise LayoutError(f"no {task.upper()} test release list or sample file in {layout.root}")
    videos = build_manifest(layout, "test", (task,)).videos
    return {str(name): int(n) for name, n in videos["n_frames"].items()}


def submitted_challenges(sub_dir: str | Path, edition: int) -> tuple[str, ...]:
    """The challenges that have a file (or 3rd-edition folder) in a submission directory.

    A uni-task challenge submitted in another edition's shape (a per-video folder where one file is due, or
    the reverse) counts too, so that checking it reports the mix-up instead of passing over it.
    """
    return tuple(c for c in CHALLENGES
                 if submission_path(sub_dir, c, edition).exists() or _other_shape(sub_dir, c, edition).exists())


def _other_shape(sub_dir: str | Path, challenge: str, edition: int) -> Path:
    """Where a challenge would lie in the other submission shape (3rd edition vs. 4th and later)."""
    return submission_path(sub_dir, challenge, FIRST_EDITION + 1 if edition == FIRST_EDITION else FIRST_EDITION)


def check_submission(sub_dir: str | Path, layout: Layout, edition: int, tasks: Iterable[str] | None = None,
                     max_per_kind: int | None = MAX_SHOWN) -> list[str]:
    """Every problem of a submission, one human-readable line each (an empty list means it passes).

    Args:
        sub_dir: the submission directory.
        layout: the data root's layout (``abaw.data.layout.discover``), for the organisers' lists.
        edition: the ABAW edition whose format to check (3 or later).
        tasks: the challenges to check ("va", "expr", "au", "mtl"); a missing file of a named challenge is a
            problem. None checks every challenge that has a file in ``sub_dir``, in this edition's shape or
            the other one (3rd edition folders vs. later single files), and reports an empty directory.
        max_per_kind: how many problems of one kind (e.g. "image location differs") to list per file; the
            rest are counted in one more line. None lists every one.

    Returns:
        The problems, each naming the file and, where relevant, the line: missing files and videos, wrong
        headers, row counts, image locations out of the sample's order, field counts, NaN or non-numeric
        values, valence/arousal outside [-1, 1], expressions not an integer 0..7, AUs not 0/1.

    Raises:
        ValueError: an edition before the 3rd.
    """
    check_edition(edition)
    sub_dir = Path(sub_dir)
    if not sub_dir.is_dir():
        return [f"{sub_dir}: no such submission directory"]
    if tasks is None:
        challenges = submitted_challenges(sub_dir, edition)
        if not challenges:
            expected = ", ".join(submission_path(sub_dir, c, edition).name for c in CHALLENGES)
            return [f"{sub_dir}: no submission files found (expected any of: {expected})"]
    else:
        challenges = tuple(tasks)
        unknown = [c for c in challenges if c not in CHALLENGES]
        if unknown:
            return [f"unknown challenge(s) {unknown}; choose from {list(CHALLENGES)}"]

    report = _Report(max_per_kind)
    for challenge in challenges:
        if challenge != "mtl" and edition == FIRST_EDITION:
            _check_per_video(sub_dir, layout, challenge, report)
        else:
            _check_single_file(sub_dir, layout, challenge, edition, report)
    return report.lines()


class _Report:
    """Collects problem lines, listing at most ``max_per_kind`` of one kind per file and counting the rest."""

    def __init__(self, max_per_kind: int | None) -> None:
        self.max_per_kind = max_per_kind
        self._lines: dict[str, list[str]] = defaultdict(list)  # file -> its problem lines, in file order
        self._counts: dict[tuple[str, str], int] = defaultdict(int)

    def add(self, path: Path, message: str, line: int | None = None, kind: str | None = None) -> None:
        """Record a problem of ``path``; problems sharing a ``kind`` are capped per file."""
        if kind is not None:
            self._counts[(str(path), kind)] += 1
            if self.max_per_kind is not None and self._counts[(str(path), kind)] > self.max_per_kind:
                return
        where = f"{path}:{line}" if line is not None else f"{path}"
        self._lines[str(path)].append(f"{where}: {message}")

    def lines(self) -> list[str]:
        """Every recorded line, grouped by file, each file's capped kinds counted after its own lines."""
        out = []
        for path, lines in self._lines.items():
            out += lines
            out += [f"{path}: ... and {n - self.max_per_kind} more line(s) where {kind}"
                    for (counted, kind), n in self._counts.items()
                    if counted == path and self.max_per_kind is not None and n > self.max_per_kind]
        return out


def _check_per_video(sub_dir: Path, layout: Layout, task: str, report: _Report) -> None:
    """3rd edition: a ``<video>.txt`` per test video, annotation header, one line per frame."""
    folder = submission_path(sub_dir, task, FIRST_EDITION)
    try:
        counts = expected_video_frames(layout, task)
    except LayoutError as error:
        report.add(folder, f"cannot check {task.upper()}: {_first_line(error)}")
        return
    if not folder.is_dir():
        report.add(folder, f"missing {task.upper()} folder (expected one file per test video, "
                           f"{len(counts)} videos){_shape_hint(sub_dir, task)}")
        return
    for video, n_frames in counts.items():
        path = folder / f"{video}.txt"
        if not path.is_file():
            report.add(path, f"missing video {video}: no file for this {task.upper()} test video")
            continue
        _check_rows(path, report, task, ANNOTATION_HEADER[task], n_frames, locations=None,
                    expected_what=f"{n_frames} frames in video {video}")
    for extra in sorted(set(p.stem for p in folder.glob("*.txt")) - set(counts)):
        report.add(folder / f"{extra}.txt", f"{extra} is not a {task.upper()} test video")


def _check_single_file(sub_dir: Path, layout: Layout, challenge: str, edition: int, report: _Report) -> None:
    """4th edition and later, and MTL: one file, rows in the organisers' list order."""
    path = submission_path(sub_dir, challenge, edition)
    source = layout.test_frame_lists.get(challenge)
    if source is None:
        what = "MTL test list" if challenge == "mtl" else f"{challenge.upper()} test sample file"
        report.add(path, f"cannot check {challenge.upper()}: no {what} in {layout.root}")
        return
    try:
        listed = read_frame_list(source)
    except (AnnotationError, OSError) as error:
        report.add(path, f"cannot check {challenge.upper()}: {error}")
        return
    if challenge == "mtl":
        header = MTL_HEADER
    else:
        # The sample file's header is the organisers' word; tasks.SUBMISSION_HEADER is our copy of it.
        header = listed.header or SUBMISSION_HEADER[challenge]
    if not path.is_file():
        report.add(path, f"missing {challenge.upper()} submission file ({len(listed.locations)} rows "
                         f"expected){_shape_hint(sub_dir, challenge, edition)}")
        return
    _check_rows(path, report, challenge, header, len(listed.locations), locations=listed.locations,
                expected_what=f"{len(listed.locations)} rows in {source.name}")


def _shape_hint(sub_dir: Path, challenge: str, edition: int = FIRST_EDITION) -> str:
    """A note for a missing file when the challenge was submitted in the other edition shape."""
    if challenge == "mtl":
        return ""
    other = _other_shape(sub_dir, challenge, edition)
    if not other.exists():
        return ""
    shape = "per-video folder (3rd edition)" if other.is_dir() else "single file (4th edition and later)"
    return f"; found {other.name}, a {shape} submission: check --edition"


def _check_rows(path: Path, report: _Report, challenge: str, header: str, n_expected: int,
                locations: list[str] | None, expected_what: str) -> None:
    """Header, row count, image locations (when ``locations`` is given) and every value of one file."""
    columns = VALUE_COLUMNS[challenge]
    n_fields = len(columns) + (locations is not None)
    seen_locations: list[str] = []
    n_rows = 0
    try:
        lines = _read_lines(path)
        _, first = next(lines, (0, None))
        if first is None:
            report.add(path, f"empty file, expected the header {header!r}")
            return
        if first != header:
            report.add(path, f"wrong header {first!r}, expected {header!r}", line=1)
        for n_rows, (lineno, line) in enumerate(lines, start=1):
            fields = line.split(",")
            if locations is not None:
                seen_locations.append(fields[0])
                if n_rows <= len(locations) and fields[0] != locations[n_rows - 1]:
                    report.add(path, f"image location {fields[0]!r}, the list has {locations[n_rows - 1]!r} "
                                     f"at this position", line=lineno, kind="the image location differs")
                fields = fields[1:]
            if len(fields) != len(columns):
                hint = " (trailing comma?)" if line.endswith(",") else ""
                report.add(path, f"{len(fields) + (locations is not None)} fields, expected {n_fields}{hint}",
                           line=lineno, kind="the number of fields is wrong")
                continue
            for column, text in zip(columns, fields):
                problem = _value_problem(column, text.strip())
                if problem:
                    report.add(path, f"{column} {problem}", line=lineno, kind=f"{column} is invalid")
    except (OSError, UnicodeDecodeError) as error:
        report.add(path, f"cannot be read: {error}")
        return
    if n_rows != n_expected:
        report.add(path, f"{n_rows} rows, expected {expected_what}")
    if locations is not None:
        _check_location_sets(path, report, seen_locations, locations)


def _check_location_sets(path: Path, report: _Report, seen: list[str], expected: list[str]) -> None:
    """Summarise, beyond positions, which listed images are absent, unexpected or duplicated."""
    seen_set, expected_set = set(seen), set(expected)
    absent = [loc for loc in expected if loc not in seen_set]
    if absent:
        report.add(path, f"{len(absent)} image location(s) of the list have no row, first: {_preview(absent)}")
    unexpected = [loc for loc in seen if loc not in expected_set]
    if unexpected:
        report.add(path, f"{len(unexpected)} row(s) name image locations not in the list, first: "
                         f"{_preview(unexpected)}")
    # The organisers' MTL lists may repeat an image; only repeats beyond the list's own count are a problem.
    if len(seen_set) < len(seen) and len(seen) > len(expected):
        report.add(path, f"{len(seen) - len(seen_set)} repeated row(s)")


def _value_problem(column: str, text: str) -> str | None:
    """Why one value is invalid for its column, or None when it is fine."""
    if column == "expression":
        if not text.isdigit() or int(text) >= len(EXPR_CLASSES):
            return f"{text!r} is not an integer 0..{len(EXPR_CLASSES) - 1}"
        return None
    if column in AU_NAMES:
        return None if text in ("0", "1") else f"{text!r} is not 0 or 1"
    try:
        value = float(text)
    except ValueError:
        return f"{text!r} is not a number"
    if math.isnan(value):
        return "is NaN"
    if not -1.0 <= value <= 1.0:
        return f"{text} is outside [-1, 1]"
    return None


def _read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines without their line ends, streamed (a submission can hold a million rows)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        for lineno, line in enumerate(f, start=1):
            yield lineno, line.rstrip("\r\n")


def _preview(items: list[str], n: int = 3) -> str:
    shown = ", ".join(repr(x) for x in items[:n])
    return shown + (", ..." if len(items) > n else "")


def _first_line(error: Exception) -> str:
    """LayoutError messages append a description of the whole tree; the first line says what is missing."""
    return str(error).splitlines()[0]


__all__ = [
    "CHALLENGES",
    "PER_VIDEO_FOLDERS",
    "SINGLE_FILE_NAMES",
    "check_edition",
    "check_submission",
    "submission_path",
    "submitted_challenges",
    "expected_video_frames",
]
