"""Which videos exist: names, files, splits, tasks, frame rates, sizes, lengths and audio formats."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abaw.data.synthetic.params import SynthParams
from abaw.tasks import TASKS

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class VideoPlan:
    """One video file and the people annotated in it."""

    index: int
    name: str  # the video's name, e.g. "12-30-640x360", "video7", "108"
    file: str  # path relative to the output root, e.g. "batch1/12-30-640x360.mp4"
    split: str  # "train", "val" or "test"
    tasks: tuple[str, ...]  # annotated tasks (train / val); empty for test videos
    test_lists: tuple[str, ...]  # test release lists naming it ("va", "expr", "au"); empty unless test
    fps: int
    size: tuple[int, int]  # (width, height)
    n_frames: int
    sample_rate: int
    channels: int
    persons: tuple[str, ...]  # annotation and crop-folder names: (name,) or (name_left, name_right)
    faceless_start: bool  # the first few frames have no face crop
    unlabelled_runs: bool  # every annotation file of it has -5 / -1 runs (else drawn with ignore_file_p)

    @property
    def seconds(self) -> float:
        return self.n_frames / self.fps


def _pick(rng: np.random.Generator, choices: tuple, shares: list[float]):
    return choices[rng.choice(len(choices), p=np.asarray(shares) / np.sum(shares))]


def split_sizes(videos: int, p: SynthParams) -> dict[str, int]:
    test = max(p.min_test_videos, round(p.test_fraction * videos))
    val = max(p.min_val_videos, round(p.val_fraction * videos))
    if videos - test - val < 2:
        raise ValueError(f"{videos} videos are too few: need at least {test + val + 2} "
                         f"({val} validation, {test} test, 2 train)")
    return {"train": videos - test - val, "val": val, "test": test}


def plan_videos(rng: np.random.Generator, videos: int, seconds: float, p: SynthParams) -> list[VideoPlan]:
    """Plans ``videos`` videos. Train videos come first, then validation, then test (names carry no order).

    Guarantees: every task has train and validation videos, and -5 / -1 runs in both splits; every test list holds at least two videos; both
    frame rates appear; one train video holds two people; one train/validation video is an .avi in batch2; one
    train video starts without a face.
    """
    sizes = split_sizes(videos, p)
    splits = [s for s in SPLITS for _ in range(sizes[s])]
    first = {s: splits.index(s) for s in SPLITS}
    patterns = tuple(tasks for tasks, _ in p.task_patterns)
    shares = [share for _, share in p.task_patterns]

    two_people = first["train"] + 1
    single = [i for i in range(videos) if i != two_people]
    avi = int(rng.choice([i for i in single if splits[i] != "test"]))
    faceless = int(rng.choice([i for i in single if splits[i] == "train"]))

    fps = [int(rng.choice(p.fps_choices)) for _ in range(videos)]
    for i, rate in zip(rng.permutation(videos), p.fps_choices):
        fps[i] = rate
    numbers = rng.choice(np.arange(1, p.max_name_number + 1), size=videos, replace=False)
    styles = [_pick(rng, tuple(s for s, _ in p.name_style_shares), [w for _, w in p.name_style_shares])
              for _ in range(videos)]
    styles[two_people] = "video"  # the two-person videos of Aff-Wild2 are named videoN
    batch1 = set(rng.permutation([i for i in range(videos) if i != avi])[: round(p.batch1_fraction * videos)])

    plans = []
    for i in range(videos):
        size = p.frame_sizes[0] if i == two_people else p.frame_sizes[rng.integers(len(p.frame_sizes))]
        name = {"fps-size": f"{numbers[i]}-{fps[i]}-{size[0]}x{size[1]}", "video": f"video{numbers[i]}",
                "number": f"{numbers[i]}"}[styles[i]]
        split = splits[i]
        pattern = TASKS if i in (first["train"], first["val"], first["test"], first["test"] + 1) else (
            _pick(rng, patterns, shares))
        duration = seconds * rng.uniform(1 - p.duration_jitter, 1 + p.duration_jitter)
        plans.append(VideoPlan(
            index=i, name=name,
            file=f"{'batch1' if i in batch1 else 'batch2'}/{name}{'.avi' if i == avi else '.mp4'}",
            split=split,
            tasks=pattern if split != "test" else (),
            test_lists=pattern if split == "test" else (),
            fps=fps[i], size=tuple(size), n_frames=max(1, round(duration * fps[i])),
            sample_rate=int(rng.choice(p.sample_rates)),
            channels=2 if i == two_people or rng.random() < p.stereo_p else 1,
            persons=(f"{name}_left", f"{name}_right") if i == two_people else (name,),
            faceless_start=i == faceless,
            unlabelled_runs=i in (first["train"], first["val"]),
        ))
    return plans
