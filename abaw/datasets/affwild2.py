"""Aff-Wild2 (the ABAW challenges), as the organisers ship it in any edition: its layout discovery
(:mod:`abaw.data.layout`) and manifest builder (:mod:`abaw.data.manifest`), registered."""

from __future__ import annotations

import os
import re
from pathlib import Path

from abaw.data.layout import MAX_DEPTH, discover
from abaw.data.manifest import build_manifest
from abaw.datasets import DatasetKind, register
from abaw.tasks import CHALLENGE_FOLDERS, MTL_FOLDER, TASKS

_TEST_FILE = re.compile(r"test_set.*\.(txt|csv)$", re.IGNORECASE)
_MARKERS = frozenset({*(name for names in CHALLENGE_FOLDERS.values() for name in names), MTL_FOLDER})


def detect(root: Path) -> bool:
    """Whether ``root`` holds an Aff-Wild2 challenge folder, or a test-set list or sample file (a root of test
    videos has no annotations), within the depth the layout walks. Face crops alone say nothing: the toolkit
    writes RECOLA's in the same layout."""
    for dirpath, dirnames, filenames in os.walk(root):
        if _MARKERS & set(dirnames) or any(_TEST_FILE.search(f) for f in filenames):
            return True
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and not d.lower().startswith("cropped")
                       ] if depth + 1 < MAX_DEPTH else []
    return False


AFFWILD2 = register(DatasetKind(
    name="affwild2",
    tasks=TASKS,
    streams=("faces", "audio"),
    splits=("train", "val"),
    expects=f"an annotations folder holding {', '.join(sorted(_MARKERS))}, or test-set lists (*test_set*.txt)",
    detect=detect,
    discover=discover,
    build_manifest=build_manifest,
    video_score="pooled",
))
