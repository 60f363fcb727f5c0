"""Prediction batches: each video's frames in order, in batches that never mix two videos.

A window of T faces ends at every frame, so neighbouring windows share T - 1 of their faces. A cached batch
ships each distinct crop once, with the indices that rebuild the windows from them, so that a predictor runs
the visual backbone once per crop instead of T times (``abaw-predict``); a per-window batch ships the windows
themselves, as :class:`~abaw.data.clips.ClipDataset` gives them (the reference, and the baseline of
``benchmarks/inference_throughput.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from abaw.data.clips import ClipDataset
from abaw.data.streams import FaceStream


class VideoBatches(Dataset):
    """The rows of a clip dataset as batches of consecutive frames of one video, videos one after the other.

    Item ``i`` is batch ``i`` (use it with ``DataLoader(batch_size=None)``), a dict of tensors:

    - ``row`` (n,): the manifest rows predicted; ``video`` (): their video's code
      (``manifest.frames["video"].cat.codes``); ``last`` (): whether it is the video's last batch;
    - every stream of the clips other than the faces (``audio`` (n, samples) float32, ...), row by row;
    - per-window: ``faces`` uint8 (n, T, 3, S, S), each row's window of faces;
    - cached: ``faces`` uint8 (K, 3, S, S), the crops the batch's windows show that the video's previous
      batch did not; ``reuse`` (M,), for each of the M distinct crops the windows show (in ascending frame
      order), its position among the previous batch's M' crops, or -1 for the next one of ``faces``; and
      ``window`` (n, T), each window's faces as positions among the M crops.

    Args:
        clips: the clip dataset whose rows to predict (no transform: predictions see the faces as they are).
        videos: the video codes to cover, in this order (default: every video of ``clips``, in code order);
            processes that share a split take disjoint lists.
        batch_size: frames per batch at most.
        per_window: ship windows instead of distinct crops.
    """

    def __init__(self, clips: ClipDataset, videos: Sequence[int] | None = None, batch_size: int = 64,
                 per_window: bool = False):
        if clips.transform is not None:
            raise ValueError("prediction batches show the faces as they are; the clip dataset has a transform")
        self.clips = clips
        self.per_window = per_window
        rows = clips.video_rows()
        videos = list(rows) if videos is None else list(videos)
        # (video, rows of the batch, rows of the video's previous batch or None)
        self._batches: list[tuple[int, np.ndarray, np.ndarray | None]] = []
        for video in videos:
            parts = np.array_split(rows[video], max(1, -(-len(rows[video]) // batch_size)))
            self._batches += [(video, part, parts[k - 1] if k else None) for k, part in enumerate(parts)]
        self._last = [k + 1 == len(self._batches) or self._batches[k + 1][0] != video
                      for k, (video, _, _) in enumerate(self._batches)]

    def __len__(self) -> int:
        return len(self._batches)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        video, rows, previous = self._batches[index]
        shown = self.clips.shown_faces(rows)
        item = {"row": torch.from_numpy(rows), "video": torch.tensor(video),
                "last": torch.tensor(self._last[index])}
        for reader in self.clips.streams:
            if reader.key != FaceStream.key:  # the faces are shipped below, each crop once
                windows = [reader.read(self.clips, row) for row in rows.tolist()]
                item |= {key: torch.stack([w[key] for w in windows]) for key in windows[0]}
        if self.per_window:
            item["faces"] = self._read(video, shown.ravel()).unflatten(0, shown.shape)
            return item
        crops, window = np.unique(shown, return_inverse=True)
        before = np.unique(self.clips.shown_faces(previous)) if previous is not None else crops[:0]
        position = np.searchsorted(before, crops).clip(max=max(len(before) - 1, 0))
        known = (before[position] == crops) if len(before) else np.zeros(len(crops), dtype=bool)
        item |= {"faces": self._read(video, crops[~known]), "reuse": torch.from_numpy(np.where(known, position, -1)),
                 "window": torch.from_numpy(window.reshape(shown.shape))}
        return item

    def _read(self, video: int, faces: np.ndarray) -> torch.Tensor:
        if not len(faces):
            size = self.clips.spec.image_size
            return torch.zeros((0, 3, size, size), dtype=torch.uint8)
        return torch.stack([self.clips.read_face(video, face) for face in faces.tolist()])


def windows_from_table(previous: torch.Tensor | None, new: torch.Tensor, reuse: torch.Tensor,
                       window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame features of a cached batch's windows, from the new crops' features and the previous table.

    Args:
        previous: (M', F) the features of the video's previous batch's crops (None for its first batch).
        new: (K, F) the features of the batch's ``faces``.
        reuse: the batch's ``reuse`` (M,).
        window: the batch's ``window`` (n, T).

    Returns:
        The (n, T, F) windows, and the (M, F) table of this batch's crops (the next batch's ``previous``).
    """
    reuse, window = reuse.to(new.device), window.to(new.device)
    previous = new[:0] if previous is None else previous
    fresh = reuse < 0
    source = torch.where(fresh, len(previous) + torch.cumsum(fresh, 0) - 1, reuse)
    table = torch.cat([previous, new])[source]
    return table[window], table
