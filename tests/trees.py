"""Small Aff-Wild2 trees written by hand, in the folder names of the 3rd, 6th and 8th editions.

Labels are functions of the frame number (``frame_labels``), so a test can check every manifest row against
the line of the file it came from without trusting the reader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from abaw.tasks import ANNOTATION_HEADER, MTL_HEADER

EDITIONS = {
    3: {"annotations": "3rd ABAW Annotations/Third ABAW Annotations", "expr": "EXPR_Classification_Challenge",
        "mtl": ("train_set.txt", "validation_set.txt"), "extra_videos": None, "extra_crops": None},
    6: {"annotations": "6th ABAW Annotations", "expr": "EXPR_Recognition_Challenge",
        "mtl": None, "extra_videos": "new_vids", "extra_crops": "cropped_aligned_new_50_vids"},
    8: {"annotations": "8th_ABAW_Annotations", "expr": "EXPR_Recognition_Challenge",
        "mtl": ("training_set_annotations.txt", "validation_set_annotations.txt"),
        "extra_videos": None, "extra_crops": None},
}
TASK_FOLDERS = {"va": "VA_Estimation_Challenge", "au": "AU_Detection_Challenge"}

# name -> (split, tasks, n_frames, frames without a crop)
VIDEOS = {
    "1-30-640x360": ("train", ("va", "expr", "au"), 12, (1, 2, 7)),
    "video2_left": ("train", ("va", "au"), 9, (5,)),
    "video2_right": ("train", ("expr",), 9, ()),
    "108": ("val", ("va", "expr"), 10, (10,)),
    "3-25-480x270": ("val", ("au",), 8, ()),
}
TEST_VIDEOS = {"7-25-640x360": 6, "video9": 5}
IGNORED_FRAMES = {"1-30-640x360": (4, 5), "108": (1,)}  # lines written as -5 / -1


def frame_labels(name: str, frame: int) -> tuple[tuple[float, float], int, tuple[int, ...]]:
    """The labels a tree holds for a frame: distinct per video and frame, so misalignment shows."""
    seed = sum(map(ord, name))
    valence = round(((seed * 7 + frame * 13) % 200) / 100 - 1, 2)
    arousal = round(((seed * 3 + frame * 29) % 200) / 100 - 1, 2)
    expr = (seed + frame) % 8
    aus = tuple((seed >> k ^ frame >> (k % 3)) & 1 for k in range(12))
    return (valence, arousal), expr, aus


def write_tree(root: Path, edition: int) -> Path:
    """Write a small tree of ``edition``'s layout under ``root`` and return ``root``."""
    spec = EDITIONS[edition]
    annotations = root / spec["annotations"]
    folders = {**TASK_FOLDERS, "expr": spec["expr"]}
    for name, (split, tasks, n_frames, no_face) in VIDEOS.items():
        split_folder = "Train_Set" if split == "train" else "Validation_Set"
        for task in tasks:
            lines = [ANNOTATION_HEADER[task]]
            for frame in range(1, n_frames + 1):
                lines.append(_label_line(name, frame, task, frame in IGNORED_FRAMES.get(name, ())))
            path = annotations / folders[task] / split_folder / f"{name}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")
        crops = root / "cropped_aligned" / name
        write_crops(crops, [f for f in range(1, n_frames + 1) if f not in no_face])
    for name, n_frames in TEST_VIDEOS.items():
        write_crops(root / (spec["extra_crops"] or "cropped_aligned") / name, range(1, n_frames + 1))

    for stem, folder in (("1-30-640x360", "batch1"), ("video2", "batch1"), ("108", "batch2"),
                         ("3-25-480x270", "batch2"), ("video9", "batch2"),
                         ("7-25-640x360", spec["extra_videos"] or "batch2")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f"{stem}{'.avi' if stem == '108' else '.mp4'}").write_bytes(b"")

    if spec["mtl"]:
        for filename, split in zip(spec["mtl"], ("train", "val")):
            rows = [MTL_HEADER]
            for name, (video_split, _, n_frames, no_face) in VIDEOS.items():
                if video_split == split:
                    for frame in range(2, n_frames + 1, 3):
                        (v, a), e, aus = frame_labels(name, frame)
                        rows.append(f"{name}/{frame:05d}.jpg,{v},{a},{e}," + ",".join(map(str, aus)))
            rows.append(rows[1])  # the organisers' files hold duplicate rows
            (annotations / "MTL_Challenge").mkdir(parents=True, exist_ok=True)
            (annotations / "MTL_Challenge" / filename).write_text("\n".join(rows) + "\n")
    write_test_side(root, edition)
    return root


def write_test_side(root: Path, edition: int) -> None:
    """Release lists for the 3rd edition; sample (6th) or example (8th) files listing every frame later."""
    order = ["video9", "7-25-640x360"]  # not alphabetical: the organisers' order must be kept
    folder = root / "test"
    folder.mkdir(exist_ok=True)
    if edition == 3:
        for title in ("Valence_Arousal_Estimation_Challenge", "Expression_Classification_Challenge"):
            (folder / f"{title}_test_set_release.txt").write_text("\n".join(order) + "\n")
        return
    word = "sample" if edition == 6 else "example"
    for task in ("VA", "EXPR"):
        header = "image_location," + ANNOTATION_HEADER[task.lower()]
        rows = [f"{name}/{f:05d}.jpg," for name in order for f in range(1, TEST_VIDEOS[name] + 1)]
        (folder / f"CVPR_{edition}th_ABAW_{task}_test_set_{word}.txt").write_text("\n".join([header, *rows]) + "\n")


def write_crops(folder: Path, frames, size: int = 112) -> None:
    """Tiny real JPEG crops whose mean grey level encodes the frame number."""
    folder.mkdir(parents=True, exist_ok=True)
    for frame in frames:
        level = (frame * 20) % 256
        Image.fromarray(np.full((size, size, 3), level, np.uint8)).save(folder / f"{frame:05d}.jpg", quality=95)


def _label_line(name: str, frame: int, task: str, ignored: bool) -> str:
    (valence, arousal), expr, aus = frame_labels(name, frame)
    if task == "va":
        return "-5,-5" if ignored else f"{valence},{arousal}"
    if task == "expr":
        return "-1" if ignored else str(expr)
    return ",".join(["-1"] * 12) if ignored else ",".join(map(str, aus))
