"""Writing output files so that a crash never leaves a half-written file that looks whole.

Every file the toolkit writes (checkpoints, metrics, configs, predictions, submissions, exports, caches, plots)
goes through here. The content is written to a temporary file in the target's folder, flushed to disk, and
renamed over the target only once it is complete: a rename within a folder is atomic, so a reader (or a
resumed run) sees the old file or the new one, never part of one. A crash or an exception leaves the old
file as it was and removes the temporary file (a SIGKILL cannot remove it: it stays behind as a hidden
``.NAME.*.tmp`` that nothing reads).

A folder that must change as a whole (a training state) is written beside its target and swapped in with
:func:`replace_folder`, which keeps the previous folder until the new one is in place.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

OLD = ".old"  # suffix of the previous folder while replace_folder swaps in a new one


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that takes a file name (safetensors, PIL, matplotlib).

    When the block ends normally the file written there replaces ``path``; when it raises, the file is
    removed and ``path`` is left untouched. The parent folder is created if needed.

    Example:
        with atomic_path(run / "model.safetensors") as tmp:
            save_file(tensors, str(tmp))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        yield tmp
        _fsync(tmp)  # the data reaches the disk before the rename does, so even a power cut leaves no torn file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def temporary_path(path: str | os.PathLike) -> Path:
    """A fresh hidden name beside ``path`` (``.NAME.PID.RANDOM.tmp``) to write its content under first.

    Not ``tempfile.mkstemp``: its files are private (mode 0600), and the file renamed over ``path`` would keep
    that mode.
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """``open(path, mode)`` that replaces ``path`` only when the block ends normally (see :func:`atomic_path`).

    Args:
        path: the file to write.
        mode: "w" (text) or "wb" (binary).
        **open_kwargs: passed to :func:`open` (``encoding``, ``newline``).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes a whole file: mode 'w' or 'wb', not {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as f:
        yield f


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file atomically."""
    with atomic_write(path, encoding="utf-8") as f:
        f.write(text)


def write_json(path: str | os.PathLike, data) -> None:
    """Write JSON (indented, newline-terminated) atomically."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def replace_folder(new: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move the complete folder ``new`` to ``target``, replacing the previous ``target`` as a whole.

    The previous folder is renamed to ``target.old`` and deleted only once ``new`` is in place, so at every
    moment one complete folder exists: ``target``, or ``target.old`` in the instant between the two renames
    (:func:`complete_folder` finds it).
    """
    new, target = Path(new), Path(target)
    old = target.with_name(target.name + OLD)
    for file in new.rglob("*"):
        if file.is_file():
            _fsync(file)
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)  # a leftover of an earlier crash; target is complete
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def complete_folder(target: str | os.PathLike) -> Path | None:
    """``target``, or the previous folder that :func:`replace_folder` was replacing when a crash stopped it."""
    for folder in (Path(target), Path(target).with_name(Path(target).name + OLD)):
        if folder.is_dir():
            return folder
    return None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
