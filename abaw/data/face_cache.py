"""Face crops stored once per video, read back memory-mapped instead of decoding JPEGs at every step.

Two kinds of rows, one per face crop:

- ``frames``: the decoded crop, uint8 (3, S, S), exactly what :meth:`ClipDataset.read_face` returns
  (``data.face_cache=frames``; for end-to-end training where JPEG decoding cannot keep up with the model).
- ``features``: a frozen visual backbone's per-frame features, float32 (F,)
  (``data.face_cache=features``; training then never runs the backbone).

A cache is a folder ``ROOT/<kind>/<label>-<digest>/``, where the digest is that of its identity (what makes
the rows: the kind, the crop size, the JPEG decoder, and for features the backbone's name and the SHA-256 of
its weights), so caches of two backbones, weights or sizes live side by side. It holds one ``<video>.npy``
per video, whose row i is the video's i-th crop in frame order, ``fill.npy``, the row of a black face, and
``manifest.json``::

    {"identity": {...}, "videos": {"<video>": {"crop_folder": "...", "crops": 1234, "crops_sha256": "..."}}}

Opening a cache checks the manifest against the data: a video whose crop folder or list of crops changed
(crops added, removed or renamed) is made again, and so is a whole cache whose manifest names another
identity; both are logged. A crop overwritten in place under the same name is not detected: delete the cache
folder after extracting crops again. A video is written to a temporary file and renamed into place, and the
manifest records it only then, so a build that stops part-way resumes with the next video.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
import torch
from torch.utils.data import DataLoader, Dataset
from abaw.io import atomic_path, write_json
from abaw.progress import progress_bar

log = logging.getLogger(__name__)

KINDS = ("frames", "features")
# The batch key each kind's windows go under; "face_features" is VisualEncoder.features_key.
BATCH_KEYS = {"frames": "faces", "features": "face_features"}
MANIFEST = "manifest.json"
FILL = "fill.npy"


@dataclass(frozen=True)
class VideoCrops:
    """Where a video's crops come from, and how to read one.

    Attributes:
        clips: a clip dataset that holds the video; its ``read_face`` decodes a crop as training does.
        code: the video's code in that dataset (``manifest.frames["video"].cat.codes``).
        folder: the video's crop folder (None: no crops).
        crops: sorted 1-based frames that have a crop: the cache's rows, in this order.
    """

    clips: Dataset
    code: int
    folder: str | None
    crops: np.ndarray

    def entry(self) -> dict:
        """What the manifest records of the video: enough to tell that its crops changed."""
        crops = np.ascontiguousarray(self.crops, dtype=np.int64)
        return {"crop_folder": self.folder, "crops": len(crops), "crops_sha256": hashlib.sha256(crops).hexdigest()}


class FaceCache:
    """Reads a built cache: :meth:`window` gives the rows of a window of faces.

    Each video's array is memory-mapped on first use; a DataLoader worker started by spawn gets the paths,
    never a copy of the arrays.

    Args:
        folder: the cache folder.
        kind: "frames" or "features".
        crops: video name -> its sorted crop frames (the rows of its array).
    """

    def __init__(self, folder: Path, kind: str, crops: dict[str, np.ndarray]):
        self.folder = Path(folder)
        self.kind = kind
        self.batch_key = BATCH_KEYS[kind]
        self.crops = crops
        self.fill = np.load(self.folder / FILL)
        self._open: dict[str, np.ndarray] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_open": {}}

    def window(self, video: str, faces: np.ndarray) -> np.ndarray:
        """The rows of ``faces`` (1-based crop frames; -1 for a black face) of ``video``: (T, *row shape).

        Raises:
            KeyError: a frame that is not one of the video's crops (the cache and the dataset disagree).
        """
        faces = np.asarray(faces, dtype=np.int64)
        out = np.empty((len(faces), *self.fill.shape), dtype=self.fill.dtype)
        black = faces < 0
        out[black] = self.fill
        if not black.all():
            crops = self.crops[video]
            rows = np.searchsorted(crops, faces[~black]).clip(max=max(len(crops) - 1, 0))
            if len(crops) == 0 or not np.array_equal(crops[rows], faces[~black]):
                raise KeyError(f"{self.folder}: frames {faces[~black].tolist()} of {video} are not all among its "
                               f"cached crops")
            if video not in self._open:
                # A plain view of the memory map: np.memmap's own indexing costs more than the copy it makes.
                self._open[video] = np.asarray(np.load(self.folder / f"{video}.npy", mmap_mode="r"))
            out[~black] = self._open[video][rows]
        return out


class _Crops(Dataset):
    """Every crop of the videos to cache, in order, decoded by the clip dataset that holds each video."""

    def __init__(self, videos: Sequence[VideoCrops]):
        self.videos = list(videos)
        self.video = np.repeat(np.arange(len(self.videos)), [len(v.crops) for v in self.videos])
        self.frame = np.concatenate([v.crops for v in self.videos] or [np.empty(0, np.int64)]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, index: int) -> torch.Tensor:
        video = self.videos[self.video[index]]
        return video.clips.read_face(video.code, int(self.frame[index]))


def crop_sources(datasets: Sequence[Dataset]) -> dict[str, VideoCrops]:
    """Every video of the clip datasets, each read by the first dataset that holds it (a video's crop
    folder is the layout's, whichever manifest lists it)."""
    videos: dict[str, VideoCrops] = {}
    for clips in datasets:
        table = clips.manifest.videos
        for code, name in enumerate(clips.manifest.frames["video"].cat.categories):
            if name not in videos:
                videos[name] = VideoCrops(clips, code, table.at[name, "crop_folder"], table.at[name, "crops"])
    return videos


def decoder_identity() -> str:
    """How :func:`abaw.data.frames.read_face` turns a JPEG into pixels; another Pillow may decode or resize a
    crop to other values, so it is part of a cache's identity."""
    return f"Pillow {PIL.__version__}: RGB, bilinear resize"


def state_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's weights and buffers (names, dtypes, shapes and values): what identifies the
    network that made a cache of features, however its weights were obtained."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def identity_digest(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def open_face_cache(root: Path, label: str, identity: dict, videos: dict[str, VideoCrops],
                    encode: Callable[[torch.Tensor], np.ndarray], image_size: int, batch_size: int = 256,
                    num_workers: int = 0) -> FaceCache:
    """The cache of ``identity`` for ``videos``, its missing or stale videos made first.

    Args:
        root: the cache root (``data.cache_dir``, default ``$ABAW_CACHE``).
        label: readable start of the folder's name (e.g. the backbone's name and the crop size).
        identity: what makes the rows; ``identity["kind"]`` is "frames" or "features".
        videos: video name -> its crops.
        encode: uint8 (N, 3, S, S) crops -> the N rows, as a numpy array.
        image_size: S, the side of the crops.
        batch_size: crops per call of ``encode``.
        num_workers: DataLoader workers that decode the crops.
    """
    kind = identity["kind"]
    if kind not in KINDS:
        raise ValueError(f"unknown face cache kind {kind!r}; choose one of {', '.join(KINDS)}")
    folder = Path(root) / kind / f"{label}-{identity_digest(identity)}"
    manifest = _read_manifest(folder)
    if manifest and manifest.get("identity") != identity:
        log.warning("%s was made by %s, not %s; making it again", folder, manifest.get("identity"), identity)
        manifest = {}
    manifest = {"identity": identity, "videos": manifest.get("videos", {})}
    stale = [name for name in videos if manifest["videos"].get(name) is not None
             and manifest["videos"][name] != videos[name].entry()]
    if stale:
        log.warning("%s: the crops of %d videos changed since they were cached (%s); caching them again",
                    folder, len(stale), ", ".join(stale[:5]) + (" ..." if len(stale) > 5 else ""))
    todo = [name for name in videos if manifest["videos"].get(name) != videos[name].entry()
            or not (folder / f"{name}.npy").is_file()]
    fill = encode(torch.zeros(1, 3, image_size, image_size, dtype=torch.uint8))[0]
    if not manifest["videos"] or not (folder / FILL).is_file():
        with atomic_path(folder / FILL) as tmp, open(tmp, "wb") as f:
            np.save(f, fill, allow_pickle=False)
    if todo:
        log.info("caching the %s of %d crops of %d videos in %s", kind,
                 sum(len(videos[n].crops) for n in todo), len(todo), folder)
        _build(folder, manifest, {name: videos[name] for name in todo}, encode, fill, batch_size, num_workers)
    return FaceCache(folder, kind, {name: video.crops for name, video in videos.items()})


def _read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        log.warning("%s is not valid JSON (%s); making the cache again", path, error)
        return {}


def _build(folder: Path, manifest: dict, videos: dict[str, VideoCrops], encode: Callable[[torch.Tensor], np.ndarray],
           fill: np.ndarray, batch_size: int, num_workers: int) -> None:
    """Decode and encode every crop of ``videos`` in order, writing each video's array once it is complete."""
    crops = _Crops(list(videos.values()))
    # Its own generator: a loader draws its workers' seed from the global one, and a run that builds a cache
    # must draw the same random numbers afterwards (dropout, sampling) as one that finds it built.
    loader = DataLoader(crops, batch_size=batch_size, num_workers=num_workers, generator=torch.Generator())
    bar = progress_bar(total=len(crops), desc=f"caching {folder.parent.name}", unit="crop", leave=False)

    def blocks():
        for faces in loader:
            bar.update(len(faces))
            yield encode(faces)

    stream, pending = blocks(), np.empty((0, *fill.shape), fill.dtype)
    for name, video in videos.items():
        with atomic_path(folder / f"{name}.npy") as tmp:
            rows = np.lib.format.open_memmap(tmp, mode="w+", dtype=fill.dtype, shape=(len(video.crops), *fill.shape))
            filled = 0
            while filled < len(rows):
                if not len(pending):
                    pending = next(stream)
                take = min(len(rows) - filled, len(pending))
                rows[filled:filled + take] = pending[:take]
                pending, filled = pending[take:], filled + take
            rows.flush()
            del rows
        manifest["videos"][name] = video.entry()
        write_json(folder / MANIFEST, manifest)
    bar.close()
