"""The dataset registry (abaw.datasets): which dataset a data root holds, and what it says when it holds none."""

import pytest

from abaw.data.layout import LayoutError
from abaw.datasets import DATASETS, dataset_for, open_dataset
from trees import write_tree


@pytest.mark.parametrize("edition", [3, 6, 8])
def test_an_affwild2_tree_of_any_edition_is_detected(tmp_path, edition):
    kind, layout = open_dataset(write_tree(tmp_path, edition))
    assert kind.name == "affwild2" and layout.root == tmp_path
    assert set(layout.task_dirs) == {"va", "expr", "au"}


def test_a_root_of_no_known_dataset_names_what_each_expects(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(LayoutError) as error:
        dataset_for(tmp_path)
    assert str(tmp_path) in str(error.value)
    for name in DATASETS:
        assert f"  {name}: " in str(error.value)


def test_a_missing_root_and_an_unknown_name_are_named_errors(tmp_path):
    with pytest.raises(LayoutError, match="nowhere is not a directory"):
        dataset_for(tmp_path / "nowhere")
    with pytest.raises(LayoutError, match="unknown dataset 'nosuch'; known: affwild2"):
        dataset_for(tmp_path, "nosuch")


def test_a_named_dataset_is_used_without_detection(tmp_path):
    assert dataset_for(tmp_path, "affwild2").name == "affwild2"


def test_face_crops_alone_do_not_make_an_affwild2_root(tmp_path):
    """The toolkit writes every dataset's crops in the same layout; only annotations or test lists say Aff-Wild2."""
    (tmp_path / "cropped_aligned" / "train_1").mkdir(parents=True)
    with pytest.raises(LayoutError, match="holds none of the known datasets"):
        dataset_for(tmp_path)
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "CVPR_8th_ABAW_VA_test_set_example.txt").write_text("image_location,valence,arousal\n")
    assert dataset_for(tmp_path).name == "affwild2"
