"""``abaw-data``: what a data root holds, and the frame manifest CSV (a contract read by tools outside the
project), checked against the annotation files read line by line, the crop files on disk and PyAV's frame rates."""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import av
import pytest

from abaw.datasets.cli import main as data_main
from abaw.tasks import AU_NAMES
from trees import EDITIONS, TEST_VIDEOS, write_tree

HEADER = ["dataset", "split", "video", "frame", "time", "valence", "arousal", "expr", *AU_NAMES, "face"]
FIELDS = {"va": ["valence", "arousal"], "expr": ["expr"], "au": list(AU_NAMES)}
NO_LABEL = {"va": "-5", "expr": "-1", "au": "-1"}
SPLIT_FOLDERS = {"Train_Set": "train", "Validation_Set": "val"}
TASK_OF_FOLDER = {"VA_Estimation_Challenge": "va", "EXPR_Recognition_Challenge": "expr",
                  "EXPR_Classification_Challenge": "expr", "AU_Detection_Challenge": "au"}


def annotation_lines(root: Path) -> dict[tuple[str, str], dict[str, list[list[str]]]]:
    """(split, video) -> task -> the fields of each frame line, read from the files as a user would."""
    found: dict = {}
    for path in root.rglob("*.txt"):
        task, split = TASK_OF_FOLDER.get(path.parent.parent.name), SPLIT_FOLDERS.get(path.parent.name)
        if task and split:
            lines = path.read_text().splitlines()[1:]
            found.setdefault((split, path.stem), {})[task] = [line.split(",") for line in lines]
    return found


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


def check_against_files(root: Path, rows: list[dict[str, str]], fps_of) -> None:
    """Every row against its annotation line, its crop file and its video's frame rate; every frame once."""
    labels = annotation_lines(root)
    expected = {(split, video, frame) for (split, video), tasks in labels.items()
                for frame in range(1, max(map(len, tasks.values())) + 1)}
    assert [(r["split"], r["video"], int(r["frame"])) for r in rows if r["split"] != "test"] == sorted(
        expected, key=lambda k: (["train", "val"].index(k[0]), k[1], k[2]))
    for row in rows:
        assert row["dataset"] == "affwild2"
        frame = int(row["frame"])
        for task, fields in FIELDS.items():
            lines = labels.get((row["split"], row["video"]), {}).get(task)
            want = lines[frame - 1] if lines is not None and frame <= len(lines) else [NO_LABEL[task]] * len(fields)
            # float32 in the manifest: the shortest form that reads back as the same float32
            assert [float(row[f]) for f in fields] == pytest.approx([float(v) for v in want], abs=1e-7), (row, task)
        crop = root / "cropped_aligned" / row["video"] / f"{frame:05d}.jpg"
        assert row["face"] == (str(crop) if crop.is_file() else ""), row
        fps = fps_of(row["video"])
        if fps is None:
            assert row["time"] == ""
        else:
            assert float(row["time"]) == pytest.approx((frame - 1) / fps, abs=1e-6)


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_the_manifest_of_a_hand_written_tree_matches_its_files_line_by_line(tmp_path, edition, capsys):
    root = write_tree(tmp_path / "tree", edition)
    out = tmp_path / "frames.csv"
    assert data_main(["--data-root", str(root), "--manifest", str(out)]) == 0
    header, rows = read_csv(out)
    assert header == HEADER
    # The tree's video files are empty: the frame rate is the one the name carries ("1-30-640x360"), or none.
    rates = {"1-30-640x360": 30, "3-25-480x270": 25}
    check_against_files(root, rows, rates.get)
    assert f"wrote {len(rows)} frames to {out}" in capsys.readouterr().out


def test_the_summary_counts_what_the_files_hold(tmp_path, capsys):
    root = write_tree(tmp_path / "tree", 8)
    assert data_main(["--data-root", str(root)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "dataset: affwild2 (detected)"
    labels = annotation_lines(root)
    for split in ("train", "val"):
        videos = [v for (s, v) in labels if s == split]
        n_frames = {v: max(map(len, labels[(split, v)].values())) for v in videos}
        at = printed.index(f"{split}: {len(videos)} videos, {len(videos)} people, {sum(n_frames.values())} frames")
        lines = printed[at + 1: at + 6]
        for task, line in zip(("va", "expr", "au"), lines):
            files = [v for v in videos if task in labels[(split, v)]]
            labelled = sum(1 for v in files for fields in labels[(split, v)][task]
                           if any(x != NO_LABEL[task] for x in fields))
            assert line == (f"  {task}: {len(files)} files, {len(files)} people, "
                            f"{sum(n_frames[v] for v in files)} frames, {labelled} labelled frames")
        crops = sum(1 for v in videos for f in range(1, n_frames[v] + 1)
                    if (root / "cropped_aligned" / v / f"{f:05d}.jpg").is_file())
        assert lines[3] == f"  faces: {len(videos)} of {len(videos)} videos, {crops} of {sum(n_frames.values())} " \
                           f"frames with a crop"
        assert lines[4] == f"  audio: {len(videos)} of {len(videos)} videos"


def test_missing_streams_and_splits_are_listed(tmp_path, capsys):
    root = write_tree(tmp_path / "tree", 8)
    (root / "batch2" / "108.avi").unlink()
    for crop in (root / "cropped_aligned" / "3-25-480x270").iterdir():
        crop.unlink()
    (root / "cropped_aligned" / "3-25-480x270").rmdir()
    assert data_main(["--data-root", str(root), "--splits", "val", "test", "nosuch"]) == 0
    printed = capsys.readouterr().out
    assert "  faces: 1 of 2 videos, 9 of 18 frames with a crop; missing for 3-25-480x270" in printed
    assert "  audio: 1 of 2 videos; missing for 108" in printed
    assert f"test: {len(TEST_VIDEOS)} videos, {len(TEST_VIDEOS)} people, {sum(TEST_VIDEOS.values())} frames" in printed
    assert "nosuch: not found: " in printed


def test_the_synthetic_set_gets_its_frame_times_from_its_videos(synth_root, tmp_path):
    out = tmp_path / "frames.csv"
    assert data_main(["--data-root", str(synth_root), "--manifest", str(out)]) == 0
    header, rows = read_csv(out)
    assert header == HEADER
    files = {p.stem: p for p in synth_root.rglob("*") if p.suffix in (".mp4", ".avi")}

    def fps_of(video: str) -> float:
        stem = video.removesuffix("_left").removesuffix("_right")
        with av.open(str(files[stem])) as container:
            return float(Fraction(container.streams.video[0].average_rate))

    check_against_files(synth_root, rows, fps_of)
    assert {r["split"] for r in rows} == {"train", "val"} and any(r["face"] == "" for r in rows)


def test_bad_annotation_is_one_error_line_naming_file_and_line(tmp_path, capsys):
    root = write_tree(tmp_path / "tree", 8)
    path = next(root.rglob("VA_Estimation_Challenge/Validation_Set/108.txt"))
    lines = path.read_text().splitlines()
    lines[3] = "0.5,abc"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "frames.csv"
    assert data_main(["--data-root", str(root), "--manifest", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith(f"abaw-data: {path}:4: ") and not out.exists()


def test_a_root_of_no_dataset_is_one_error_line_saying_what_each_expects(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    assert data_main(["--data-root", str(tmp_path), "--manifest", str(tmp_path / "m.csv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"abaw-data: {tmp_path} holds none of the known datasets; each expects:")
    assert "  affwild2: " in err and "Traceback" not in err and not (tmp_path / "m.csv").exists()


def test_a_named_dataset_that_is_absent_says_what_is_missing(tmp_path, capsys):
    root = write_tree(tmp_path / "tree", 8)
    assert data_main(["--data-root", str(root / "batch1"), "--dataset", "affwild2", "--manifest",
                      str(tmp_path / "m.csv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"abaw-data: {root / 'batch1'}: no split of affwild2 to write")
    assert "Traceback" not in err
