"""Datasets as a registry: what differs between Aff-Wild2, RECOLA, BioVid, ... is data, not branches.

A dataset is a layout discovery (walk a data root once, find its parts), a manifest builder (the frames of a
split, with every task's label or its "no label" value: :class:`abaw.data.manifest.Manifest`), a split protocol
(its labelled splits) and a scoring convention (``video_score``). ``--data-root ROOT`` finds which registered
dataset ROOT holds (``detect``), or ``--dataset NAME`` / config ``data.dataset`` names it.

A layout object (what ``discover`` returns) has at least:

- ``root``: the data root;
- ``describe() -> str``: what was found and what is missing, for error messages and ``abaw-data``;
- ``video_file(name) -> Path``: the video file of a manifest video, whose frame rate places its frames in time
  (raises :class:`~abaw.data.layout.LayoutError` where there is none);
- ``stream_file(stream, name) -> Path | None``: the file that stream ``stream`` reads for a manifest video
  (Aff-Wild2 "audio": the video file; "faces": the crop folder), None where absent.

Adding a dataset is a module here that calls :func:`register` (and its import at the end of this file).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abaw.data.layout import LayoutError
from abaw.data.manifest import Manifest

VIDEO_SCORES = ("pooled", "per_video")


@dataclass(frozen=True)
class DatasetKind:
    """One registered dataset.

    Attributes:
        name: "affwild2", "recola", ...
        tasks: the tasks (``abaw.tasks``) its annotations can carry.
        streams: the input streams (``abaw.data.streams``) its files can provide.
        splits: its labelled splits, in order ("train", "val").
        expects: what ``detect`` looks for at a data root, in words, for the error that finds no dataset.
        detect: a cheap check that a root is laid out as this dataset.
        discover: ``discover(root, annotations=None)`` -> its layout object (``annotations``: the annotations
            folder to use where a root holds several; a dataset with one kind of annotation may ignore it).
        build_manifest: ``build_manifest(layout, split, tasks, retention)`` -> the split's :class:`Manifest`
            (``retention``: how a face-less frame is shown, ``data.retention``), with the columns ``dataset`` and
            ``time`` ((frame - 1) / fps) besides the labels.
        video_score: "pooled" (ABAW: every frame of a split in one CCC) or "per_video" (AVEC: the mean of
            the recordings' CCCs; the pooled score is reported too, each labelled).
        person: a manifest video name -> the person it shows (``abaw-data`` counts people).
        options: the ``data`` config keys that its ``discover`` also takes (RECOLA: ``label_shift_s``, the
            annotation delay); :func:`open_dataset` passes them.
    """

    name: str
    tasks: tuple[str, ...]
    streams: tuple[str, ...]
    splits: tuple[str, ...]
    expects: str
    detect: Callable[[Path], bool]
    discover: Callable[..., Any]
    build_manifest: Callable[[Any, str, tuple[str, ...], str], Manifest]
    video_score: str = "pooled"
    person: Callable[[str], str] = str
    options: tuple[str, ...] = ()

    def __post_init__(self):
        if self.video_score not in VIDEO_SCORES:
            raise ValueError(f"{self.name}: video_score must be one of {VIDEO_SCORES}, got {self.video_score!r}")


DATASETS: dict[str, DatasetKind] = {}


def register(kind: DatasetKind) -> DatasetKind:
    """Make ``kind`` detectable and nameable (``--dataset NAME``)."""
    if kind.name in DATASETS:
        raise ValueError(f"a dataset named {kind.name!r} is already registered")
    DATASETS[kind.name] = kind
    return kind


def dataset_for(root: str | os.PathLike, name: str | None = None) -> DatasetKind:
    """The dataset at ``root``: the one named, else the one registered dataset whose layout ``root`` shows.

    Raises:
        LayoutError: an unknown name; a root that is not a directory; a root that no dataset recognises, or
            that two recognise (the message says what each dataset expects, and to name one with --dataset).
    """
    if name is not None:
        if name not in DATASETS:
            raise LayoutError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
        return DATASETS[name]
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LayoutError(f"data root {root} is not a directory")
    found = [kind for kind in DATASETS.values() if kind.detect(root)]
    if len(found) == 1:
        return found[0]
    expected = "\n".join(f"  {kind.name}: {kind.expects}" for kind in DATASETS.values())
    if not found:
        raise LayoutError(f"{root} holds none of the known datasets; each expects:\n{expected}")
    raise LayoutError(f"{root} looks like {' and '.join(k.name for k in found)}; name one with --dataset "
                      f"(config data.dataset)")


def open_dataset(root: str | os.PathLike, name: str | None = None,
                 annotations: str | os.PathLike | None = None, options: Any = None) -> tuple[DatasetKind, Any]:
    """The dataset at ``root`` (:func:`dataset_for`) and its layout, discovered.

    Args:
        options: the ``data`` section of the config (or None); the keys the dataset names in ``options`` are
            passed to its ``discover``. A key that another dataset reads, set away from its default, is an error
            here: it would be silently ignored.
    """
    kind = dataset_for(root, name)
    taken = {key: getattr(options, key) for key in kind.options} if options is not None else {}
    if options is not None:
        for other in DATASETS.values():
            for key in set(other.options) - set(kind.options):
                default = type(options).__dataclass_fields__[key].default
                if getattr(options, key) != default:
                    raise LayoutError(f"data.{key} is read by the {other.name} dataset, not by {kind.name} "
                                      f"(at {root}); leave it at {default!r}")
    return kind, kind.discover(root, annotations=annotations, **taken)


# The registered datasets; each module registers itself on import.
from abaw.datasets import affwild2  # noqa: E402,F401
from abaw.datasets import recola  # noqa: E402,F401
from abaw.datasets import biovid  # noqa: E402,F401
