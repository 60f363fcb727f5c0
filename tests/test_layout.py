"""Layout discovery across the editions' folder names, and the errors that say what is missing."""

import pytest

from abaw.data.layout import LayoutError, discover
from trees import EDITIONS, write_tree


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_discovers_each_edition(tmp_path, edition):
    root = write_tree(tmp_path, edition)
    layout = discover(root)

    assert layout.annotations == root / EDITIONS[edition]["annotations"]
    assert set(layout.task_dirs) == {"va", "expr", "au"}
    assert all(set(splits) == {"train", "val"} for splits in layout.task_dirs.values())
    assert layout.task_dirs["expr"]["train"].parent.name == EDITIONS[edition]["expr"]
    assert set(layout.mtl_files) == ({"train", "val"} if EDITIONS[edition]["mtl"] else set())
    # Videos from every folder, .avi included; extra crop folders of later editions merged.
    assert set(layout.videos) == {"1-30-640x360", "video2", "108", "3-25-480x270", "video9", "7-25-640x360"}
    assert layout.videos["108"].suffix == ".avi"
    assert {"video2_left", "video2_right", "7-25-640x360", "video9"} <= set(layout.crop_folders)
    if edition == 3:
        assert set(layout.test_video_lists) == {"va", "expr"} and not layout.test_frame_lists
    else:
        assert set(layout.test_frame_lists) == {"va", "expr"} and not layout.test_video_lists


def test_left_and_right_share_their_video(tmp_path):
    layout = discover(write_tree(tmp_path, 8))
    assert layout.video_file("video2_left") == layout.video_file("video2_right") == layout.videos["video2"]
    with pytest.raises(LayoutError, match="no video file for 'video77_left'"):
        layout.video_file("video77_left")


def test_missing_parts_are_listed_with_what_was_found(tmp_path):
    (tmp_path / "batch1").mkdir()
    (tmp_path / "batch1" / "1-30-640x360.mp4").write_bytes(b"")
    layout = discover(tmp_path)
    with pytest.raises(LayoutError) as error:
        layout.require("annotations", "crops", "test")
    message = str(error.value)
    assert "an annotations folder" in message and "cropped_aligned" in message and "test-set lists" in message
    assert "videos: 1 in batch1" in message


def test_two_editions_side_by_side_must_be_chosen(tmp_path):
    write_tree(tmp_path / "a", 3)
    write_tree(tmp_path / "b", 8)
    with pytest.raises(LayoutError, match="several annotations folders"):
        discover(tmp_path)
    chosen = tmp_path / "b" / "8th_ABAW_Annotations"
    assert discover(tmp_path, annotations=chosen).annotations == chosen


def test_not_a_directory(tmp_path):
    with pytest.raises(LayoutError, match="is not a directory"):
        discover(tmp_path / "nowhere")
