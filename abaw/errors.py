"""Bad input, and how every command reports it.

Every error that bad input causes (a malformed annotation file, a part missing from the data root, a NaN in a
predictions file, an unknown config key, a truncated video ...) derives from :class:`AbawError`, and its
message names the file (and line) at fault and what is wrong with it. A command prints that message as
``prog: message`` and exits with status 1, because the user has a file to fix, not a bug to report. Any other
exception is a bug in the toolkit and keeps its traceback. ``docs/robustness.md`` lists each case.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

EXIT_BAD_INPUT = 1  # argparse's usage errors exit with 2


class AbawError(Exception):
    """Bad input that the user can fix; the message says which file (and line) and what is wrong."""


def command(prog: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a command's ``main(argv)`` so that bad input ends it with one line instead of a traceback.

    :class:`AbawError`, and ``OSError`` (a file that is missing, unreadable or unwritable, a full disk: its
    message names the path), are printed to stderr as ``prog: message`` and give exit status 1. Every other
    exception propagates with its traceback.

    Args:
        prog: the command's name, as its usage line shows it (``abaw-eval``, ``mtl_teacher.py``).
    """
    def decorate(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def guarded(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except (AbawError, OSError) as error:
                print(f"{prog}: {error}", file=sys.stderr)
                return EXIT_BAD_INPUT
        return guarded
    return decorate
