"""Clips: for a target frame, a PAST window of face crops and the PAST seconds of audio (causal, as CAPNet).

The last face of the window is the target frame's; the audio window ends at the end of the target frame.
Frames before the start of a video repeat frame 1; audio before it is silence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from abaw.data.audio import AudioStore, audio_window
from abaw.data.frames import read_face
from abaw.data.layout import Layout, LayoutError
from abaw.data.manifest import Manifest, retained_face_frames
from abaw.data.video import VideoError, fps_from_name, probe
from abaw.tasks import AU_IGNORE, EXPR_IGNORE, FACE_CROP_SIZE, VA_IGNORE, frame_image_name


@dataclass(frozen=True)
class ClipSpec:
    """What a clip holds.

    Attributes:
        frames: faces in the past window (the ABAW 2022 paper: 6).
        seconds: span of the face window, first face to target face (the paper: 2 s).
        audio_seconds: past audio per clip (the paper: 10 s); 0 for a visual-only clip.
        sample_rate: audio sample rate after resampling.
        retention: "last" (a face-less frame shows the last earlier crop) or "black".
        image_size: side of the face crops fed to the model.
        still: every face of the window is the target frame's (a static image, e.g. of the MTL set).
    """

    frames: int = 6
    seconds: float = 2.0
    audio_seconds: float = 10.0
    sample_rate: int = 16000
    retention: str = "last"
    image_size: int = FACE_CROP_SIZE
    still: bool = False

    def window_offsets(self, fps: float) -> np.ndarray:
        """How many frames before the target each face of the window lies, oldest first (last one 0)."""
        if self.frames == 1 or self.still:
            return np.zeros(self.frames, dtype=np.int64)
        return np.round(np.linspace(self.seconds, 0.0, self.frames) * fps).astype(np.int64)


SOURCES = ("uni", "mtl")  # the manifest an item's ``row`` indexes, as ``item["source"]``


class ClipDataset(Dataset):
    """Clips for the frames of a manifest (all of them, or the rows in ``rows``).

    Each item is a dict of tensors: ``faces`` uint8 (T, 3, S, S); ``audio`` float32 (samples,) when
    ``spec.audio_seconds > 0``; labels ``va`` (2,), ``expr`` (), ``au`` (12,) holding the organisers' values
    (-5 / -1 where unlabelled) and the masks ``va_mask`` (2,), ``expr_mask`` (), ``au_mask`` (12,); and
    ``row``, the manifest row, to put predictions back in place, and ``source``, which manifest that is
    (0: the uni-task one, 1: the MTL set's; :data:`SOURCES`). ``transform(faces, seed)`` augments the
    window (training), with a seed drawn from torch's generator.
    """

    def __init__(self, manifest: Manifest, layout: Layout, spec: ClipSpec = ClipSpec(),
                 rows: np.ndarray | None = None, audio: AudioStore | None = None,
                 transform: Callable[[torch.Tensor, int], torch.Tensor] | None = None):
        self.manifest = manifest
        self.source = SOURCES.index(manifest.kind)
        self.spec = spec
        self.transform = transform
        self.rows = np.arange(len(manifest)) if rows is None else np.asarray(rows, dtype=np.int64)
        frames = manifest.frames
        self._video = frames["video"].cat.codes.to_numpy()
        self._names = list(frames["video"].cat.categories)
        self._frame = frames["frame"].to_numpy(np.int64)
        self._va = manifest.va()
        self._expr = manifest.expr()
        self._au = manifest.au()
        table = manifest.videos.loc[self._names]
        self._crops = list(table["crops"])
        self._folders = [Path(f) if f else None for f in table["crop_folder"]]
        self._n_frames = table["n_frames"].to_numpy(np.int64)
        self._files = [_video_file(layout, name) for name in self._names]
        self._fps = np.array([_fps(name, path) for name, path in zip(self._names, self._files)])
        self.audio = None
        if spec.audio_seconds > 0:
            missing = [name for name, path in zip(self._names, self._files) if path is None]
            if missing:
                raise LayoutError(f"audio clips need the video files; none found for {', '.join(missing[:5])}"
                                  f"{' ...' if len(missing) > 5 else ''}\n{layout.describe()}")
            self.audio = audio or AudioStore(sample_rate=spec.sample_rate)

    def __len__(self) -> int:
        return len(self.rows)

    def video_files(self) -> list[Path | None]:
        """The video file of each video of the manifest (None where none was found)."""
        return list(self._files)

    def window_frames(self, row: int) -> np.ndarray:
        """The 1-based frames of ``row``'s past face window, oldest first."""
        v = self._video[row]
        frames = self._frame[row] - self.spec.window_offsets(self._fps[v])
        return np.clip(frames, 1, self._n_frames[v])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = int(self.rows[index])
        v = self._video[row]
        shown = retained_face_frames(self.window_frames(row), self._crops[v], self.spec.retention)
        folder = self._folders[v]
        faces = torch.stack([
            read_face(folder / frame_image_name(f) if f > 0 and folder is not None else None, self.spec.image_size)
            for f in shown
        ])
        if self.transform is not None:
            faces = self.transform(faces, int(torch.randint(0, 2**31 - 1, ())))
        item = {
            "faces": faces,
            "va": torch.tensor(self._va[row]),
            "va_mask": torch.from_numpy(self._va[row] != VA_IGNORE),
            "expr": torch.tensor(self._expr[row]),
            "expr_mask": torch.tensor(self._expr[row] != EXPR_IGNORE),
            "au": torch.from_numpy(self._au[row].astype(np.float32)),
            "au_mask": torch.from_numpy(self._au[row] != AU_IGNORE),
            "row": torch.tensor(row),
            "source": torch.tensor(self.source),
        }
        if self.audio is not None:
            wave = self.audio.waveform(self._files[v])
            end_time = self._frame[row] / self._fps[v]
            item["audio"] = torch.from_numpy(
                audio_window(wave, self.spec.sample_rate, end_time, self.spec.audio_seconds))
        return item


def _video_file(layout: Layout, name: str) -> Path | None:
    try:
        return layout.video_file(name)
    except LayoutError:
        return None


def _fps(name: str, path: Path | None) -> float:
    """The video stream's rate; without the file, the rate in an Aff-Wild2 name ("3-25-640x360")."""
    if path is not None:
        return probe(path).fps
    fps = fps_from_name(name)
    if fps is None:
        raise VideoError(f"{name}: no video file, and its name does not carry a frame rate; the past window "
                         f"in seconds cannot be placed")
    return fps
