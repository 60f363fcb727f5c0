"""The frame manifest: every row's labels come from line (frame + 1) of its file; faces are retained."""

import numpy as np
import pytest

from abaw.data.annotations import AnnotationError, read_task_file
from abaw.data.layout import discover
from abaw.data.manifest import build_manifest, build_mtl_manifest, retained_face_frames
from abaw.tasks import AU_NAMES
from trees import IGNORED_FRAMES, TEST_VIDEOS, VIDEOS, frame_labels, write_tree


@pytest.fixture(scope="module", params=[3, 6, 8])
def layout(request, tmp_path_factory):
    return discover(write_tree(tmp_path_factory.mktemp(f"edition{request.param}"), request.param))


@pytest.mark.parametrize("split", ["train", "val"])
def test_every_label_sits_on_its_frame(layout, split):
    manifest = build_manifest(layout, split)
    expected_videos = {n for n, (s, *_) in VIDEOS.items() if s == split}
    assert set(manifest.videos.index) == expected_videos
    assert len(manifest) == sum(VIDEOS[n][2] for n in expected_videos)
    for row in manifest.frames.itertuples(index=False):
        _, tasks, _, _ = VIDEOS[row.video]
        ignored = row.frame in IGNORED_FRAMES.get(row.video, ())
        (valence, arousal), expr, aus = frame_labels(row.video, row.frame)
        got_aus = tuple(getattr(row, au) for au in AU_NAMES)
        if "va" in tasks and not ignored:
            assert (row.valence, row.arousal) == pytest.approx((valence, arousal), abs=1e-6)
        else:
            assert (row.valence, row.arousal) == (-5, -5)
        assert row.expr == (expr if "expr" in tasks and not ignored else -1)
        assert got_aus == (aus if "au" in tasks and not ignored else (-1,) * 12)


def test_masks_and_task_frames(layout):
    manifest = build_manifest(layout, "train")
    masks = manifest.masks()
    assert masks["va"].shape == (len(manifest), 2) and masks["au"].shape == (len(manifest), 12)
    va_frames = manifest.task_frames("va")
    # 1-30-640x360 (12 frames, 2 ignored) and video2_left (9 frames) carry VA in train.
    assert len(va_frames) == 10 + 9
    assert set(va_frames["video"]) == {"1-30-640x360", "video2_left"}
    assert manifest.videos.at["video2_right", "source"] == "video2"
    assert manifest.videos.at["video2_left", "tasks"] == "va,au"


def test_frames_without_a_face_keep_their_row_and_show_the_last_face(layout):
    manifest = build_manifest(layout, "train")
    video = manifest.frames[manifest.frames["video"] == "1-30-640x360"]
    # Frames 1, 2 and 7 have no crop: 1 and 2 show the first crop (3), 7 shows 6.
    assert video["has_face"].tolist() == [f not in (1, 2, 7) for f in range(1, 13)]
    assert video["face_frame"].tolist() == [3, 3, 3, 4, 5, 6, 6, 8, 9, 10, 11, 12]
    path = manifest.face_path("1-30-640x360", 6)
    assert path is not None and path.name == "00006.jpg" and path.exists()
    black = build_manifest(layout, "train", retention="black")
    video = black.frames[black.frames["video"] == "1-30-640x360"]
    assert video["face_frame"].tolist() == [-1, -1, 3, 4, 5, 6, -1, 8, 9, 10, 11, 12]
    assert black.face_path("1-30-640x360", -1) is None


def test_retention_against_a_plain_loop():
    rng = np.random.default_rng(0)
    crops = np.sort(rng.choice(np.arange(1, 200), size=60, replace=False))
    expected = []
    for frame in range(1, 201):
        earlier = [c for c in crops if c <= frame]
        expected.append(earlier[-1] if earlier else crops[0])
    assert retained_face_frames(200, crops, "last").tolist() == expected
    assert (retained_face_frames(5, np.array([], dtype=np.int64), "last") == -1).all()


def test_test_split_counts_frames_from_the_organisers_files(layout):
    if not layout.test_frame_lists:
        pytest.skip("3rd-edition lists name videos only: test_audio_clips.py counts their frames from videos")
    manifest = build_manifest(layout, "test", tasks=("va", "expr"))
    assert manifest.videos["n_frames"].to_dict() == TEST_VIDEOS
    assert (manifest.frames["valence"] == -5).all() and (manifest.frames["expr"] == -1).all()
    assert manifest.frames["has_face"].all()


def test_mtl_manifest(layout):
    if not layout.mtl_files:
        pytest.skip("the 6th edition had no MTL challenge")
    manifest = build_mtl_manifest(layout, "train")
    assert manifest.kind == "mtl"
    expected = [(n, f) for n, (s, _, count, _) in VIDEOS.items() if s == "train" for f in range(2, count + 1, 3)]
    assert list(zip(manifest.frames["video"], manifest.frames["frame"])) == expected  # duplicate row dropped
    for row in manifest.frames.itertuples(index=False):
        (valence, arousal), expr, aus = frame_labels(row.video, row.frame)
        assert (row.valence, row.arousal, row.expr) == pytest.approx((valence, arousal, expr), abs=1e-6)
        assert tuple(getattr(row, au) for au in AU_NAMES) == aus


@pytest.mark.parametrize("content, message", [
    ("valence,arousal\n0.1,0.2\n", None),
    ("valance,arousal\n0.1,0.2\n", r":1: header is 'valance,arousal'"),
    ("valence,arousal\n0.1,0.2\n0.3,x\n", r":3: non-numeric value"),
    ("valence,arousal\n0.1,0.2\n0.3\n", r":3: expected 2 comma-separated values"),
    ("valence,arousal\n0.1,0.2\n0.3,1.5\n", r":3: valence/arousal must lie in \[-1, 1\]"),
    ("valence,arousal\n0.1,0.2\n\n0.3,0.1\n", r":3: expected 2 comma-separated values"),
])
def test_bad_annotation_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "video1.txt"
    path.write_text(content)
    if message is None:
        assert read_task_file(path, "va").shape == (1, 2)
    else:
        with pytest.raises(AnnotationError, match=str(path).replace("\\", "\\\\") + message):
            read_task_file(path, "va")


def test_expr_and_au_values_are_checked(tmp_path):
    expr = tmp_path / "e.txt"
    expr.write_text("Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n3\n8\n")
    with pytest.raises(AnnotationError, match=r"e.txt:3: an expression is an integer 0..7 or -1"):
        read_task_file(expr, "expr")
    au = tmp_path / "a.txt"
    au.write_text(",".join(AU_NAMES) + "\n" + ",".join(["0"] * 11 + ["2"]) + "\n")
    with pytest.raises(AnnotationError, match=r"a.txt:2: an AU is 0, 1 or -1"):
        read_task_file(au, "au")
