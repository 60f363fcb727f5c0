"""The bad-input sweep (docs/robustness.md): every case ends in a one-line error that names the file (and line)
with exit status 1, or in the documented fallback, logged, and checked here against an independent reference
(the same tree with the bad file removed, a hand-deduplicated file, black pixels, ...).

Each test corrupts a private copy of the tiny synthetic tree and goes through the command a user would run.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from abaw.config import load_config, save_config
from abaw.data.layout import discover
from abaw.data.manifest import build_manifest, build_mtl_manifest
from abaw.engine.data import DATA_REPORT, clip_dataset
from abaw.errors import command
from abaw.evaluate import main as eval_main
from abaw.models import build_model
from abaw.predict import main as predict_main
from abaw.prediction_files import prediction_files, read_predictions, write_predictions
from abaw.submit.cli import main as submit_main
from test_recipes import TINY, recipe

VAL_VIDEO = "video348"  # a validation video of the tiny synthetic tree, labelled for VA, EXPR and AU


@pytest.fixture
def root(synth_root, tmp_path, monkeypatch):
    """A private copy of the tiny synthetic tree, to corrupt; decoded audio is cached beside it."""
    monkeypatch.setenv("ABAW_CACHE", str(tmp_path / "cache"))
    return Path(shutil.copytree(synth_root, tmp_path / "root"))


def annotation(root: Path, task: str, video: str = VAL_VIDEO, split: str = "Validation_Set") -> Path:
    folder = {"va": "VA_Estimation_Challenge", "expr": "EXPR_Recognition_Challenge", "au": "AU_Detection_Challenge"}
    return next(root.glob("*Annotations*")) / folder[task] / split / f"{video}.txt"


def mtl_file(root: Path) -> Path:
    return next(root.glob("*Annotations*/MTL_Challenge/validation_set_annotations.txt"))


def fake_run(folder: Path, *overrides: str) -> Path:
    """A run folder as a recipe leaves it (config and best weights), with untrained weights: enough for
    abaw-predict, and no training to wait for."""
    config = load_config(TINY, [f"train.out_dir={folder}", *overrides])
    torch.manual_seed(0)
    model = build_model(config.model)
    save_config(config, folder / "config.yaml")
    (folder / "best").mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "best/model.safetensors"))
    return folder


def predict(run: Path, root: Path, out: Path, split: str = "val") -> int:
    return predict_main([str(run), "--data-root", str(root), "--split", split, "--out", str(out),
                         "--num-workers", "0"])


def error_line(capsys, prog: str) -> str:
    """The command's error: exactly one stderr line ``prog: ...``, and no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(f"{prog}: ")]
    assert len(lines) == 1, err
    return lines[0]


def write_random_predictions(out: Path, manifest, seed: int = 0) -> Path:
    """Valid predictions for every frame of every video of a manifest (1 .. its last frame)."""
    rng = np.random.default_rng(seed)
    for video, n_frames in manifest.videos["n_frames"].items():
        expr = rng.dirichlet(np.ones(8), n_frames)
        write_predictions(out, video, np.arange(1, n_frames + 1),
                          {"va": rng.uniform(-1, 1, (n_frames, 2)), "expr": expr, "au": rng.random((n_frames, 12))})
    return out


# --------------------------------------------------------------------------------------------- face crops

def test_corrupt_and_empty_crops_are_shown_as_missing_faces(root, tmp_path, caplog):
    """Fallback: an unreadable crop (here one cut short, and one of zero bytes) counts as missing, so its frame
    shows the last earlier crop (retention "last"), in training clips and in predictions alike; a warning
    names each file. Reference: the same tree with both crops deleted, which is how the organisers mark a
    frame without a face."""
    reference = Path(shutil.copytree(root, tmp_path / "reference"))
    bad = {}
    for video, damage in ((VAL_VIDEO, "corrupt"), ("303-25-320x240", "empty")):
        folder = root / "cropped_aligned" / video
        crops = sorted(int(p.stem) for p in folder.glob("*.jpg"))
        frame = next(f for f in crops if f - 1 in crops and f > 10)
        path = folder / f"{frame:05d}.jpg"
        (reference / "cropped_aligned" / video / path.name).unlink()
        path.write_bytes(path.read_bytes()[:200] if damage == "corrupt" else b"")
        bad[video] = (frame, path)

    run = fake_run(tmp_path / "run", "model.modalities=[visual]")
    config = load_config(run / "config.yaml")
    clips = {}
    for name, tree in (("bad", root), ("reference", reference)):
        layout = discover(tree)
        clips[name] = clip_dataset(config, build_manifest(layout, "val"), layout)
    frames = clips["bad"].manifest.frames
    with caplog.at_level(logging.WARNING):
        for video, (frame, _) in bad.items():  # the training path: items of a clip dataset
            row = int(np.flatnonzero((frames["video"] == video) & (frames["frame"] == frame))[0])
            torch.testing.assert_close(clips["bad"][row]["faces"], clips["reference"][row]["faces"], rtol=0, atol=0)
        assert predict(run, root, tmp_path / "pred") == 0
    assert predict(run, reference, tmp_path / "pred_reference") == 0
    for video, (frame, path) in bad.items():
        warnings = [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
        assert len(warnings) == 2  # once by the clip dataset above, once by abaw-predict's own
        assert f"frame {frame} of {video} shows the crop of frame {frame - 1} instead" in warnings[0]
    got, want = prediction_files(tmp_path / "pred"), prediction_files(tmp_path / "pred_reference")
    assert set(got) == set(want) == set(bad)
    for video in want:
        np.testing.assert_allclose(read_predictions(got[video]).to_numpy(), read_predictions(want[video]).to_numpy(),
                                   atol=1e-5, err_msg=video)


def test_a_video_without_crop_folder_is_black_and_counted(root, tmp_path, caplog):
    """Fallback: every frame of the video is a black face; a warning names the video, abaw-predict still writes a
    row for each of its frames, and a training run lists it in RUN/data_report.json."""
    shutil.rmtree(root / "cropped_aligned" / VAL_VIDEO)
    run = fake_run(tmp_path / "run", "model.modalities=[visual]")
    layout = discover(root)
    clips = clip_dataset(load_config(run / "config.yaml"), build_manifest(layout, "val"), layout)
    for row in np.flatnonzero(clips.manifest.frames["video"] == VAL_VIDEO)[::20]:
        assert not clips[row]["faces"].any()
    with caplog.at_level(logging.WARNING):
        assert predict(run, root, tmp_path / "pred") == 0
    assert f"{VAL_VIDEO}: no face crops found" in caplog.text
    n_frames = len(annotation(root, "va").read_text().splitlines()) - 1
    read_predictions(tmp_path / "pred" / f"{VAL_VIDEO}.csv", frames=np.arange(1, n_frames + 1))


# ------------------------------------------------------------------------------------------------ videos

def strip_audio(path: Path) -> None:
    """Rewrite a video file with its video stream only (packets copied, not re-encoded)."""
    stripped = path.with_name("stripped" + path.suffix)
    with av.open(str(path)) as source, av.open(str(stripped), "w") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    stripped.replace(path)


def test_training_with_a_silent_video_and_a_faceless_one_records_both(root, tmp_path, caplog):
    """Fallback: a video file without an audio track is heard as silence, with a warning per file and a count
    in the run log; RUN/data_report.json lists it, and the video without crops, for the run's record (written
    before the first epoch, so the run here has one of one step)."""
    silent = root / "batch1" / f"{VAL_VIDEO}.mp4"
    strip_audio(silent)
    shutil.rmtree(root / "cropped_aligned" / "261")
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        assert recipe("mtl_teacher")(["--config", str(TINY), f"data.root={root}", f"data.cache_dir={tmp_path / 'c'}",
                                      f"train.out_dir={run}", "train.epochs=1", "train.max_steps=1"]) == 0
    assert f"{silent} has no audio stream: using silence" in caplog.text
    assert f"video files without an audio track, whose clips hear silence: 1 of 4 ({silent})" in caplog.text
    assert "videos without any face crop, whose frames are black: 1 (261)" in caplog.text
    report = json.loads((run / DATA_REPORT).read_text())
    assert report == {"videos_without_audio": [str(silent)], "videos_with_short_audio": [],
                      "videos_without_face_crops": ["261"], "videos_in_two_splits": []}

    config = load_config(run / "config.yaml")
    layout = discover(root)
    clips = clip_dataset(config, build_manifest(layout, "val"), layout)
    rows = np.flatnonzero(clips.manifest.frames["video"] == VAL_VIDEO)
    assert all(not clips[row]["audio"].any() for row in rows[::25])


@pytest.mark.parametrize("video, message", [
    ("batch2/303-25-320x240.avi", "its audio stream ends after"),  # decodes, then stops early
    (f"batch1/{VAL_VIDEO}.mp4", "cannot open the video file (truncated, or not a video?)"),  # index lost
])
def test_a_truncated_video_is_an_error_naming_it(root, tmp_path, capsys, video, message):
    path = root / video
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])
    run = fake_run(tmp_path / "run")  # audio-visual: the audio must be decoded
    assert predict(run, root, tmp_path / "pred") == 1
    line = error_line(capsys, "abaw-predict")
    assert line.startswith(f"abaw-predict: {path}: ") and message in line
    assert not (tmp_path / "pred").exists()
    if path.suffix == ".avi":  # still playable: a visual-only model reads only its frame rate
        assert predict(fake_run(tmp_path / "visual", "model.modalities=[visual]"), root, tmp_path / "pred") == 0


@pytest.mark.parametrize("video, split, modalities, message", [
    ("batch1/video289.mp4", "train", "[visual,audio]",
     "audio clips need the video files; none found for video289_left, video289_right"),
    ("batch1/video289.mp4", "train", "[visual]", "video289_left: no video file, and its name does not carry a "
                                                "frame rate"),
    ("batch2/303-25-320x240.avi", "val", "[visual]", None),
])
def test_annotations_without_their_video(root, tmp_path, capsys, video, split, modalities, message):
    """An error: the clips of both people of video289 need its file (for the audio, or for the frame rate that
    places the window in seconds). A visual-only model does without the file when the name carries the rate."""
    (root / video).unlink()
    run = fake_run(tmp_path / "run", f"model.modalities={modalities}")
    if message is None:
        assert predict(run, root, tmp_path / "pred", split=split) == 0
        assert (tmp_path / "pred" / "303-25-320x240.csv").is_file()
        return
    assert predict(run, root, tmp_path / "pred", split=split) == 1
    assert error_line(capsys, "abaw-predict").startswith(f"abaw-predict: {message}")


def test_annotations_longer_than_the_video_are_kept_with_a_warning(root, tmp_path, caplog):
    """Fallback: the organisers' files set the frame count; a video file that declares more than one frame fewer
    (or more) is warned about, naming it, and every annotated frame still gets its prediction row."""
    extra = 30
    for task in ("va", "expr", "au"):
        path = annotation(root, task)
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines + [lines[-1]] * extra) + "\n")
    n_frames = len(annotation(root, "va").read_text().splitlines()) - 1
    run = fake_run(tmp_path / "run", "model.modalities=[visual]")
    with caplog.at_level(logging.WARNING):
        assert predict(run, root, tmp_path / "pred") == 0
    video = root / "batch1" / f"{VAL_VIDEO}.mp4"
    assert (f"{VAL_VIDEO}: the organisers' files list {n_frames} frames but {video} declares {n_frames - extra}"
            in caplog.text)
    read_predictions(tmp_path / "pred" / f"{VAL_VIDEO}.csv", frames=np.arange(1, n_frames + 1))


def test_task_files_that_disagree_on_the_frame_count_are_warned_about(root, caplog):
    """Fallback: the longest file sets the count; the frames past a shorter file are unlabelled for its task
    (checked against the annotation files read line by line)."""
    path = annotation(root, "expr")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-10]) + "\n")
    with caplog.at_level(logging.WARNING):
        manifest = build_manifest(discover(root), "val")
    assert (f"{VAL_VIDEO}: annotation files disagree on the frame count (va={len(lines) - 1}, "
            f"expr={len(lines) - 11}" in caplog.text)
    frames = manifest.frames[manifest.frames["video"] == VAL_VIDEO]
    assert len(frames) == len(lines) - 1
    assert (frames["expr"].to_numpy()[-10:] == -1).all()
    assert frames["expr"].to_numpy()[:-10].tolist() == [int(x) for x in lines[1:-10]]


# ------------------------------------------------------------------------------------------- annotations

BAD_ANNOTATIONS = [  # task, damage to the file's lines (header first), line named, message
    ("va", lambda lines: ["valance,arousal", *lines[1:]], 1, "header is 'valance,arousal', expected 'valence,arousal'"),
    ("va", lambda lines: [*lines[:5], "0.1,abc", *lines[6:]], 6, "non-numeric value: '0.1,abc'"),
    ("va", lambda lines: [*lines[:7], "0.1,1.5", *lines[8:]], 8, "valence/arousal must lie in [-1, 1] or be -5"),
    ("va", lambda lines: [*lines[:9], "0.1,nan", *lines[10:]], 10, "NaN value"),
    ("va", lambda lines: [*lines[:3], "", *lines[3:]], 4, "expected 2 comma-separated values, found 1"),
    ("expr", lambda lines: [*lines[:4], "8", *lines[5:]], 5, "an expression is an integer 0..7 or -1, found 8"),
    ("expr", lambda lines: [*lines[:4], "2.5", *lines[5:]], 5, "an expression is an integer 0..7 or -1, found 2.5"),
    ("au", lambda lines: [*lines[:2], ",".join(["0"] * 11 + ["2"]), *lines[3:]], 3, "an AU is 0, 1 or -1"),
    ("au", lambda lines: [*lines[:2], ",".join(["0"] * 11), *lines[3:]], 3,
     "expected 12 comma-separated values, found 11"),
]


@pytest.mark.parametrize("task, damage, line, message", BAD_ANNOTATIONS)
def test_a_bad_annotation_file_stops_abaw_eval_naming_file_and_line(root, tmp_path, capsys, task, damage, line,
                                                                     message):
    path = annotation(root, task)
    path.write_text("\n".join(damage(path.read_text().splitlines())) + "\n")
    assert eval_main([str(tmp_path / "pred"), "--data-root", str(root)]) == 1
    assert error_line(capsys, "abaw-eval").startswith(f"abaw-eval: {path}:{line}: {message}")


def test_a_binary_annotation_file_names_its_line(root, tmp_path, capsys):
    path = annotation(root, "va")
    path.write_bytes(path.read_bytes()[:40] + b"\xff\xd8\xff\xe0JFIF\n")
    line = path.read_bytes()[:40].count(b"\n") + 1
    assert eval_main([str(tmp_path / "pred"), "--data-root", str(root)]) == 1
    assert error_line(capsys, "abaw-eval").startswith(f"abaw-eval: {path}:{line}: not UTF-8 text")


def test_a_bad_annotation_file_stops_training_before_it_starts(root, tmp_path, capsys):
    path = annotation(root, "au", video="261", split="Train_Set")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:3], "1,0,x", *lines[4:]]) + "\n")
    code = recipe("mtl_teacher")(["--config", str(TINY), f"data.root={root}", f"train.out_dir={tmp_path / 'run'}"])
    assert code == 1
    assert error_line(capsys, "mtl_teacher.py").startswith(
        f"mtl_teacher.py: {path}:4: expected 12 comma-separated values, found 3")
    assert not (tmp_path / "run").exists()


def test_a_task_without_any_label_is_left_out_of_the_scores(root, tmp_path, caplog):
    """Fallback: when the split's annotations label no frame of a task (every EXPR line -1), abaw-eval scores the
    other tasks and says why that one is missing, instead of failing on an undefined metric."""
    for path in annotation(root, "expr").parent.glob("*.txt"):
        lines = path.read_text().splitlines()
        path.write_text("\n".join([lines[0], *["-1"] * (len(lines) - 1)]) + "\n")
    pred = write_random_predictions(tmp_path / "pred", build_manifest(discover(root), "val"))
    with caplog.at_level(logging.WARNING):
        assert eval_main([str(pred), "--data-root", str(root), "--json", str(tmp_path / "s.json")]) == 0
    assert "the annotations label no EXPR frame of these videos: EXPR not scored" in caplog.text
    assert set(json.loads((tmp_path / "s.json").read_text())) == {"va", "au"}


# ---------------------------------------------------------------------------------------------------- MTL

def test_exact_duplicate_mtl_rows_count_once(root, tmp_path):
    """Fallback: exact duplicates (the organisers' files hold some) are dropped; the scores equal those of the
    file deduplicated by hand."""
    path = mtl_file(root)
    header, *rows = path.read_text().splitlines()
    unique = list(dict.fromkeys(rows))
    assert len(unique) < len(rows)  # the synthetic file holds duplicates, as the organisers' do
    pred = write_random_predictions(tmp_path / "pred", build_mtl_manifest(discover(root), "val"))
    scores = {}
    for name, lines in (("duplicated", rows + unique[::2]), ("unique", unique)):
        path.write_text("\n".join([header, *lines]) + "\n")
        assert eval_main([str(pred), "--data-root", str(root), "--mtl", "--json", str(tmp_path / f"{name}.json")]) == 0
        scores[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert scores["duplicated"] == scores["unique"]
    assert scores["unique"]["va"]["n_valence"] == sum(row.split(",")[1] != "-5" for row in unique)


def test_a_duplicate_mtl_row_with_other_labels_is_an_error(root, tmp_path, capsys):
    path = mtl_file(root)
    lines = path.read_text().splitlines()
    image, valence, rest = lines[1].split(",", 2)
    changed = f"{image},{0.5 if valence != '0.5' else 0.25},{rest}"
    path.write_text("\n".join([*lines, changed]) + "\n")
    assert eval_main([str(tmp_path / "pred"), "--data-root", str(root), "--mtl"]) == 1
    assert error_line(capsys, "abaw-eval") == (
        f"abaw-eval: {path}:{len(lines) + 1}: {image} was already labelled differently on line 2")


# ------------------------------------------------------------------------------------------- predictions

def break_predictions(pred: Path, damage: str, video: str) -> Path:
    """Damage one video's predictions file: a NaN, a frame left out, or the whole file removed."""
    path = pred / f"{video}.csv"
    lines = path.read_text().splitlines()
    if damage == "nan":
        fields = lines[5].split(",")
        fields[3] = "nan"
        lines[5] = ",".join(fields)
    elif damage == "missing frame":
        del lines[8]  # frame 8
    else:
        path.unlink()
        return path
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("damage, message", [
    ("nan", "{path}:6: NaN or infinite value (column Neutral)"),
    ("missing frame", "{path}:9: frame 9 where frame 8 is expected ({n} rows for {m} frames)"),
    ("missing video", "{pred}: no predictions for 1 labelled videos: {video}"),
])
def test_abaw_eval_names_bad_predictions(root, tmp_path, capsys, damage, message):
    manifest = build_manifest(discover(root), "val")
    pred = write_random_predictions(tmp_path / "pred", manifest)
    path = break_predictions(pred, damage, VAL_VIDEO)
    m = int(manifest.videos.at[VAL_VIDEO, "n_frames"])
    assert eval_main([str(pred), "--data-root", str(root)]) == 1
    expected = message.format(path=path, pred=pred, video=VAL_VIDEO, n=m - 1, m=m)
    assert error_line(capsys, "abaw-eval") == f"abaw-eval: {expected}"


@pytest.mark.parametrize("damage, message", [
    ("nan", "{path}:6: NaN or infinite value (column Neutral)"),
    ("missing frame", "{video}: {path} has no row for 1 frame(s) the organisers list: 8"),
    ("missing video", "no predictions file (<video>.csv) in {pred} for:"),
])
def test_abaw_submit_names_bad_predictions_and_writes_nothing(root, tmp_path, capsys, damage, message):
    layout = discover(root)
    pred = write_random_predictions(tmp_path / "pred", build_manifest(layout, "test"))
    video = sorted(prediction_files(pred))[0]
    path = break_predictions(pred, damage, video)
    out = tmp_path / "submission"
    assert submit_main([str(pred), "--data-root", str(root), "--edition", "7", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("abaw-submit: ")
    assert message.format(path=path, pred=pred, video=video) in err
    assert not out.exists() or not any(out.iterdir())


# ---------------------------------------------------------------------------------------------- configs

@pytest.mark.parametrize("config_text, overrides, message", [
    (None, ["train.lrr=1"], "override 'train.lrr=1': train: unknown key 'lrr' in TrainConfig; known: "),
    (None, ["train.epochs=two"], "override 'train.epochs=two': train: TrainConfig.epochs: expected an integer, "
                                 "found 'two'"),
    ("trian:\n  epochs: 2\n", [], "{path}: unknown key 'trian' in ExperimentConfig; known: "),
    ("model:\n  pretrained: 1\n", [], "{path}: model: ModelConfig.pretrained: expected true or false, found 1"),
    (None, ["loss.delta=0.1"], "loss.delta=0.1 trains a task discriminator, which needs at least two data.task_sets"),
])
def test_a_bad_config_stops_a_recipe_with_one_line(tmp_path, capsys, config_text, overrides, message):
    path = TINY
    if config_text is not None:
        path = tmp_path / "bad.yaml"
        path.write_text(config_text)
    assert recipe("mtl_teacher")(["--config", str(path), f"train.out_dir={tmp_path / 'run'}", *overrides]) == 1
    assert error_line(capsys, "mtl_teacher.py").startswith(f"mtl_teacher.py: {message.format(path=path)}")


def test_a_student_without_a_teacher_run_stops_with_one_line(tmp_path, capsys):
    teacher = tmp_path / "no_teacher"
    assert recipe("student_kd")(["--config", str(TINY), "--teacher", str(teacher),
                                 f"train.out_dir={tmp_path / 'run'}"]) == 1
    assert error_line(capsys, "student_kd.py").startswith(
        f"student_kd.py: {teacher / 'config.yaml'}: cannot read the config")


def test_a_run_without_weights_stops_abaw_predict_with_one_line(root, tmp_path, capsys):
    run = fake_run(tmp_path / "run")
    shutil.rmtree(run / "best")
    assert predict(run, root, tmp_path / "pred") == 1
    weights = run / "best/model.safetensors"
    assert error_line(capsys, "abaw-predict") == f"abaw-predict: {weights}: no best checkpoint in {run}"


def test_only_bad_input_loses_its_traceback(capsys):
    """The guard turns the toolkit's own errors and OS errors into one line; a bug keeps its traceback."""
    from abaw.data.annotations import AnnotationError

    def failing(error):
        @command("prog")
        def main(argv=None):
            raise error
        return main

    assert failing(AnnotationError("a.txt:3: non-numeric value"))() == 1
    assert capsys.readouterr().err == "prog: a.txt:3: non-numeric value\n"
    assert failing(FileNotFoundError(2, "No such file or directory", "x.yaml"))() == 1
    assert capsys.readouterr().err == "prog: [Errno 2] No such file or directory: 'x.yaml'\n"
    with pytest.raises(KeyError):
        failing(KeyError("a bug"))()
