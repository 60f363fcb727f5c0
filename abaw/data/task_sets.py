"""Task-wise batches (Algorithm 1 of the ABAW 2022 multitask-KD paper): every training batch comes from ONE
task set, the sets taking turns.

A task set is a list of clips: "va", "expr" and "au" are the uni-task frames labelled for that task, "mtl"
the MTL set's static images. :class:`TaskSets` serves an item as ``(set, position)`` and tags it with
``task_set``, the discriminator's target; :class:`TaskSetBatchSampler` makes the batches.

One epoch is a fixed number of batches, each set getting its share of them in a fixed interleaving (equal
shares: VA, EXPR, AU, MTL, VA, ...). Each set is drawn without replacement in a fresh random order per epoch,
and starts a new order when it runs out, so a small set repeats within an epoch and a large one is sampled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from abaw.data.clips import ClipDataset

TASK_OF_SET = {"va": ("va",), "expr": ("expr",), "au": ("au",), "mtl": ("va", "expr", "au")}


class TaskSets(Dataset):
    """Clips of several task sets, indexed by ``(set index, position in the set)``.

    Args:
        names: the task sets, in the discriminator's class order ("va", "expr", "au", "mtl").
        datasets: each set's clip dataset (sets may share one).
        positions: each set's items in its dataset.
        other_labels: keep the labels of other tasks that a set's frame happens to carry. False (the
            paper): a "va" batch carries VA labels only, so its other tasks are learned from the teacher.
    """

    def __init__(self, names: Sequence[str], datasets: Sequence[ClipDataset], positions: Sequence[np.ndarray],
                 other_labels: bool = False):
        if not len(names) == len(datasets) == len(positions):
            raise ValueError("one dataset and one position array per task set")
        empty = [name for name, p in zip(names, positions) if len(p) == 0]
        if empty:
            raise ValueError(f"task sets {empty} have no labelled clip in this split")
        self.names = tuple(names)
        self.datasets = list(datasets)
        self.positions = [np.asarray(p, dtype=np.int64) for p in positions]
        self.other_labels = other_labels

    def sizes(self) -> list[int]:
        return [len(p) for p in self.positions]

    def __len__(self) -> int:
        return sum(self.sizes())

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        set_index, position = key
        item = self.datasets[set_index][int(self.positions[set_index][position])]
        if not self.other_labels:
            keep = TASK_OF_SET[self.names[set_index]]
            for task in ("va", "expr", "au"):
                if task not in keep:
                    item[f"{task}_mask"] = torch.zeros_like(item[f"{task}_mask"])
        item["task_set"] = torch.tensor(set_index)
        return item


def interleave(shares: Sequence[float], steps: int) -> np.ndarray:
    """Which set each of ``steps`` batches comes from: at every step the set furthest behind its share
    (ties to the earlier set), so equal shares take strict turns and unequal ones spread evenly."""
    shares = np.asarray(shares, dtype=np.float64) / np.sum(shares)
    counts = np.zeros(len(shares))
    order = np.empty(steps, dtype=np.int64)
    for step in range(steps):
        chosen = int(np.argmax(shares * (step + 1) - counts))
        order[step] = chosen
        counts[chosen] += 1
    return order


class TaskSetBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of ``(set, position)`` keys, each batch from one task set; the order is a function of (seed,
    epoch), so every process draws the same batches (accelerate deals them out) and a resumed run draws what an
    uninterrupted one would.

    Args:
        sizes: clips per set.
        batch_size: clips per batch.
        steps: batches per epoch.
        shares: each set's share of the batches (default equal).
        seed: the run's seed.
    """

    drop_last = True  # every batch is full (accelerate reads this)

    def __init__(self, sizes: Sequence[int], batch_size: int, steps: int, shares: Sequence[float] = (),
                 seed: int = 0):
        self.sizes = list(sizes)
        self.batch_size = batch_size
        self.steps = steps
        self.shares = list(shares) or [1.0] * len(self.sizes)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        order = interleave(self.shares, self.steps)
        streams = [self._stream(s, int((order == s).sum()) * self.batch_size) for s in range(len(self.sizes))]
        taken = [0] * len(self.sizes)
        for s in order:
            start = taken[s]
            taken[s] += self.batch_size
            yield [(int(s), int(p)) for p in streams[s][start:taken[s]]]

    def _stream(self, set_index: int, count: int) -> np.ndarray:
        """``count`` positions of one set: fresh permutations end to end."""
        rng = np.random.default_rng([self.seed, self.epoch, set_index])
        size = self.sizes[set_index]
        rounds = -(-count // size) if count else 0
        return np.concatenate([rng.permutation(size) for _ in range(rounds)] or [np.empty(0, np.int64)])
