"""One writer per folder: a run folder (``train.out_dir``) or a predictions folder (``abaw-predict --out``)
belongs to the process that writes there, so that a second process started on the same folder stops with an
error naming the folder and its holder, instead of overwriting the first one's files.

The hold is an exclusive ``flock`` on ``FOLDER/.abaw.lock``. The kernel releases it when the holder ends,
however it ends (SIGKILL, a power cut of the holder's machine on a shared file system aside), so a lock left by
a dead process never blocks anyone: the file stays, unlocked, and the next process takes it. That is why the
file is never deleted: a process that had opened it before the deletion could then hold a lock on a file that
no longer exists while a newcomer locks the new one. The file says who holds it (process id, host, command,
since when), for the error message.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from abaw.errors import AbawError

LOCK_FILE = ".abaw.lock"


class FolderInUseError(AbawError):
    """Another process is writing into the folder."""


@contextmanager
def hold_folder(folder: str | os.PathLike, what: str, enabled: bool = True) -> Iterator[None]:
    """Hold ``folder`` (created if needed) for the duration of the block.

    Args:
        folder: the folder to write into.
        what: what the folder is, for the error message (``"run folder"``, ``"predictions folder"``).
        enabled: False on the processes of a multi-process run other than the main one, which holds the
            folder for all of them.

    Raises:
        FolderInUseError: another live process holds the folder; the message names the folder and the holder.
    """
    if not enabled:
        yield
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderInUseError(f"{folder}: this {what} is in use by {_holder(path)}; wait until it ends, or "
                                   f"write into another folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        return f"process {holder['pid']} on {holder['host']} since {holder['since']} ({holder['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (which has not written its name yet)"
