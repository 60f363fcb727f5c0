"""abaw-synth: the organisers' layout, file formats, determinism, and that the signal reaches pixels and samples.

Frame counts are taken by decoding the videos with PyAV, independently of the generator's own bookkeeping.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from abaw.data.synthetic import SynthParams, generate, main
from abaw.tasks import (
    ANNOTATION_HEADER, AU_NAMES, EXPR_CLASSES, FACE_CROP_SIZE, MTL_HEADER, SUBMISSION_HEADER, frame_image_name,
    source_video_name,
)

ANNOTATIONS = "7th ABAW Annotations"
CHALLENGES = {"va": "VA_Estimation_Challenge", "expr": "EXPR_Recognition_Challenge", "au": "AU_Detection_Challenge"}
SPLITS = ("Train_Set", "Validation_Set")
RELEASE = {
    "va": "Valence_Arousal_Estimation_Challenge_test_set_release.txt",
    "expr": "Expression_Recognition_Challenge_test_set_release.txt",
    "au": "Action_Unit_Detection_Challenge_test_set_release.txt",
}
SAMPLE = {
    "va": "CVPR_5th_ABAW_VA_test_set_sample.txt",
    "expr": "CVPR_5th_ABAW_EXPR_test_set_sample.txt",
    "au": "CVPR_5th_ABAW_AU_test_set_sample.txt",
}
TINY = {"seed": 0, "videos": 6, "seconds": 3.0}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("a") / "synth", **TINY, progress=False)


@pytest.fixture(scope="module")
def longer(tmp_path_factory) -> Path:
    """Long enough for valence and arousal to move within each video."""
    return generate(tmp_path_factory.mktemp("c") / "synth", seed=0, videos=6, seconds=20.0, progress=False)


def video_files(root: Path) -> dict[str, Path]:
    return {p.stem: p for batch in ("batch1", "batch2") for p in (root / batch).iterdir()}


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.fixture(scope="module")
def frame_counts(tiny) -> dict[str, int]:
    return {name: decoded_frames(path) for name, path in video_files(tiny).items()}


def annotation_files(root: Path, task: str) -> list[Path]:
    return sorted(p for split in SPLITS for p in (root / ANNOTATIONS / CHALLENGES[task] / split).glob("*.txt"))


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def rank_correlation(x, y) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def test_layout(tiny):
    files = video_files(tiny)
    assert len(files) == TINY["videos"]
    assert all(p.suffix == ".mp4" for p in (tiny / "batch1").iterdir())
    assert sorted(p.suffix for p in (tiny / "batch2").iterdir()).count(".avi") == 1
    assert abs(len(list((tiny / "batch1").iterdir())) - len(list((tiny / "batch2").iterdir()))) <= 1
    for task in CHALLENGES:
        for split in SPLITS:
            assert list((tiny / ANNOTATIONS / CHALLENGES[task] / split).glob("*.txt")), (task, split)
    for name in ("training_set_annotations.txt", "validation_set_annotations.txt"):
        assert (tiny / ANNOTATIONS / "MTL_Challenge" / name).is_file()
    expected = {*RELEASE.values(), *SAMPLE.values(), "MTL_Challenge_test_set_release.txt"}
    assert {p.name for p in (tiny / "test_set").iterdir()} == expected
    assert len(read_lines(tiny / "README.md")) == 2
    manifest = json.loads((tiny / "synthetic.json").read_text())
    assert manifest["seed"] == 0 and len(manifest["videos"]) == TINY["videos"]
    assert {"name", "file", "split", "tasks", "fps", "size", "n_frames", "sample_rate"} <= set(manifest["videos"][0])


def test_video_names_fps_sizes_and_audio(tiny):
    rates = set()
    for name, path in video_files(tiny).items():
        assert re.fullmatch(r"\d+-\d+-\d+x\d+|video\d+|\d+", name), name
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            assert container.streams.audio, f"{path.name} has no audio"
            fps = round(float(video.average_rate))
            rates.add(fps)
            if "-" in name:
                _, name_fps, size = name.split("-")
                assert int(name_fps) == fps and size == f"{video.width}x{video.height}"
            assert video.width <= 640 and video.height <= 360
        assert (path.suffix == ".avi") == (video.codec_context.name == "mpeg4")
    assert {25, 30} <= rates


def test_annotation_files_have_one_line_per_decoded_frame(tiny, frame_counts):
    seen_ignored = Counter()
    for task in CHALLENGES:
        for path in annotation_files(tiny, task):
            lines = read_lines(path)
            assert lines[0] == ANNOTATION_HEADER[task], path
            rows = [line.split(",") for line in lines[1:]]
            assert len(rows) == frame_counts[source_video_name(path.stem)], path
            for row in rows:
                if task == "va":
                    v, a = map(float, row)
                    assert (v, a) == (-5, -5) or (-1 <= v <= 1 and -1 <= a <= 1)
                    seen_ignored[task] += v == -5
                elif task == "expr":
                    assert len(row) == 1 and int(row[0]) in range(-1, len(EXPR_CLASSES))
                    seen_ignored[task] += row[0] == "-1"
                else:
                    assert len(row) == len(AU_NAMES)
                    assert set(row) <= {"0", "1"} or set(row) == {"-1"}
                    seen_ignored[task] += row[0] == "-1"
    assert sum(seen_ignored.values()) > 0, "no unlabelled (-5 / -1) runs anywhere"


def test_two_people_share_one_video(tiny):
    names = {p.stem for task in CHALLENGES for p in annotation_files(tiny, task)}
    crops = {p.name for p in (tiny / "cropped_aligned").iterdir()}
    lefts = [n for n in crops if n.endswith("_left")]
    assert len(lefts) == 1
    video = source_video_name(lefts[0])
    assert {f"{video}_left", f"{video}_right"} <= crops
    assert video in video_files(tiny) and video not in crops
    assert {f"{video}_left", f"{video}_right"} <= names and video not in names


def test_face_crops_and_missing_runs(tiny, frame_counts):
    missing, total, starts_late, long_gap = 0, 0, 0, 0
    for folder in (tiny / "cropped_aligned").iterdir():
        n = frame_counts[source_video_name(folder.name)]
        present = np.zeros(n, dtype=bool)
        for jpg in folder.iterdir():
            assert re.fullmatch(r"\d{5}\.jpg", jpg.name)
            present[int(jpg.stem) - 1] = True
        with Image.open(next(folder.iterdir())) as image:
            assert image.size == (FACE_CROP_SIZE, FACE_CROP_SIZE) and image.mode == "RGB" and image.format == "JPEG"
        gaps = np.diff(np.flatnonzero(np.diff(np.r_[1, present.astype(int), 1])))[::2]  # lengths of absent runs
        long_gap += int(gaps.size > 0 and gaps.max() >= 5)
        starts_late += not present[0]
        missing, total = missing + (~present).sum(), total + n
    assert long_gap >= 1 and starts_late >= 1
    assert 0.02 < missing / total < 0.2


def test_test_videos_are_listed_but_not_annotated(tiny, frame_counts):
    manifest = json.loads((tiny / "synthetic.json").read_text())
    tests = {p for v in manifest["videos"] if v["split"] == "test" for p in v["persons"]}
    annotated = {p.stem for task in CHALLENGES for p in annotation_files(tiny, task)}
    listed = {name for c in RELEASE for name in read_lines(tiny / "test_set" / RELEASE[c])}
    assert tests and not tests & annotated and listed == tests
    for c in RELEASE:
        order = read_lines(tiny / "test_set" / RELEASE[c])
        assert len(order) >= 2 and order != sorted(order)
        lines = read_lines(tiny / "test_set" / SAMPLE[c])
        assert lines[0] == SUBMISSION_HEADER[c]
        expected = [f"{name}/{frame_image_name(f)}," for name in order
                    for f in range(1, frame_counts[source_video_name(name)] + 1)]
        assert lines[1:] == expected


def test_mtl_files(tiny):
    for name in ("training_set_annotations.txt", "validation_set_annotations.txt"):
        lines = read_lines(tiny / ANNOTATIONS / "MTL_Challenge" / name)
        assert lines[0] == MTL_HEADER
        for line in lines[1:]:
            fields = line.split(",")
            assert len(fields) == 16
            assert (tiny / "cropped_aligned" / fields[0]).is_file(), fields[0]
        duplicates = sum(count - 1 for count in Counter(lines[1:]).values())
        assert 2 <= duplicates <= 5
    rows = read_lines(tiny / "test_set" / "MTL_Challenge_test_set_release.txt")
    assert rows and all(row.endswith(",") and (tiny / "cropped_aligned" / row[:-1]).is_file() for row in rows)


def test_mtl_labels_agree_with_the_task_files(tiny):
    """Where an MTL row and a task file both label a frame, they agree, for every task."""
    files = {task: {path.stem: read_lines(path)[1:] for path in annotation_files(tiny, task)} for task in CHALLENGES}
    ignored = {"va": "-5,-5", "expr": "-1", "au": ",".join(["-1"] * 12)}
    checked = Counter()
    mtl = ANNOTATIONS + "/MTL_Challenge/"
    for name in ("training_set_annotations.txt", "validation_set_annotations.txt"):
        for line in read_lines(tiny / mtl / name)[1:]:
            image, *fields = line.split(",")
            video, frame = image.split("/")
            row = int(frame[:5]) - 1
            mtl_values = {"va": ",".join(fields[:2]), "expr": fields[2], "au": ",".join(fields[3:])}
            for task, lines in files.items():
                if video in lines and ignored[task] not in (lines[video][row], mtl_values[task]):
                    assert lines[video][row] == mtl_values[task], (task, image)
                    checked[task] += 1
    assert checked["expr"] > 0 and checked["au"] > 0


def test_same_seed_same_bytes_other_seed_differs(tiny, tmp_path, capsys):
    out = tmp_path / "synth"  # same folder name as the fixture: README.md names it
    assert main([str(out), "--seed", "0", "--videos", "6", "--seconds", "3", "--workers", "1"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert tree_digest(out) == tree_digest(tiny)  # one worker or two: the same bytes
    assert main([str(out), "--seed", "1", "--videos", "6", "--seconds", "3"]) == 2  # not empty
    assert main([str(out), "--seed", "1", "--videos", "6", "--seconds", "3", "--overwrite"]) == 0
    other = tree_digest(out)
    assert other != tree_digest(tiny)
    assert other["test_set/CVPR_5th_ABAW_VA_test_set_sample.txt"] != tree_digest(tiny)[
        "test_set/CVPR_5th_ABAW_VA_test_set_sample.txt"]


def test_overwrite_never_deletes_foreign_folders(tmp_path):
    keep = tmp_path / "mine.txt"
    keep.write_text("precious")
    assert main([str(tmp_path), "--videos", "6", "--seconds", "1", "--overwrite"]) == 2
    assert keep.read_text() == "precious"


def lip_curvature(crops: np.ndarray) -> np.ndarray:
    """Bend of the lip line per crop (positive: corners up), insensitive to where the mouth sits in the crop.

    Lips and mouth are redder than skin whatever the skin tone or light: in each column of the mouth region the
    centroid row of that redness traces the lip line; its fitted parabola's curvature is the bend.
    """
    x = crops[:, 70:99, 40:72].astype(np.float32) + 1
    redness = np.log(x[..., 0]) - np.log(x[..., 1])
    weight = np.clip(redness - np.median(redness, axis=(1, 2), keepdims=True) - 0.15, 0, None)
    mass = weight.sum(1)
    centre_row = (weight * np.arange(weight.shape[1])[None, :, None]).sum(1) / np.maximum(mass, 1e-6)
    cols = np.arange(weight.shape[2]) - weight.shape[2] / 2
    bends = []
    for rows, m in zip(centre_row, mass):
        keep = m > 0.3 * m.max()
        bends.append(-np.polyfit(cols[keep], rows[keep], 2)[0] if keep.sum() > 4 else np.nan)
    return np.array(bends)


def latent(root: Path) -> dict[str, np.ndarray]:
    """The generator's latent (valence, arousal) per annotation name and frame: what the face and voice show
    (the annotations are the raters' late, noisy gold standard of it)."""
    with np.load(root / "latent_truth.npz") as data:
        return {name: data[name] for name in data.files}


def test_valence_bends_the_mouth(longer):
    bend, valence = [], []
    truth = latent(longer)
    for path in annotation_files(longer, "va"):
        v = np.where(np.array([line.split(",")[0] == "-5" for line in read_lines(path)[1:]]), -5,
                     truth[path.stem][:, 0])
        frames = [f for f in range(len(v)) if v[f] != -5 and (longer / "cropped_aligned" / path.stem /
                                                               frame_image_name(f + 1)).is_file()]
        crops = np.stack([np.asarray(Image.open(longer / "cropped_aligned" / path.stem / frame_image_name(f + 1)))
                          for f in frames])
        b = lip_curvature(crops)
        ok = ~np.isnan(b)
        bend += list((b[ok] - b[ok].mean()) / b[ok].std())  # within person: identities differ in mouth shape
        valence += list(v[frames][ok] - v[frames][ok].mean())
    assert len(bend) > 500
    assert np.corrcoef(bend, valence)[0, 1] > 0.5


def test_arousal_is_audible(longer):
    manifest = json.loads((longer / "synthetic.json").read_text())
    loudness, arousal = [], []
    for video in manifest["videos"]:
        path = longer / ANNOTATIONS / CHALLENGES["va"]
        files = list(path.glob(f"*/{video['name']}.txt"))
        if len(video["persons"]) > 1 or not files:
            continue
        a = np.where(np.array([line.split(",")[1] == "-5" for line in read_lines(files[0])[1:]]), -5,
                     latent(longer)[video["name"]][:, 1])
        with av.open(str(longer / video["file"])) as container:
            rate = container.streams.audio[0].rate
            audio = np.concatenate([frame.to_ndarray().mean(0) for frame in container.decode(audio=0)])
        fps = video["fps"]
        db, mean_a = [], []
        for second in range(len(a) // fps):
            window = a[second * fps : (second + 1) * fps]
            if (window == -5).any():
                continue
            samples = audio[second * rate : (second + 1) * rate]
            db.append(10 * np.log10(np.mean(samples**2)))
            mean_a.append(window.mean())
        db, mean_a = np.array(db), np.array(mean_a)
        loudness += list((db - db.mean()) / db.std())  # within video: recording gain and noise differ
        arousal += list(mean_a - mean_a.mean())
    assert len(loudness) >= 30
    assert rank_correlation(loudness, arousal) > 0.5


def test_held_faces_keep_the_layout_and_link_each_run_to_one_file(tiny, frame_counts, tmp_path):
    """hold_frames=5: the same files, names, annotations and frame counts as the unheld set of the same seed;
    the crops of each run of 5 frames are one file (hard links), and runs differ."""
    from abaw.data.synthetic import SynthParams

    held = generate(tmp_path / "held", **TINY, progress=False, params=SynthParams(hold_frames=5))
    names = {p.relative_to(tiny) for p in tiny.rglob("*") if p.is_file() and p.name != "synthetic.json"}
    assert names == {p.relative_to(held) for p in held.rglob("*") if p.is_file() and p.name != "synthetic.json"}
    for path in annotation_files(tiny, "va") + annotation_files(tiny, "au"):
        assert read_lines(path) == read_lines(held / path.relative_to(tiny))
    assert {name: decoded_frames(path) for name, path in video_files(held).items()} == frame_counts
    for folder in (held / "cropped_aligned").iterdir():
        runs: dict[int, set[int]] = {}
        for crop in folder.glob("*.jpg"):
            runs.setdefault((int(crop.stem) - 1) // 5, set()).add(crop.stat().st_ino)
        assert all(len(inodes) == 1 for inodes in runs.values())
        assert len({inode for inodes in runs.values() for inode in inodes}) == len(runs) > 1


def test_labels_are_the_raters_late_gold_standard(longer):
    """The annotated VA follows the latent state 2-4 s late: it matches the latent of 3 s earlier better than
    the latent of the same frame, and no better than the latent itself allows (raters disagree)."""
    manifest = json.loads((longer / "synthetic.json").read_text())
    truth = latent(longer)
    now, late, differences = [], [], []
    for video in manifest["videos"]:
        for path in (longer / ANNOTATIONS / CHALLENGES["va"]).glob(f"*/{video['name']}.txt"):
            labels = np.array([[float(x) for x in line.split(",")] for line in read_lines(path)[1:]])
            lag = 3 * video["fps"]
            ok = (labels[lag:] != -5).all(1)
            for dim in range(2):
                now.append(np.corrcoef(labels[lag:, dim][ok], truth[path.stem][lag:, dim][ok])[0, 1])
                late.append(np.corrcoef(labels[lag:, dim][ok], truth[path.stem][:-lag, dim][ok])[0, 1])
            differences.append(np.abs(labels[lag:][ok] - truth[path.stem][:-lag][ok]).max())
    assert len(now) >= 4
    assert np.mean(late) > np.mean(now) + 0.05 and np.mean(late) > 0.5
    assert min(differences) > 0.05  # not the latent itself, even shifted: raters disagree


def test_rated_is_the_mean_of_late_raters():
    from abaw.data.synthetic.latent import rated

    signal = np.sin(np.linspace(0, 20, 1000))
    p = SynthParams(raters=1, rater_lag_s=(0.5, 0.5), rater_gain=(1.0, 1.0), rater_offset_std=0.0,
                    rater_noise_std=0.0)
    expected = np.concatenate([np.full(50, signal[0]), signal[:-50]])  # 0.5 s at 100 Hz
    np.testing.assert_allclose(rated(np.random.default_rng(0), signal, p), expected, atol=1e-12)
    many = SynthParams(raters=4, rater_noise_std=0.0, rater_offset_std=0.0, rater_gain=(1.0, 1.0))
    gold = rated(np.random.default_rng(0), signal, many)
    assert np.abs(gold).max() <= 1.0
    shifts = [np.corrcoef(gold[400:], signal[400 - k:1000 - k])[0, 1] for k in range(0, 400, 10)]
    assert 200 <= 10 * int(np.argmax(shifts)) <= 400  # best matched 2-4 s late


def test_arousal_widens_the_eyes_and_raises_the_brows():
    """Rendered with one identity and nothing else changed, an aroused face shows more of its eyes (sclera) and
    its brows higher than a calm one."""
    from abaw.data.synthetic.face import FaceRenderer, FaceState, random_identity

    ident = random_identity(np.random.default_rng(3))
    state = FaceState(valence=np.zeros(2), arousal=np.array([-1.0, 1.0]), aus=np.zeros((2, 12)), blink=np.ones(2),
                      gaze=np.zeros((2, 2)), jitter=np.zeros((2, 4)), light=np.array([[1.0, 0, 0]] * 2))
    rgb, _ = FaceRenderer(SynthParams()).render(ident, state, np.random.default_rng(0), noise_std=0.0)
    grey = rgb.astype(np.float32).mean(-1)
    sclera = (grey[:, 25:60] > 215).sum(axis=(1, 2))  # the eye band: near-white pixels
    assert sclera[1] > 1.2 * sclera[0]
    # Above the eyes, the pixels the brows moved to (darker when aroused) lie higher than those they left.
    change = grey[1, 15:37] - grey[0, 15:37]
    rows = np.arange(15, 37)[:, None] * np.ones_like(change)
    assert (change < -30).sum() > 10 and rows[change < -30].mean() < rows[change > 30].mean()
