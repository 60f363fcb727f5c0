"""Aff-Wild2 (the ABAW challenges), as the organisers ship it in any edition: its layout discovery
(:mod:`abaw.data.layout`) and manifest builder (:mod:`abaw.data.manifest`), registered."""

from __future__ import annotations

import os
from pathlib import Path

from abaw.data.layout import MAX_DEPTH, discover
from abaw.data.manifest import build_manifest
from abaw.datasets import DatasetKind, register
from abaw.tasks import CHALLENGE_FOLDERS, MTL_FOLDER, TASKS

_MARKERS = frozenset({*(name for names in CHALLENGE_FOLDERS.values() for name in names), MTL_FOLDER})


def detect(root: Path) -> bool:
    """Whether ``root`` holds an Aff-Wild2 challenge folder or a ``cropped_aligned`` folder of face crops
    (a root of test videos has no annotations), within the depth the layout walks."""
    for dirpath, dirnames, _ in os.walk(root):
        if _MARKERS & set(dirnames) or any(d.lower().startswith("cropped") for d in dirnames):
            return True
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")] if depth + 1 < MAX_DEPTH else []
    return False


AFFWILD2 = register(DatasetKind(
    name="affwild2",
    tasks=TASKS,
    streams=("faces", "audio"),
    splits=("train", "val"),
    expects=f"an annotations folder holding {', '.join(sorted(_MARKERS))}, or a cropped_aligned folder",
    detect=detect,
    discover=discover,
    build_manifest=build_manifest,
    video_score="pooled",
))
