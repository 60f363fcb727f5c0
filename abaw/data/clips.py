"""Clips: for a target frame, the PAST window of each input stream the models read (causal, as CAPNet); or,
for a task labelled once per video (a BioVid sample), the whole video as one clip.

The streams are data (:mod:`abaw.data.streams`): the past face crops, the past seconds of audio, and any other
registered stream. The last face of the window is the target frame's; every other stream's window ends at the
end of the target frame (:meth:`ClipDataset.end_time`). Frames before the start of a video repeat frame 1;
audio before it is silence.

With ``ClipSpec.span="sample"`` (tasks of granularity "sample", :mod:`abaw.task_registry`) each video is ONE
clip: its faces are drawn by segment sampling over the video, or over a part of it (``sample_seconds``: the
"peak" window of the pain literature), one frame per equal segment, the segment's centre, or during training a
random frame of it (``jitter``); every other stream's window ends at the end of the video.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from abaw.data.face_cache import FaceCache
from abaw.data.frames import FaceImageError, read_face
from abaw.data.layout import Layout, LayoutError
from abaw.data.manifest import Manifest, retained_face_frames
from abaw.data.streams import FaceStream, StreamReader
from abaw.data.video import VideoError, VideoInfo, fps_from_name, probe
from abaw.task_registry import TASK_REGISTRY
from abaw.tasks import FACE_CROP_SIZE, frame_image_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipSpec:
    """How a clip's face window is cut (the other streams' windows are their readers' parameters).

    Attributes:
        frames: faces in the past window (the ABAW 2022 paper: 6).
        seconds: span of the face window, first face to target face (the paper: 2 s).
        retention: "last" (a face-less frame shows the last earlier crop) or "black".
        image_size: side of the face crops fed to the model.
        still: every face of the window is the target frame's (a static image, e.g. of the MTL set).
        span: "past" (the window ends at the target frame) or "sample" (the video is one clip: segment sampling).
        sample_seconds: with span "sample", the part of the video the faces are drawn from, (start, end) in
            seconds from its start (e.g. (2.0, 2.8): frames 50-70 at 25 fps); None: the whole video.
        jitter: with span "sample", a random frame within each segment instead of its centre (training).
    """

    frames: int = 6
    seconds: float = 2.0
    retention: str = "last"
    image_size: int = FACE_CROP_SIZE
    still: bool = False
    span: str = "past"
    sample_seconds: tuple[float, float] | None = None
    jitter: bool = False

    def __post_init__(self):
        if self.span not in SPANS:
            raise ValueError(f"span {self.span!r} not in {SPANS}")
        if self.sample_seconds is not None and not 0 <= self.sample_seconds[0] < self.sample_seconds[1]:
            raise ValueError(f"sample_seconds {self.sample_seconds}: need 0 <= start < end")

    def window_offsets(self, fps: float) -> np.ndarray:
        """How many frames before the target each face of the window lies, oldest first (last one 0)."""
        if self.frames == 1 or self.still:
            return np.zeros(self.frames, dtype=np.int64)
        return np.round(np.linspace(self.seconds, 0.0, self.frames) * fps).astype(np.int64)

    def sample_frames(self, n_frames: int, fps: float, rng: np.random.Generator | None = None) -> np.ndarray:
        """Span "sample": the 1-based frames of a video's clip, (frames,), one per equal segment of the video's
        frames (or of those within ``sample_seconds``), oldest first: each segment's centre, or with ``rng`` a
        frame drawn uniformly within each segment. Segments shorter than a frame repeat frames."""
        first, last = 1, n_frames
        if self.sample_seconds is not None:
            first = min(max(1, int(np.floor(self.sample_seconds[0] * fps)) + 1), n_frames)
            last = max(first, min(n_frames, int(np.ceil(self.sample_seconds[1] * fps))))
        edges = np.linspace(first, last + 1, self.frames + 1)
        if rng is None:
            picks = (edges[:-1] + edges[1:]) / 2
        else:
            picks = rng.uniform(edges[:-1], edges[1:])
        return np.clip(np.floor(picks).astype(np.int64), first, last)


SPANS = ("past", "sample")
SOURCES = ("uni", "mtl")  # the manifest an item's ``row`` indexes, as ``item["source"]``


class ClipDataset(Dataset):
    """Clips for the frames of a manifest (all of them, or the rows in ``rows``).

    Each item is a dict of tensors: the window of each stream of ``streams`` under its key (``faces`` uint8
    (T, 3, S, S); ``audio`` float32 (samples,); ...: :mod:`abaw.data.streams`); the labels of every registered
    task (:mod:`abaw.task_registry`) whose columns the manifest holds, under its name, with their "no label"
    value where unlabelled (``va`` (2,), ``expr`` (), ``au`` (12,) for Aff-Wild2: -5 / -1), and which are
    present under ``<name>_mask``; and ``row``, the manifest row, to put predictions back in place, and ``source``, which manifest that is
    (0: the uni-task one, 1: the MTL set's; :data:`SOURCES`). ``transform(faces, seed)`` augments the
    window (training), with a seed drawn from torch's generator.

    With ``face_cache`` set (:mod:`abaw.data.face_cache`), the window is read from the cache instead of the
    JPEGs: the same uint8 ``faces`` from a cache of frames; from a cache of features, ``face_features`` float32
    (T, F), the frozen backbone's features of the same faces, in place of ``faces``.

    Each stream is prepared (its files checked, its caches warmed: e.g. every video's audio decoded once) when
    the dataset is made, so that loader workers only read.

    Args:
        streams: the readers of the streams the models read (default: the faces alone); readers hold no state
            of a dataset, so the datasets of one run share them (and their caches).
    """

    def __init__(self, manifest: Manifest, layout: Layout, spec: ClipSpec = ClipSpec(),
                 rows: np.ndarray | None = None, streams: Sequence[StreamReader] = (FaceStream(),),
                 transform: Callable[[torch.Tensor, int], torch.Tensor] | None = None):
        self.manifest = manifest
        self.layout = layout
        self.source = SOURCES.index(manifest.kind)
        self.spec = spec
        self.streams = tuple(streams)
        self.transform = transform
        self.face_cache: FaceCache | None = None
        self.rows = np.arange(len(manifest)) if rows is None else np.asarray(rows, dtype=np.int64)
        frames = manifest.frames
        self._video = frames["video"].cat.codes.to_numpy()
        if spec.span == "sample":  # one clip per video: its last row stands for it (labels are the video's)
            self.rows = self.rows[np.isin(self.rows, [rows[-1] for rows in self.video_rows().values()])]
        self._names = list(frames["video"].cat.categories)
        self._frame = frames["frame"].to_numpy(np.int64)
        # Every registered task whose label columns the manifest holds; a class index is an integer target,
        # values and 0/1 labels are float targets (what the losses take).
        self._tasks = [task for task in TASK_REGISTRY.values() if set(task.label_columns) <= set(frames.columns)]
        self._targets = {task.name: task.targets(frames).astype(np.int64 if task.class_label else np.float32)
                         for task in self._tasks}
        table = manifest.videos.loc[self._names]
        self._crops = list(table["crops"])
        self._folders = [Path(f) if f else None for f in table["crop_folder"]]
        self._unreadable: set[Path] = set()  # crops already warned about
        self._n_frames = table["n_frames"].to_numpy(np.int64)
        self._files = [_video_file(layout, name) for name in self._names]
        self._stream_files: dict[str, list[Path | None]] = {}
        videos = [probe(path) if path is not None else None for path in self._files]
        self._fps = np.array([_fps(name, video) for name, video in zip(self._names, videos)])
        if manifest.kind == "uni":  # the MTL files list sampled frames, not a video's length
            _check_frame_counts(self._names, self._n_frames, videos)
        # A stream's own missing files are named first (they are what the user lacks), then a frame rate.
        for reader in self.streams:
            reader.prepare(self)
        unplaced = np.flatnonzero(np.isnan(self._fps))
        if len(unplaced):
            raise VideoError(f"{self._names[unplaced[0]]}: no video file, and its name does not carry a frame rate; "
                             f"the past window in seconds cannot be placed without it: put the video file under "
                             f"the data root")

    def __len__(self) -> int:
        return len(self.rows)

    def reads(self, key: str) -> StreamReader | None:
        """The reader of stream ``key`` if this dataset reads it, else None."""
        return next((reader for reader in self.streams if reader.key == key), None)

    def with_streams(self, streams: Sequence[StreamReader]) -> ClipDataset:
        """The same clips read through other streams (e.g. a teacher's, to export its outputs), each prepared;
        the face cache and the transform stay."""
        other = copy.copy(self)
        other.streams = tuple(streams)
        for reader in other.streams:
            if self.reads(reader.key) is not reader:
                reader.prepare(other)
        return other

    def video_names(self) -> list[str]:
        """The manifest's videos, by video code (``manifest.frames["video"].cat.codes``)."""
        return list(self._names)

    def video_name(self, video: int) -> str:
        return self._names[video]

    def video_of(self, row: int) -> int:
        """The video code of manifest row ``row``."""
        return int(self._video[row])

    def end_time(self, row: int) -> float:
        """Seconds from the start of the row's video to the END of its frame, where the past windows end (span
        "sample": to the end of the video, so that the windows cover the sample)."""
        video = self._video[row]
        frame = self._n_frames[video] if self.spec.span == "sample" else self._frame[row]
        return float(frame / self._fps[video])

    def stream_file(self, stream: str, video: int) -> Path | None:
        """The file that stream ``stream`` reads for video code ``video`` (the layout's ``stream_file``)."""
        if stream not in self._stream_files:
            self._stream_files[stream] = [self.layout.stream_file(stream, name) for name in self._names]
        return self._stream_files[stream][video]

    def stream_seconds(self, stream: str) -> dict[Path, float]:
        """How long each file of ``stream`` should last by the organisers' frame counts (the longest of the
        videos that share the file, as ``video2_left`` and ``video2_right`` share ``video2``), in seconds."""
        seconds: dict[Path, float] = {}
        for video, (n_frames, fps) in enumerate(zip(self._n_frames, self._fps)):
            path = self.stream_file(stream, video)
            if path is not None and not np.isnan(fps):
                seconds[path] = max(seconds.get(path, 0.0), float(n_frames / fps))
        return seconds

    def frame_rates(self, rows: np.ndarray) -> np.ndarray:
        """The frame rate of the video of each of the manifest's ``rows``."""
        return self._fps[self._video[np.asarray(rows, dtype=np.int64)]]

    def window_frames(self, rows: int | np.ndarray) -> np.ndarray:
        """The 1-based frames of the past face window of a row, (T,), or of rows of one video, (n, T); oldest
        first."""
        rows = np.asarray(rows, dtype=np.int64)
        video = np.unique(self._video[rows])
        if len(video) > 1:
            raise ValueError(f"window_frames takes rows of one video, got rows of {len(video)}")
        if not len(video):
            return np.empty((0, self.spec.frames), dtype=np.int64)
        v = video[0]
        if self.spec.span == "sample":
            # Jitter draws from torch's generator, which loader workers seed (and a checkpoint restores).
            rng = (np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()))) if self.spec.jitter else None)
            frames = self.spec.sample_frames(int(self._n_frames[v]), float(self._fps[v]), rng)
            return np.broadcast_to(frames, (*rows.shape, self.spec.frames)).copy()
        frames = self._frame[rows][..., None] - self.spec.window_offsets(self._fps[v])
        return np.clip(frames, 1, self._n_frames[v])

    def shown_faces(self, rows: int | np.ndarray) -> np.ndarray:
        """The crop that each face of the window of a row, (T,), or of rows of one video, (n, T), shows: its
        1-based frame, -1 for a black face (``spec.retention``)."""
        frames = self.window_frames(rows)
        v = self._video[np.asarray(rows).flat[0]] if frames.size else 0
        return retained_face_frames(frames.ravel(), self._crops[v], self.spec.retention).reshape(frames.shape)

    def video_rows(self) -> dict[int, np.ndarray]:
        """Video code (``manifest.frames["video"].cat.codes``) -> the dataset's rows of that video, in order."""
        codes = self._video[self.rows]
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0, True])
        return {int(codes[order[a]]): self.rows[order[a:b]] for a, b in zip(bounds[:-1], bounds[1:])}

    def read_face(self, video: int, face: int) -> torch.Tensor:
        """The uint8 (3, S, S) crop of 1-based frame ``face`` of video code ``video``; black for ``face`` -1.

        A crop that cannot be read (empty, truncated, not an image) is treated as missing, like the crop of a
        frame where no face was found: its pixels are those of the face that ``spec.retention`` gives the frame
        without it, and a warning names the file (once per dataset and process). A run of hours is not lost to
        one bad file. The windows keep their shape, so a reader that caches crops by frame stays consistent.
        """
        folder = self._folders[video]
        crops = self._crops[video]
        while face > 0 and folder is not None:
            path = folder / frame_image_name(face)
            try:
                return read_face(path, self.spec.image_size)
            except FaceImageError as error:
                crops = crops[crops != face]
                instead = int(retained_face_frames(np.array([face]), crops, self.spec.retention)[0])
                if path not in self._unreadable:
                    self._unreadable.add(path)
                    log.warning("%s; frame %d of %s shows %s instead (extract the crop again, or delete it to "
                                "mark the frame as face-less)", error, face, self._names[video],
                                f"the crop of frame {instead}" if instead > 0 else "a black face")
                face = instead
        return read_face(None, self.spec.image_size)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = int(self.rows[index])
        item = {}
        for reader in self.streams:
            item |= reader.read(self, row)
        for task in self._tasks:
            target = torch.as_tensor(self._targets[task.name][row])
            item |= {task.name: target, f"{task.name}_mask": task.labelled(target)}
        item |= {"row": torch.tensor(row), "source": torch.tensor(self.source)}
        return item


def _video_file(layout: Layout, name: str) -> Path | None:
    try:
        return layout.video_file(name)
    except LayoutError:
        return None


def _fps(name: str, video: VideoInfo | None) -> float:
    """The video stream's rate; without the file, the rate in an Aff-Wild2 name ("3-25-640x360"); else NaN."""
    if video is not None:
        return video.fps
    fps = fps_from_name(name)
    return float("nan") if fps is None else fps


def _check_frame_counts(names: list[str], n_frames: np.ndarray, videos: list[VideoInfo | None]) -> None:
    """Warn where the organisers' frame count of a video and its file's disagree by more than one frame.

    Decoders often count one frame fewer than the organisers; more than that suggests another copy of the
    video (re-encoded, another frame rate), whose audio and frame times would not match the labels.
    """
    for name, count, video in zip(names, n_frames, videos):
        if video is not None and video.frames and abs(int(count) - video.frames) > 1:
            log.warning("%s: the organisers' files list %d frames but %s declares %d; the labels stay on their "
                        "lines and the audio is cut at frame / %g fps: check that this is the organisers' copy "
                        "of the video", name, count, video.path, video.frames, video.fps)
