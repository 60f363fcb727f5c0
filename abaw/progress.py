"""Progress bars for the long steps (synthesis, audio decoding, manifests, training, prediction, exports)."""

from __future__ import annotations

import os

from tqdm import tqdm


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs) -> tqdm:
    """A tqdm bar that is drawn only where a person watches it.

    Off when stderr is not a terminal (a log file would fill with carriage returns), and on every process of a
    multi-process launch but the first of its machine (``LOCAL_RANK`` 0), whose bars would draw over each other.

    Args:
        iterable: what to iterate over, as for tqdm (or None with ``total=``).
        enabled: False turns the bar off whatever the terminal.
        **kwargs: passed to tqdm (``desc``, ``unit``, ``total``, ``leave``).
    """
    first_process = int(os.environ.get("LOCAL_RANK", "0")) == 0
    return tqdm(iterable, disable=None if enabled and first_process else True, **kwargs)
