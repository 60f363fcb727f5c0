"""RECOLA: the reader against a tree written by hand (tests/recola_trees.py), labels placed by time."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from abaw.data.layout import LayoutError
from abaw.datasets import DATASETS
from abaw.datasets.recola import (
    build_manifest,
    choose_label_shift,
    combine_raters,
    discover,
    labels_at,
    recording_scores,
    with_label_shift,
)
from abaw.datasets.recola_files import RecolaFileError, Trace, read_arff, read_physio
from abaw.metrics import ccc
from tests.recola_trees import DIMENSIONS, RECORDINGS, expected_row, gold_value, physio_values, write_recola_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_recola_tree(tmp_path_factory.mktemp("recola"))


def _copy(tree, tmp_path):
    return shutil.copytree(tree, tmp_path / "copy")


def _check_labels(manifest, shift_rows=0):
    checked = 0
    for name, rows in manifest.frames.groupby("video", observed=True):
        fps, n_frames, n_rows, _ = RECORDINGS[name]
        assert len(rows) == n_frames
        for frame, valence, arousal in zip(rows["frame"], rows["valence"], rows["arousal"]):
            row = expected_row(int(frame), fps, n_rows, shift_rows)
            for dim, value in (("valence", valence), ("arousal", arousal)):
                expected = -5.0 if row is None else gold_value(name, dim, row)
                assert value == pytest.approx(expected, abs=1e-6), (name, frame, dim)
            checked += 1
    return checked


@pytest.mark.parametrize("split", ["train", "dev"])
def test_label_at_time_t_is_the_arff_row_at_t_for_25_and_30_fps(tree, split):
    layout = discover(tree)
    manifest = build_manifest(layout, split)
    assert set(manifest.frames["video"].unique()) == {n for n in RECORDINGS if n.startswith(split)}
    fps = {name: RECORDINGS[name][0] for name in manifest.videos.index}
    assert sorted(set(fps.values())) == [25, 30]  # both rates in each split
    assert _check_labels(manifest) == sum(RECORDINGS[n][1] for n in fps)
    frames = manifest.frames
    times = (frames["frame"] - 1) / frames["video"].map(fps).astype(float)
    np.testing.assert_allclose(frames["time"], times)
    assert (frames["dataset"] == "recola").all()
    assert (frames["expr"] == -1).all() and (frames["AU1"] == -1).all()


def test_past_the_end_of_the_ratings_frames_are_unlabelled(tree):
    frames = build_manifest(discover(tree), "dev").frames
    dev_1 = frames[frames["video"] == "dev_1"]
    late = dev_1["time"] > 39 * 0.04 + 0.02
    assert late.any() and (dev_1.loc[late, "valence"] == -5).all()
    assert (dev_1.loc[~late, "valence"] != -5).all()


def test_label_shift_reads_the_ratings_later_and_never_wraps(tree):
    layout = with_label_shift(discover(tree), 0.4)  # 10 rows
    manifest = build_manifest(layout, "train")
    _check_labels(manifest, shift_rows=10)
    last = manifest.frames.groupby("video", observed=True).tail(5)
    assert (last["valence"] == -5).all()  # the tail has no label rather than the start's


def test_faces_crops_and_retention(tree):
    manifest = build_manifest(discover(tree), "train")
    rows = manifest.frames[manifest.frames["video"] == "train_2"].set_index("frame")
    assert not rows.loc[3, "has_face"] and not rows.loc[4, "has_face"]
    assert rows.loc[4, "face_frame"] == 2 and rows.loc[5, "face_frame"] == 5


def test_streams_found_and_filtered_physio_preferred(tree):
    layout = discover(tree)
    assert layout.stream_file("audio", "dev_2").name == "dev_2.wav"
    assert layout.stream_file("physio", "dev_2").parent.name == "filtered"
    assert discover(tree, physio_variant="raw").stream_file("physio", "dev_2").parent.name == "recordings_physio"
    signals, rate = read_physio(layout.stream_file("physio", "train_1"))
    assert rate == pytest.approx(250.0)
    t = np.arange(signals.shape[1]) / 250.0
    ecg, eda = physio_values(t, offset=10.0)
    np.testing.assert_allclose(signals[0], ecg, atol=1e-5)  # channels come out ECG, EDA whatever the file's order
    np.testing.assert_allclose(signals[1], eda, atol=1e-4)


def test_registry_detects_recola_and_describes_it(tree, tmp_path):
    assert DATASETS["recola"].detect(tree) and not DATASETS["recola"].detect(tmp_path)
    assert DATASETS["recola"].video_score == "per_video"
    text = discover(tree).describe()
    assert "train: 2 recordings" in text and "gold standard valence: all 2" in text


def test_avec_2018_layout(tree, tmp_path):
    root = tmp_path / "avec2018"
    shutil.copytree(tree / "recordings_video", root / "recordings" / "video")
    for dim in DIMENSIONS:
        shutil.copytree(tree / "ratings_gold_standard" / dim, root / "labels" / "gs_1" / dim)
        shutil.copytree(tree / "ratings_individual" / dim, root / "labels" / "individual" / dim)
    assert DATASETS["recola"].detect(root)
    _check_labels(build_manifest(discover(root), "dev"))


def test_missing_video_is_a_named_error(tree, tmp_path):
    root = _copy(tree, tmp_path)
    (root / "recordings_video" / "dev_2.mp4").unlink()
    with pytest.raises(LayoutError, match="no video file for dev_2"):
        build_manifest(discover(root), "dev")


def test_missing_gold_standard_falls_back_to_the_raters_combined(tree, tmp_path, caplog):
    root = _copy(tree, tmp_path)
    (root / "ratings_gold_standard" / "arousal" / "dev_2.arff").unlink()
    with caplog.at_level(logging.WARNING):
        frames = build_manifest(discover(root), "dev").frames
    assert "no arousal gold standard; combined the 3 individual ratings" in caplog.text
    dev_2 = frames[frames["video"] == "dev_2"]
    # Raters at gold - 0.01, gold, gold + 0.01, all agreeing: their combination is the gold standard.
    expected = [gold_value("dev_2", "arousal", expected_row(f, 25, 45)) for f in dev_2["frame"]]
    np.testing.assert_allclose(dev_2["arousal"], expected, atol=1e-5)


def test_missing_every_label_of_a_dimension_is_logged_and_unlabelled(tree, tmp_path, caplog):
    root = _copy(tree, tmp_path)
    (root / "ratings_gold_standard" / "valence" / "dev_1.arff").unlink()
    (root / "ratings_individual" / "valence" / "dev_1.csv").unlink()
    with caplog.at_level(logging.WARNING):
        frames = build_manifest(discover(root), "dev").frames
    assert "dev_1: no valence gold standard nor individual ratings" in caplog.text
    assert (frames.loc[frames["video"] == "dev_1", "valence"] == -5).all()


def test_no_labels_at_all_is_a_named_error(tree, tmp_path):
    root = _copy(tree, tmp_path)
    shutil.rmtree(root / "ratings_gold_standard")
    shutil.rmtree(root / "ratings_individual")
    with pytest.raises(LayoutError, match="RECOLA dev: no gold standard"):
        build_manifest(discover(root), "dev")


@pytest.mark.parametrize(("line", "replacement", "message"), [
    (9, "dev_1,0.04,abc", r"dev_1.arff:9: the value 'abc' is not a number"),
    (9, "dev_1,0.04", r"dev_1.arff:9: 2 fields, the header declares 3"),
    (9, "dev_1,0.00,0.1", r"dev_1.arff:9: time 0 does not follow 0"),
])
def test_malformed_arff_names_the_file_and_line(tree, tmp_path, line, replacement, message):
    root = _copy(tree, tmp_path)
    path = root / "ratings_gold_standard" / "valence" / "dev_1.arff"
    lines = path.read_text().splitlines()
    lines[line - 1] = replacement
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecolaFileError, match=message):
        build_manifest(discover(root), "dev")


def test_physio_without_a_time_column_is_a_named_error(tree, tmp_path):
    root = _copy(tree, tmp_path)
    path = root / "recordings_physio" / "train_1.csv"
    path.write_text(path.read_text().replace("time;", "t;", 1))
    with pytest.raises(RecolaFileError, match=r"train_1.csv:1: the header .* lacks the column\(s\) time"):
        read_physio(path)


def test_read_arff_header_attributes_in_another_order(tmp_path):
    path = tmp_path / "x.arff"
    path.write_text("@relation r\n@attribute GoldStandard numeric\n@attribute Instance_name string\n"
                    "@attribute frameTime numeric\n@data\n0.5,train_1,0\n-0.25,train_1,0.04\n")
    trace = read_arff(path)
    np.testing.assert_allclose(trace.times, [0, 0.04])
    np.testing.assert_allclose(trace.values, [0.5, -0.25])


def test_labels_at_ties_and_ends():
    trace = Trace(np.arange(5) * 0.04, np.arange(5, dtype=np.float32))
    np.testing.assert_array_equal(labels_at(trace, np.array([0.0, 0.02, 0.021, 0.1, 0.16, 0.18, 0.181, -0.021])),
                                  [0, 0, 1, 2, 4, 4, -5, -5])


def _ccc(x, y):
    return 2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def test_combine_raters_weights_by_agreement():
    rng = np.random.default_rng(0)
    truth = np.sin(np.linspace(0, 6, 400))
    ratings = np.column_stack([truth + 0.2, 0.8 * truth - 0.1, -0.5 * truth + 0.3 * rng.standard_normal(400)])
    agreement = np.array([np.mean([_ccc(ratings[:, i], ratings[:, j]) for j in range(3) if j != i])
                          for i in range(3)])
    assert agreement[2] < 0  # the third rater disagrees: weight 0
    weights = np.clip(agreement, 0, None) / np.clip(agreement, 0, None).sum()
    centred = ratings - ratings.mean(0) + ratings.mean()
    np.testing.assert_allclose(combine_raters(ratings), centred @ weights, atol=1e-5)


def test_recording_scores_per_recording_and_pooled():
    rng = np.random.default_rng(1)
    labels = rng.standard_normal((300, 2))
    labels[:10, 1] = -5
    predicted = labels + 0.5 * rng.standard_normal((300, 2)) + np.repeat([0.0, 1.0, 2.0], 100)[:, None]
    recordings = np.repeat(["a", "b", "c"], 100)
    scores = recording_scores(predicted, labels, recordings)
    per = [ccc(predicted[recordings == r, 0], labels[recordings == r, 0]) for r in "abc"]
    assert scores["ccc_valence_per_recording"] == pytest.approx(np.mean(per))
    has = labels[:, 1] != -5
    assert scores["ccc_arousal_pooled"] == pytest.approx(ccc(predicted[has, 1], labels[has, 1]))
    assert scores["ccc_valence_pooled"] < scores["ccc_valence_per_recording"]  # offsets differ by recording


def test_choose_label_shift_finds_the_raters_delay():
    rng = np.random.default_rng(2)
    features, labels, fps = {}, {}, {}
    for k in range(4):
        n = 750  # 30 s at 25 fps
        latent = np.convolve(rng.standard_normal(n + 200), np.ones(50) / 50, mode="same")[100:-100]
        features[f"train_{k}"] = np.column_stack([latent, rng.standard_normal(n)])
        late = np.concatenate([np.zeros(50), latent[:-50]])  # the raters answer 2 s late
        labels[f"train_{k}"] = np.column_stack([late, late]) * 5
        fps[f"train_{k}"] = 25.0
    shift, scores = choose_label_shift(features, labels, fps)
    assert shift == pytest.approx(2.0)
    assert scores[2.0] > scores[0.0] + 0.3


def test_a_recording_found_twice_is_a_named_error(tree, tmp_path):
    root = _copy(tree, tmp_path)
    (root / "extra").mkdir()
    shutil.copy(root / "recordings_audio" / "dev_1.wav", root / "extra" / "dev_1.wav")
    with pytest.raises(LayoutError, match="dev_1 found twice"):
        discover(root)


def test_avec_2018_second_gold_standard_is_not_read(tree, tmp_path, caplog):
    root = tmp_path / "avec2018"
    shutil.copytree(tree / "recordings_video", root / "recordings" / "video")
    for dim in DIMENSIONS:
        shutil.copytree(tree / "ratings_gold_standard" / dim, root / "labels" / "gs_1" / dim)
        (root / "labels" / "gs_2" / dim).mkdir(parents=True)
        for arff in (root / "labels" / "gs_1" / dim).glob("*.arff"):
            text = arff.read_text().replace(",0.", ",9.")  # another gold standard's values
            (root / "labels" / "gs_2" / dim / arff.name).write_text(text)
    with caplog.at_level(logging.WARNING):
        layout = discover(root)
    assert "several gold standards (gs_1, gs_2); using gs_1" in caplog.text
    _check_labels(build_manifest(layout, "train"))


def test_a_model_that_hears_a_recording_without_its_wav_is_told(tree, tmp_path):
    from abaw.config import load_config
    from abaw.data.streams import stream_readers
    from abaw.engine.data import clip_dataset

    root = _copy(tree, tmp_path)
    (root / "recordings_audio" / "dev_1.wav").unlink()
    layout = discover(root)
    config = load_config(None, ["data.dataset=recola", "data.tasks=[va]", "model.tasks=[va]",
                                f"data.cache_dir={tmp_path / 'cache'}"])
    with pytest.raises(LayoutError, match="none found for dev_1"):
        clip_dataset(config, build_manifest(layout, "dev"), layout,
                     streams=stream_readers(config, ["faces", "audio"]))


def test_the_configs_label_shift_reaches_recola_and_is_refused_elsewhere(tree, tmp_path):
    from abaw.config import load_config
    from abaw.datasets import open_dataset

    config = load_config(None, ["data.label_shift_s=0.4"])
    kind, layout = open_dataset(tree, None, None, config.data)
    assert kind.name == "recola" and layout.label_shift_s == 0.4
    _check_labels(build_manifest(layout, "train"), shift_rows=10)
    (tmp_path / "VA_Estimation_Challenge").mkdir()  # an Aff-Wild2 root
    with pytest.raises(LayoutError, match="data.label_shift_s is read by the recola dataset, not by affwild2"):
        open_dataset(tmp_path, None, None, config.data)
