"""Subject-independent folds: made once, written as a file, read back and checked, so every method sees the
same folds and no person is in two parts of one fold.

A fold file is a CSV (a contract: exactly this header and these part names)::

    fold,part,subject
    0,train,071309_w_21
    0,val,...
    0,test,...

``fold`` counts from 0; ``part`` is ``train``, ``val`` (model selection: carved from the fold's training
subjects) or ``test`` (scored once, never used to choose anything). Every subject of the file is in the test part
of exactly one fold; within a fold a subject is in one part at most.
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abaw.errors import AbawError
from abaw.io import atomic_path

log = logging.getLogger(__name__)

PARTS = ("train", "val", "test")
HEADER = ("fold", "part", "subject")
LOSO = "loso"


class FoldFileError(AbawError, ValueError):
    """A fold file that breaks the protocol; the message names the file and the line."""


@dataclass(frozen=True)
class Folds:
    """Folds of subjects: ``parts[k][part]`` is the sorted tuple of fold k's subjects in ``part``."""

    parts: tuple[dict[str, tuple[str, ...]], ...]
    source: Path | None = None

    def __len__(self) -> int:
        return len(self.parts)

    @property
    def subjects(self) -> tuple[str, ...]:
        """Every subject of the folds, sorted."""
        return tuple(sorted({s for fold in self.parts for names in fold.values() for s in names}))

    def part(self, fold: int, part: str) -> tuple[str, ...]:
        """The subjects of one part of one fold."""
        if not 0 <= fold < len(self.parts):
            where = f" of {self.source}" if self.source else ""
            raise FoldFileError(f"fold {fold} does not exist: the folds{where} are numbered 0..{len(self) - 1}")
        if part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
        return self.parts[fold][part]

    def summary(self) -> list[str]:
        """One line per fold: how many subjects each part holds."""
        return [f"fold {k}: " + ", ".join(f"{len(fold[p])} {p}" for p in PARTS) + f" subjects (test: "
                f"{', '.join(fold['test'][:4])}{' ...' if len(fold['test']) > 4 else ''})"
                for k, fold in enumerate(self.parts)]


def make_folds(subjects: list[str] | tuple[str, ...], folds: int | str, seed: int = 0,
               val_fraction: float = 0.2) -> Folds:
    """Folds grouped by subject.

    Args:
        subjects: the subjects to share out (each once).
        folds: K >= 2 (the subjects shuffled with ``seed`` and dealt into K test groups as equal as can be) or
            "loso" (leave one subject out: one fold per subject, in sorted order).
        seed: the shuffle of the test groups and the choice of each fold's validation subjects.
        val_fraction: the share of a fold's non-test subjects that form its validation part (at least one, and
            at least one left to train on).

    Raises:
        ValueError: fewer than 3 subjects (train, val and test need one each), K < 2 or more than the subjects,
            a fraction outside (0, 1).
    """
    names = sorted(set(subjects))
    if len(names) != len(subjects):
        raise ValueError("a subject is listed twice")
    if len(names) < 3:
        raise ValueError(f"{len(names)} subjects: a fold needs one in train, val and test each")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if folds == LOSO:
        groups = [[name] for name in names]
    else:
        if isinstance(folds, bool) or not isinstance(folds, int) or not 2 <= folds <= len(names):
            raise ValueError(f"folds must be 'loso' or an integer in 2..{len(names)} (the subjects), got {folds!r}")
        order = np.random.default_rng(seed).permutation(len(names))
        groups = [sorted(names[i] for i in chunk) for chunk in np.array_split(order, folds)]
    parts = []
    for k, test in enumerate(groups):
        rest = [name for name in names if name not in set(test)]
        if len(rest) < 2:
            raise ValueError(f"fold {k} leaves {len(rest)} subject(s) besides its test part: too few folds for "
                             f"{len(names)} subjects")
        n_val = min(max(1, round(val_fraction * len(rest))), len(rest) - 1)
        chosen = set(np.random.default_rng([seed, k]).choice(rest, size=n_val, replace=False).tolist())
        parts.append({"train": tuple(n for n in rest if n not in chosen), "val": tuple(sorted(chosen)),
                      "test": tuple(test)})
    return Folds(tuple(parts))


def write_folds(path: str | os.PathLike, folds: Folds) -> int:
    """Write ``folds`` as a fold file (replaced whole, never left half-written); returns the number of rows."""
    rows = [(k, part, subject) for k, fold in enumerate(folds.parts) for part in PARTS for subject in fold[part]]
    with atomic_path(path) as temporary:
        with open(temporary, "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(rows)
    return len(rows)


def read_folds(path: str | os.PathLike, subjects: list[str] | tuple[str, ...] | set[str] | None = None) -> Folds:
    """Read a fold file and check it against the protocol (and against ``subjects``, a data root's subjects).

    Raises:
        FoldFileError: naming the file and the line: a header other than ``fold,part,subject``; a row of another
            width, a fold that is not a count from 0, an unknown part, an empty subject; a subject twice in one
            fold (in two parts, or twice in one); folds not numbered 0..K-1; a fold without a train, val or test
            part; a subject in no test part or in two; a subject that ``subjects`` lacks.

    A subject of ``subjects`` absent from the file is a logged warning, not an error: a study may leave people
    out on purpose (e.g. those who did not respond to the stimulus); their samples are in no split.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise FoldFileError(f"{path}: no such fold file; write one with abaw-data --data-root ROOT --folds 5 "
                            f"--out {path}") from None
    if not rows or tuple(h.strip() for h in rows[0]) != HEADER:
        raise FoldFileError(f"{path}:1: the header must be {','.join(HEADER)}, found "
                            f"{','.join(rows[0]) if rows else 'an empty file'}")
    seen: dict[tuple[int, str], tuple[str, int]] = {}  # (fold, subject) -> (part, line)
    tested: dict[str, int] = {}  # subject -> line of its test row
    parts: dict[int, dict[str, list[str]]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(field.strip() for field in row):
            continue
        if len(row) != len(HEADER):
            raise FoldFileError(f"{path}:{number}: {len(row)} fields, expected {len(HEADER)} "
                                f"({','.join(HEADER)}): {','.join(row)!r}")
        fold_text, part, subject = (field.strip() for field in row)
        if not fold_text.isdigit():
            raise FoldFileError(f"{path}:{number}: fold {fold_text!r} is not a count from 0")
        if part not in PARTS:
            raise FoldFileError(f"{path}:{number}: part {part!r} is not one of {', '.join(PARTS)}")
        if not subject:
            raise FoldFileError(f"{path}:{number}: an empty subject")
        fold = int(fold_text)
        if (fold, subject) in seen:
            first_part, first_line = seen[fold, subject]
            raise FoldFileError(f"{path}:{number}: subject {subject} is in fold {fold}'s {part} part and already "
                                f"in its {first_part} part (line {first_line}); a subject belongs to one part of a "
                                f"fold")
        seen[fold, subject] = (part, number)
        if part == "test":
            if subject in tested:
                raise FoldFileError(f"{path}:{number}: subject {subject} is in a second test part (fold {fold}; "
                                    f"the first on line {tested[subject]}); each subject is tested in one fold")
            tested[subject] = number
        parts.setdefault(fold, {p: [] for p in PARTS})[part].append(subject)
    if not parts:
        raise FoldFileError(f"{path}: a header but no rows")
    if sorted(parts) != list(range(len(parts))):
        raise FoldFileError(f"{path}: folds {sorted(parts)}: number them 0..{len(parts) - 1}")
    for fold, by_part in sorted(parts.items()):
        empty = [p for p in PARTS if not by_part[p]]
        if empty:
            raise FoldFileError(f"{path}: fold {fold} has no {' and no '.join(empty)} part")
    everyone = {subject for _, subject in seen}
    untested = sorted(everyone - set(tested))
    if untested:
        raise FoldFileError(f"{path}: subject(s) {', '.join(untested[:8])} are in no fold's test part; each subject "
                            f"is tested in exactly one fold")
    if subjects is not None:
        unknown = sorted(everyone - set(subjects))
        if unknown:
            line = min(line for (_, subject), (_, line) in seen.items() if subject == unknown[0])
            raise FoldFileError(f"{path}:{line}: subject(s) {', '.join(unknown[:8])} are not in the data root "
                                f"({len(unknown)} in all); is this the fold file of this data set?")
        absent = sorted(set(subjects) - everyone)
        if absent:
            log.warning("%s leaves out %d subject(s) of the data root (%s%s): their samples are in no split", path,
                        len(absent), ", ".join(absent[:8]), " ..." if len(absent) > 8 else "")
    return Folds(tuple({p: tuple(sorted(names)) for p, names in parts[k].items()} for k in range(len(parts))),
                 source=path)


def parse_fold_count(text: str) -> int | str:
    """``--folds``: "loso" or an integer K >= 2."""
    if text.lower() == LOSO:
        return LOSO
    if not text.isdigit() or int(text) < 2:
        raise ValueError(f"--folds must be an integer of 2 or more, or 'loso'; got {text!r}")
    return int(text)
