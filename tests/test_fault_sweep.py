"""The fault-injection sweep (docs/robustness.md, "Sweep"): bad data roots, annotations, crops, audio, configs,
run folders, predictions and submissions, and interrupted or concurrent runs, each through the command a user
runs. Every case ends in one of three ways, which the test asserts:

- the correct result, checked against an independent reference (the same tree without the fault, the same
  pixels or sound written another way, the file read line by line);
- an error: exit status 1 and one stderr line ``prog: message`` naming the file (2 for a usage error), no
  traceback, nothing written;
- a documented fallback: the command works, a warning names the file, and a training run counts it in
  ``RUN/data_report.json``.

Each case works on a private copy of the tiny synthetic tree, with untrained models (``fake_run``) unless the
case is about training.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save, save_file

from abaw.config import load_config
from abaw.data.layout import discover
from abaw.data.manifest import build_manifest
from abaw.evaluate import main as eval_main
from abaw.folder_lock import LOCK_FILE
from abaw.models import build_model
from abaw.predict import main as predict_main
from abaw.prediction_files import WRITTEN_BY, prediction_files, read_predictions, write_predictions
from abaw.submit.cli import main as submit_main
from test_bad_input import VAL_VIDEO, annotation, fake_run, mtl_file, root, write_random_predictions  # noqa: F401
from test_recipes import ROOT, TINY, recipe

AVI_VIDEO = "303-25-320x240"  # the validation video stored as .avi (25 fps), labelled for EXPR and AU


def named_error(capsys, prog: str, code: int, *parts: str) -> str:
    """Assert the outcome "error": exit status 1, exactly one ``prog: ...`` line on stderr, no traceback, and
    every one of ``parts`` (the file, the key ...) in that line."""
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(f"{prog}: ")]
    assert len(lines) == 1, err
    for part in parts:
        assert str(part) in lines[0], (part, lines[0])
    return lines[0]


def usage_error(capsys, code: int, *parts: str) -> None:
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    for part in parts:
        assert part in err, (part, err)


def predict(run: Path, root: Path, out: Path, *extra: str, split: str = "val") -> int:
    return predict_main([str(run), "--data-root", str(root), "--split", split, "--out", str(out),
                         "--num-workers", "0", *extra])


def scores(pred: Path, root: Path, tmp_path: Path, *extra: str) -> dict:
    """abaw-eval's JSON scores of ``pred`` against ``root``'s validation labels (the command must succeed)."""
    out = tmp_path / f"scores-{len(list(tmp_path.glob('scores-*')))}.json"
    assert eval_main([str(pred), "--data-root", str(root), "--json", str(out), *extra]) == 0
    return json.loads(out.read_text())


def val_files(root: Path) -> list[Path]:
    return sorted(next(root.glob("*Annotations*")).glob("*_Challenge/Validation_Set/*.txt"))


# ------------------------------------------------------------------------------------------------ data roots

DATA_ROOTS = {  # case -> (damage(root, tmp_path) -> (data root to pass, extra args), what the error names)
    "root missing": (lambda root, tmp: (tmp / "nowhere", []), "{tmp}/nowhere is not a directory"),
    "root is a file": (lambda root, tmp: (_file(tmp / "root.txt"), []), "{tmp}/root.txt is not a directory"),
    "root empty": (lambda root, tmp: (_folder(tmp / "empty"), []), "holds none of the known datasets"),
    "root empty, named Aff-Wild2": (lambda root, tmp: (_folder(tmp / "empty"), ["--dataset", "affwild2"]),
                                    "missing: an annotations folder"),
    "two editions' annotations": (
        lambda root, tmp: (root, []) if shutil.copytree(next(root.glob("*Annotations*")),
                                                        root / "8th_ABAW_Annotations") else None,
        "holds several annotations folders"),
    "two editions' EXPR folders": (
        lambda root, tmp: (root, []) if shutil.copytree(next(root.glob("*Annotations*/EXPR_*")), next(
            root.glob("*Annotations*")) / "EXPR_Classification_Challenge") else None,
        "holds two EXPR folders, EXPR_Classification_Challenge and EXPR_Recognition_Challenge"),
    "--annotations not a folder": (lambda root, tmp: (root, ["--annotations", str(tmp / "none")]),
                                   "annotations folder {tmp}/none is not a directory"),
    "no validation folders": (
        lambda root, tmp: (root, []) if [shutil.rmtree(p) for p in root.glob("*Annotations*/*/Validation_Set")]
        else None, "annotation folders of the 'val' split"),
}


def _file(path: Path) -> Path:
    path.write_text("not a folder\n")
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize("case", DATA_ROOTS)
def test_data_root_faults_are_named(root, tmp_path, capsys, case):
    damage, message = DATA_ROOTS[case]
    data_root, extra = damage(root, tmp_path)
    code = eval_main([str(tmp_path / "pred"), "--data-root", str(data_root), *extra])
    named_error(capsys, "abaw-eval", code, message.format(tmp=tmp_path))


def test_empty_training_folders_are_named(root, tmp_path, capsys):
    for path in root.glob("*Annotations*/*/Train_Set/*.txt"):
        path.unlink()
    code = recipe("mtl_teacher")(["--config", str(TINY), f"data.root={root}", f"train.out_dir={tmp_path / 'run'}"])
    named_error(capsys, "mtl_teacher.py", code, "no annotation file (<video>.txt) in the train folders",
                annotation(root, "va", split="Train_Set").parent)
    assert not (tmp_path / "run").exists()


def test_a_video_file_found_twice_uses_the_first_and_says_so(root, tmp_path, caplog):
    """Fallback: the same video under two folders (an archive unpacked twice) is read from the first one."""
    shutil.copy(root / "batch1" / f"{VAL_VIDEO}.mp4", root / "batch2" / f"{VAL_VIDEO}.mp4")
    with caplog.at_level(logging.WARNING):
        assert predict(fake_run(tmp_path / "run", "model.modalities=[visual]"), root, tmp_path / "pred") == 0
    assert (f"video {VAL_VIDEO} found twice: using {root / 'batch1' / VAL_VIDEO}.mp4, ignoring "
            f"{root / 'batch2' / VAL_VIDEO}.mp4") in caplog.text


def test_a_root_without_any_crop_folder_predicts_black_faces(root, tmp_path, caplog):
    """Fallback: every video shows black faces, each named in a warning, and every frame still gets a row."""
    shutil.rmtree(root / "cropped_aligned")
    with caplog.at_level(logging.WARNING):
        assert predict(fake_run(tmp_path / "run", "model.modalities=[visual]"), root, tmp_path / "pred") == 0
    for video, n_frames in build_manifest(discover(root), "val").videos["n_frames"].items():
        assert f"{video}: no face crops found (looked in no cropped_aligned folder)" in caplog.text
        read_predictions(tmp_path / "pred" / f"{video}.csv", frames=np.arange(1, n_frames + 1))


def test_a_root_without_test_lists_cannot_be_submitted(root, tmp_path, capsys):
    shutil.rmtree(root / "test_set")
    (tmp_path / "pred").mkdir()
    code = submit_main([str(tmp_path / "pred"), "--data-root", str(root), "--edition", "7", "--out",
                        str(tmp_path / "sub")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and err.startswith("abaw-submit: ") and str(root) in err, err
    assert not (tmp_path / "sub").exists()


# ------------------------------------------------------------------------------------------------ annotations

def _rewrite(path: Path, edit) -> None:
    path.write_bytes(edit(path.read_bytes()))


HARMLESS_ANNOTATIONS = {  # case -> damage to every validation annotation file's bytes; scores must not change
    "CRLF line ends": lambda data: data.replace(b"\n", b"\r\n"),
    "UTF-8 byte-order mark": lambda data: b"\xef\xbb\xbf" + data,
    "header with spaces and a trailing comma": lambda data: data.replace(b",", b", ", 1).replace(b"\n", b",\n", 1),
    "a blank line at the end": lambda data: data + b"\n",
    "a comma at the end of every line": lambda data: data.replace(b"\n", b",\n"),
}


@pytest.mark.parametrize("case", HARMLESS_ANNOTATIONS)
def test_harmless_annotation_variants_score_as_the_clean_files(root, synth_root, tmp_path, case):
    pred = write_random_predictions(tmp_path / "pred", build_manifest(discover(synth_root), "val"))
    for path in val_files(root):
        _rewrite(path, HARMLESS_ANNOTATIONS[case])
    assert scores(pred, root, tmp_path) == scores(pred, synth_root, tmp_path)


def test_stray_files_beside_the_annotations_are_ignored(root, synth_root, tmp_path):
    pred = write_random_predictions(tmp_path / "pred", build_manifest(discover(synth_root), "val"))
    folder = annotation(root, "va").parent
    (folder / ".DS_Store").write_bytes(b"\x00\x01binary")
    (folder / "README.md").write_text("notes\n")
    assert scores(pred, root, tmp_path) == scores(pred, synth_root, tmp_path)


BAD_ANNOTATIONS = {  # case -> (file, damage to its lines or bytes, what the error line says after the file)
    "header only": ("va", lambda data: data.split(b"\n")[0] + b"\n", ":1: the header but no frame line"),
    "zero bytes": ("au", lambda data: b"", ":1: header is ''"),
    "infinite value": ("va", lambda data: data.replace(b"\n", b"\ninf,0.1\n", 1), ":2: valence/arousal must lie"),
    "expression -2": ("expr", lambda data: data.replace(b"\n", b"\n-2\n", 1), ":2: an expression is an integer"),
    "AU 0.5": ("au", lambda data: data.replace(b"\n", b"\n" + b",".join([b"0.5"] * 12) + b"\n", 1),
               ":2: an AU is 0, 1 or -1"),
    "Latin-1 byte in the header": ("va", lambda data: data.replace(b"valence", b"val\xe9nce", 1), ":1: not UTF-8"),
}


@pytest.mark.parametrize("case", BAD_ANNOTATIONS)
def test_bad_annotation_files_are_named(root, tmp_path, capsys, case):
    task, damage, message = BAD_ANNOTATIONS[case]
    path = annotation(root, task)
    _rewrite(path, damage)
    code = eval_main([str(tmp_path / "pred"), "--data-root", str(root)])
    named_error(capsys, "abaw-eval", code, f"{path}{message}")


def test_a_folder_named_like_an_annotation_file_is_named(root, tmp_path, capsys):
    folder = annotation(root, "va").parent / "video999.txt"
    folder.mkdir()
    code = eval_main([str(tmp_path / "pred"), "--data-root", str(root)])
    named_error(capsys, "abaw-eval", code, str(folder))


BAD_MTL = {  # case -> (damage to the MTL validation file's lines, what the error line says after the file)
    "header only": (lambda lines: lines[:1], ":1: the header but no image line"),
    "image past its video's end": (lambda lines: [*lines, f"{VAL_VIDEO}/09999.jpg,0.1,0.2,3," + ",".join("0" * 12)],
                                   f": lists {VAL_VIDEO}/09999.jpg, past the end of its video"),
    "image of frame 0": (lambda lines: [*lines, f"{VAL_VIDEO}/00000.jpg,0.1,0.2,3," + ",".join("0" * 12)],
                         ":15: frames are numbered from 1 (00001.jpg), found"),
    "malformed image location": (lambda lines: [*lines, f"{VAL_VIDEO}/12.png,0.1,0.2,3," + ",".join("0" * 12)],
                                 ":15: expected an image location like video/00001.jpg"),
    "a field missing": (lambda lines: [*lines, f"{VAL_VIDEO}/00002.jpg,0.1,0.2,3," + ",".join("0" * 11)],
                        ":15: expected 16 fields"),
}


@pytest.mark.parametrize("case", BAD_MTL)
def test_bad_mtl_files_are_named(root, tmp_path, capsys, case):
    damage, message = BAD_MTL[case]
    path = mtl_file(root)
    path.write_text("\n".join(damage(path.read_text().splitlines())) + "\n")
    code = eval_main([str(tmp_path / "pred"), "--data-root", str(root), "--mtl"])
    named_error(capsys, "abaw-eval", code, f"{path}{message}")


# ------------------------------------------------------------------------------------------------ face crops

def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _png(array: np.ndarray, path: Path, mode: str | None = None) -> None:
    """Write lossless pixels under the crop's own name (.jpg): PIL reads a crop by its content."""
    Image.fromarray(array, mode=mode).save(path, format="PNG")


# case -> (write the variant at path, turn the variant at path into the same pixels written plainly; None: the
# reference has no crop there)
CROP_VARIANTS = {
    "16-bit greyscale PNG": (
        lambda p, rgb: _png((_grey(rgb).astype(np.uint16) * 257), p),
        lambda p, rgb: _png(_grey(rgb), p)),
    "8-bit PNG under a .jpg name": (lambda p, rgb: _png(rgb, p), lambda p, rgb: _png(rgb, p)),
    "greyscale JPEG": (
        lambda p, rgb: Image.fromarray(_grey(rgb)).save(p, format="JPEG", quality=95),
        lambda p, rgb: _png(np.repeat(np.asarray(Image.open(p))[..., None], 3, axis=2), p)),
    "RGBA PNG": (lambda p, rgb: _png(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)]), p, "RGBA"),
                 lambda p, rgb: _png(rgb, p)),
    "a 224-pixel crop": (
        lambda p, rgb: _png(np.repeat(np.repeat(rgb, 2, axis=0), 2, axis=1), p),
        lambda p, rgb: Image.open(p).convert("RGB").resize((32, 32), Image.Resampling.BILINEAR).save(p, "PNG")),
    "floating-point TIFF": (lambda p, rgb: Image.fromarray(_grey(rgb).astype(np.float32), "F").save(p, "TIFF"),
                            None),
    "a dangling symbolic link": (lambda p, rgb: os.symlink(p.with_name("gone.jpg"), p), None),
}
CORRECT_CROPS = [case for case, (_, reference) in CROP_VARIANTS.items() if reference is not None]


def _grey(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"))


@pytest.fixture(scope="module")
def crop_predictions(synth_root, tmp_path_factory):
    """Predictions of three copies of the tree: crops of VAL_VIDEO rewritten in each variant's way (one frame
    each), the same frames as the reference writes them, and the same frames deleted. 'The same' reads as the
    reference and never as the deleted crop, unless the variant is a documented fallback."""
    base = tmp_path_factory.mktemp("crops")
    trees = {name: Path(shutil.copytree(synth_root, base / name)) for name in ("variants", "reference", "deleted")}
    crops = {int(p.stem) for p in (synth_root / "cropped_aligned" / VAL_VIDEO).glob("*.jpg")}
    usable = [f for f in sorted(crops) if f - 1 in crops and f > 1]  # deleting f shows crop f - 1 instead
    chosen = [usable[0]]
    for f in usable:
        if f >= chosen[-1] + 7:  # windows of different variants do not overlap
            chosen.append(f)
    frames = dict(zip(CROP_VARIANTS, chosen))
    assert len(frames) == len(CROP_VARIANTS)
    for case, frame in frames.items():
        write, reference = CROP_VARIANTS[case]
        paths = {name: tree / "cropped_aligned" / VAL_VIDEO / f"{frame:05d}.jpg" for name, tree in trees.items()}
        rgb = 255 - _pixels(paths["variants"])  # a face unlike its neighbours, so that reading it shows
        for name in ("variants", "reference"):
            paths[name].unlink()
            write(paths[name], rgb)
        if reference is None:
            paths["reference"].unlink()
        else:
            reference(paths["reference"], rgb)
        paths["deleted"].unlink()
    stray = trees["variants"] / "cropped_aligned" / AVI_VIDEO
    (stray / "Thumbs.db").write_bytes(b"\x00" * 64)
    (stray / "notes.txt").write_text("crops extracted by hand\n")
    run = fake_run(base / "run", "model.modalities=[visual]")
    predictions = {}
    with pytest.MonkeyPatch.context() as patch:
        records = []
        patch.setattr(logging.getLogger("abaw.data.clips"), "warning", lambda *a: records.append(a[0] % a[1:]))
        for name, tree in trees.items():
            assert predict(run, tree, base / f"pred_{name}") == 0
            predictions[name] = {v: read_predictions(p).to_numpy() for v, p in prediction_files(base / f"pred_{name}").items()}
    return {"predictions": predictions, "frames": frames, "warnings": records, "trees": trees}


@pytest.mark.parametrize("case", CROP_VARIANTS)
def test_crop_variants_read_as_their_pixels_or_as_missing(crop_predictions, case):
    """Correct result for the readable variants: the predictions of the window rows that show the crop equal
    those of the same pixels written plainly, and differ from the crop deleted. Fallback for the others: the
    crop counts as missing, with a warning naming it."""
    frame = crop_predictions["frames"][case]
    got, want, deleted = (crop_predictions["predictions"][name][VAL_VIDEO] for name in ("variants", "reference",
                                                                                       "deleted"))
    rows = [frame - 1, frame - 1 + 5]  # windows of 2 faces 0.2 s apart at 25 fps: frame f shows in rows f, f + 5
    np.testing.assert_allclose(got[rows], want[rows], atol=1e-6)
    path = crop_predictions["trees"]["variants"] / "cropped_aligned" / VAL_VIDEO / f"{frame:05d}.jpg"
    warned = [w for w in crop_predictions["warnings"] if str(path) in w]
    if case in CORRECT_CROPS:
        assert not np.allclose(got[rows[0]], deleted[rows[0]], atol=1e-6)
        assert not warned
    else:
        np.testing.assert_allclose(got[rows], deleted[rows], atol=1e-6)
        assert warned and "cannot read face crop" in warned[0]


def test_stray_files_in_a_crop_folder_are_ignored(crop_predictions):
    got, want = (crop_predictions["predictions"][name][AVI_VIDEO] for name in ("variants", "reference"))
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------------------------------------ audio

def write_avi(path: Path, n_frames: int, fps: int, audio: np.ndarray, rate: int) -> None:
    """A video file of ``n_frames`` black frames with ``audio`` (channels, samples) as 16-bit PCM, whose channel
    layout follows the channel count."""
    layouts = {1: "mono", 2: "stereo", 6: "5.1"}
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = 16, 16, "yuv420p"
        sound = container.add_stream("pcm_s16le", rate=rate, layout=layouts[len(audio)])
        for start in range(0, audio.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[:, start:start + 1024]), format="fltp",
                                               layout=layouts[len(audio)])
            frame.sample_rate, frame.pts = rate, start
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
        for _ in range(n_frames):
            container.mux(video.encode(av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")))
        container.mux(video.encode(None))


AUDIO_VARIANTS = {"mono": 1, "stereo": 2, "5.1 (6 channels)": 6, "2 s short": 1}


@pytest.fixture(scope="module")
def audio_predictions(synth_root, tmp_path_factory):
    """Audio-visual predictions of trees whose .avi validation video carries one voice in each variant's way."""
    base = tmp_path_factory.mktemp("audio")
    run = fake_run(base / "run")
    n_frames = int(build_manifest(discover(synth_root), "val").videos.at[AVI_VIDEO, "n_frames"])
    rate, fps = 16000, 25
    t = np.arange(n_frames * rate // fps) / rate
    voice = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 1.5 * t)) / 2).astype(np.float32)
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ABAW_CACHE", str(base / "cache"))
        records = []
        patch.setattr(logging.getLogger("abaw.data.audio"), "warning", lambda *a: records.append(a[0] % a[1:]))
        for case, channels in AUDIO_VARIANTS.items():
            tree = Path(shutil.copytree(synth_root, base / case.split()[0]))
            sound = voice[: len(voice) - 2 * rate] if case == "2 s short" else voice
            write_avi(tree / "batch2" / f"{AVI_VIDEO}.avi", n_frames, fps, np.tile(sound, (channels, 1)), rate)
            assert predict(run, tree, base / f"pred_{case}") == 0
            out[case] = {"predictions": read_predictions(base / f"pred_{case}" / f"{AVI_VIDEO}.csv").to_numpy(),
                         "file": tree / "batch2" / f"{AVI_VIDEO}.avi"}
    return out, records


@pytest.mark.parametrize("case", ["stereo", "5.1 (6 channels)"])
def test_one_voice_on_several_channels_is_heard_as_in_mono(audio_predictions, case):
    """Correct result: channels are averaged, so a voice on every channel is the voice (FFmpeg's down-mix made
    it 1.4 times as loud in stereo, 3.4 times in 5.1)."""
    out, records = audio_predictions
    np.testing.assert_allclose(out[case]["predictions"], out["mono"]["predictions"], atol=2e-6)
    assert not [r for r in records if str(out[case]["file"]) in r]


def test_an_audio_track_shorter_than_its_video_is_warned_about(audio_predictions):
    """Fallback: the last two seconds hear silence, and a warning names the file and both lengths."""
    out, records = audio_predictions
    warned = [r for r in records if str(out["2 s short"]["file"]) in r]
    assert len(warned) == 1 and "its audio track lasts 2.36 s but its video 4.36 s" in warned[0], records
    early, late = out["2 s short"]["predictions"], out["mono"]["predictions"]
    np.testing.assert_allclose(early[:50], late[:50], atol=2e-6)  # windows of 1 s that end before the cut


@pytest.mark.parametrize("content", [b"", b"not a video\n"])
def test_an_unreadable_video_file_is_named(root, tmp_path, capsys, content):
    path = root / "batch2" / f"{AVI_VIDEO}.avi"
    path.write_bytes(content)
    code = predict(fake_run(tmp_path / "run"), root, tmp_path / "pred")
    named_error(capsys, "abaw-predict", code, f"{path}: cannot open the video file")
    assert not (tmp_path / "pred").exists()


# ---------------------------------------------------------------------------------------------------- configs

BAD_CONFIGS = {  # case -> (config text, or None for tiny.yaml; overrides; what the error line names)
    "empty file": ("", [], "{path}: the config is empty"),
    "comments only": ("# to be written\n", [], "{path}: the config is empty"),
    "section twice": ("model:\n  backbone: test_byobnet\ntrain:\n  lr: 0.1\nmodel:\n  dropout: 0.2\n", [],
                      "{path}: cannot read the config: line 5: 'model' is written twice"),
    "key twice": ("train:\n  lr: 0.1\n  epochs: 3\n  lr: 0.2\n", [],
                  "{path}: cannot read the config: line 4: 'lr' is written twice"),
    "YAML syntax": ("train:\n  lr: [0.1\n", [], "{path}: cannot read the config"),
    "not UTF-8": (b"train:\n  lr: 0.1 # r\xe9glage\n", [], "{path}: cannot read the config"),
    "a section as a list": ("train:\n  - 1\n", [], "{path}: train: expected a mapping"),
    "lr NaN": ("train:\n  lr: .nan\n", [], "{path}: train: TrainConfig.lr: expected a positive number, found nan"),
    "lr negative": (None, ["train.lr=-0.001"], "train.lr=-0.001': train: TrainConfig.lr: expected a positive number"),
    "lr 0": (None, ["train.lr=0"], "TrainConfig.lr: expected a positive number, found 0.0"),
    "batch size 0": (None, ["train.batch_size=0"], "TrainConfig.batch_size: expected at least 1, found 0"),
    "epochs 0": (None, ["train.epochs=0"], "TrainConfig.epochs: expected at least 1, found 0"),
    "warm-up negative": (None, ["train.warmup_epochs=-1"], "TrainConfig.warmup_epochs: expected 0 or more"),
    "dropout 1.5": (None, ["model.dropout=1.5"], "ModelConfig.dropout: expected in [0, 1), found 1.5"),
    "window of 0 faces": (None, ["data.window_frames=0"], "DataConfig.window_frames: expected at least 1"),
    "validation stride 0": (None, ["data.val_stride=0"], "DataConfig.val_stride: expected at least 1"),
    "a fusion width 0": (None, ["model.fusion_dims=[32,0]"], "ModelConfig.fusion_dims: expected at least 1 for "
                                                             "each value, found [32, 0]"),
    "temperature 0": (None, ["distill.temperature=0"], "DistillConfig.temperature: expected a positive number"),
    "unknown backbone": (None, ["model.backbone=resnet9000"], "model.backbone 'resnet9000' is not a timm model"),
    "unknown fusion": (None, ["model.fusion=sum"], "model.fusion is 'sum'; choose one of concat, jca, transformer"),
    "no modality": (None, ["model.modalities=[]"], "model.modalities []: distinct names among visual, audio"),
    "an unknown task": (None, ["data.tasks=[va,expr,mtl]"], "data.tasks ['va', 'expr', 'mtl']: distinct names"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_configs_stop_the_recipe_naming_file_and_key(tmp_path, capsys, case):
    text, overrides, message = BAD_CONFIGS[case]
    path = TINY
    if text is not None:
        path = tmp_path / "config.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    code = recipe("mtl_teacher")(["--config", str(path), f"train.out_dir={tmp_path / 'run'}", *overrides])
    named_error(capsys, "mtl_teacher.py", code, message.format(path=path))
    assert not (tmp_path / "run").exists()


def test_a_config_directory_is_named(tmp_path, capsys):
    code = recipe("mtl_teacher")(["--config", str(tmp_path), f"train.out_dir={tmp_path / 'run'}"])
    named_error(capsys, "mtl_teacher.py", code, f"{tmp_path}: cannot read the config")


def test_scientific_notation_is_a_number(tmp_path):
    """Correct result: YAML 1.1 reads ``1e-4`` (no dot) as a string; the config reads it as the number."""
    path = tmp_path / "config.yaml"
    path.write_text("train:\n  lr: 1e-4\n  weight_decay: 5E-2\n")
    config = load_config(path)
    assert config.train.lr == 1e-4 and config.train.weight_decay == 0.05


class Pickled:  # an object a weights file must never rebuild
    pass


def _backbone_state() -> dict:
    model = build_model(load_config(TINY).model)
    return {k: v.clone() for k, v in model.encoders["visual"].backbone.state_dict().items()}


BAD_WEIGHTS = {  # case -> (write the file at path, what the error says)
    "missing": (lambda path: None, "model.weights: no such file"),
    "pickled code": (lambda path: torch.save({"conv.weight": Pickled()}, path), "refusing to unpickle"),
    "keys of another model": (lambda path: save_file({"fc.weight": torch.zeros(3, 3)}, str(path)),
                              "none of its 1 keys belongs to the backbone"),
    "truncated": (lambda path: path.write_bytes(_safetensors_bytes()[:200]), "safetensors"),
    "shapes of another model": (
        lambda path: save_file({k: torch.zeros(tuple(s + 1 for s in v.shape)) for k, v in _backbone_state().items()},
                               str(path)), "size mismatch"),
}


def _safetensors_bytes() -> bytes:
    return save({k: v.contiguous() for k, v in _backbone_state().items()})


@pytest.mark.parametrize("case", BAD_WEIGHTS)
def test_a_bad_model_weights_file_is_named(tmp_path, capsys, case):
    write, message = BAD_WEIGHTS[case]
    path = tmp_path / ("weights.pth" if case == "pickled code" else "weights.safetensors")
    write(path)
    code = recipe("mtl_teacher")(["--config", str(TINY), f"train.out_dir={tmp_path / 'run'}",
                                  f"model.weights={path}"])
    named_error(capsys, "mtl_teacher.py", code, str(path), message)
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------------ run folders

BAD_RUNS = {  # case -> (damage to a run folder, the file the error names, what it says)
    "empty config.yaml": (lambda run: (run / "config.yaml").write_text(""), "config.yaml", "the config is empty"),
    "config.yaml with a key twice": (
        lambda run: (run / "config.yaml").write_text((run / "config.yaml").read_text() + "name: again\n"),
        "config.yaml", "is written twice"),
    "zero-byte weights": (lambda run: (run / "best/model.safetensors").write_bytes(b""),
                          "best/model.safetensors", "cannot read the weights"),
    "truncated weights": (lambda run: _truncate(run / "best/model.safetensors"), "best/model.safetensors",
                          "cannot read the weights"),
    "weights of another architecture": (
        lambda run: (run / "config.yaml").write_text((run / "config.yaml").read_text().replace(
            "temporal_dim: 32", "temporal_dim: 48")), "best/model.safetensors", "does not fit the model"),
    "no last checkpoint": (lambda run: None, "last/model.safetensors", "no last checkpoint"),
}


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("case", BAD_RUNS)
def test_a_bad_run_folder_stops_abaw_predict_naming_the_file(root, tmp_path, capsys, case):
    damage, name, message = BAD_RUNS[case]
    run = fake_run(tmp_path / "run")
    damage(run)
    extra = ["--checkpoint", "last"] if case == "no last checkpoint" else []
    named_error(capsys, "abaw-predict", predict(run, root, tmp_path / "pred", *extra), run / name, message)
    assert not (tmp_path / "pred").exists()


def test_a_run_folder_that_is_a_file_is_named(root, tmp_path, capsys):
    run = _file(tmp_path / "run")
    named_error(capsys, "abaw-predict", predict(run, root, tmp_path / "pred"), run / "config.yaml")


def test_a_truncated_teacher_stops_the_student_naming_it(root, tmp_path, capsys):
    teacher = fake_run(tmp_path / "teacher")
    _truncate(teacher / "best/model.safetensors")
    code = recipe("student_kd")(["--config", str(TINY), "--teacher", str(teacher), f"data.root={root}",
                                 f"train.out_dir={tmp_path / 'student'}", "model.modalities=[visual]"])
    named_error(capsys, "student_kd.py", code, teacher / "best/model.safetensors", "cannot read the weights")
    assert not (tmp_path / "student").exists()


def test_weights_left_beside_an_interrupted_swap_are_used(root, tmp_path):
    """Correct result: a crash between the two renames of a new best checkpoint leaves only ``best.old``, the
    previous complete checkpoint; abaw-predict reads it, as it would have read ``best``."""
    run = fake_run(tmp_path / "run")
    assert predict(run, root, tmp_path / "pred_best") == 0
    (run / "best").rename(run / "best.old")
    assert predict(run, root, tmp_path / "pred_old") == 0
    for video, path in prediction_files(tmp_path / "pred_best").items():
        assert (tmp_path / "pred_old" / path.name).read_bytes() == path.read_bytes(), video


# ------------------------------------------------------------------------------------------- command lines

@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "0"], "argument --batch-size: must be 1 or more, found 0"),
    (["--batch-size", "many"], "argument --batch-size: expected an integer, found 'many'"),
    (["--num-workers", "-1"], "argument --num-workers: must be 0 or more, found -1"),
])
def test_abaw_predict_usage_errors(root, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        predict(tmp_path / "run", root, tmp_path / "pred", *argv)
    usage_error(capsys, exit_.value.code, message)


def test_abaw_eval_refuses_two_sources_of_thresholds(root, tmp_path, capsys):
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps([0.5] * 12))
    code = eval_main([str(tmp_path / "pred"), "--data-root", str(root), "--thresholds", str(path),
                      "--search-thresholds"])
    usage_error(capsys, code, "--thresholds and --search-thresholds exclude each other")


@pytest.mark.parametrize("edition", ["99", "2", "0"])
def test_abaw_submit_refuses_an_unknown_edition(root, tmp_path, capsys, edition):
    code = submit_main([str(tmp_path / "pred"), "--data-root", str(root), "--edition", edition, "--out",
                        str(tmp_path / "sub")])
    usage_error(capsys, code, f"--edition {edition}: the formats of the editions 3 to 11 are known")
    assert not (tmp_path / "sub").exists()


# ------------------------------------------------------------------------------------------------ predictions

def _edit_csv(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


def _set(lines: list[str], row: int, column: str, value: str) -> list[str]:
    header = lines[0].split(",")
    fields = lines[row].split(",")
    fields[header.index(column)] = value
    return [*lines[:row], ",".join(fields), *lines[row + 1:]]


def _zero_expr(lines: list[str]) -> list[str]:
    for column in ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other"):
        lines = _set(lines, 3, column, "0.000000")
    return lines


BAD_PREDICTIONS = {  # case -> (damage to the lines or bytes of VAL_VIDEO's file, what the error says after it)
    "all-zero EXPR probabilities": (_zero_expr, ":4: the EXPR probabilities sum to 0, not 1"),
    "EXPR probabilities summing to 2": (lambda lines: _set(lines, 5, "Neutral", "1.000000"),
                                        ":6: the EXPR probabilities sum to"),
    "a byte that is not UTF-8": (b"\xff", ": cannot be read as CSV"),
    "zero bytes": (b"", ": cannot be read as CSV"),
    "header only": (lambda lines: lines[:1], ": ends after frame none"),
    "an unknown column": (lambda lines: [lines[0] + ",extra", *(line + ",0" for line in lines[1:])],
                          ":1: header must be 'frame' and task columns"),
    "a frame twice": (lambda lines: [*lines[:3], lines[2], *lines[3:]], ":4: frame 2 where frame 3 is expected"),
    "an AU probability above 1": (lambda lines: _set(lines, 2, "AU1", "1.000001"), ":3: AU value outside [0, 1]"),
}


def _damage_predictions(path: Path, damage) -> None:
    if isinstance(damage, bytes):
        path.write_bytes(damage + path.read_bytes() if damage else b"")
    else:
        _edit_csv(path, damage)


@pytest.mark.parametrize("case", BAD_PREDICTIONS)
def test_bad_predictions_stop_abaw_eval_naming_the_file(root, tmp_path, capsys, case):
    damage, message = BAD_PREDICTIONS[case]
    pred = write_random_predictions(tmp_path / "pred", build_manifest(discover(root), "val"))
    path = pred / f"{VAL_VIDEO}.csv"
    _damage_predictions(path, damage)
    named_error(capsys, "abaw-eval", eval_main([str(pred), "--data-root", str(root)]), f"{path}{message}")


@pytest.mark.parametrize("case, message", [("all-zero EXPR probabilities", ":4: the EXPR probabilities sum to 0"),
                                           ("a byte that is not UTF-8", ":1: not UTF-8 text")])
def test_bad_predictions_stop_abaw_submit_naming_the_file(root, tmp_path, capsys, case, message):
    pred = write_random_predictions(tmp_path / "pred", build_manifest(discover(root), "test"))
    path = sorted(prediction_files(pred).values())[0]
    _damage_predictions(path, BAD_PREDICTIONS[case][0])
    code = submit_main([str(pred), "--data-root", str(root), "--edition", "7", "--out", str(tmp_path / "sub")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and err.startswith("abaw-submit: "), err
    assert f"{path}{message}" in err, err
    assert not (tmp_path / "sub").exists() or not any((tmp_path / "sub").iterdir())


HARMLESS_PREDICTIONS = {  # case -> damage to every predictions file; the scores must not change
    "CRLF line ends": lambda path: path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n")),
    "scientific notation": lambda path: _edit_csv(path, lambda lines: _set(lines, 1, "valence", "%.6e" % float(
        lines[1].split(",")[1]))),
}


@pytest.mark.parametrize("case", HARMLESS_PREDICTIONS)
def test_harmless_prediction_variants_score_as_the_clean_files(root, tmp_path, case):
    pred = write_random_predictions(tmp_path / "pred", build_manifest(discover(root), "val"))
    clean = scores(pred, root, tmp_path)
    for path in prediction_files(pred).values():
        HARMLESS_PREDICTIONS[case](path)
    assert scores(pred, root, tmp_path) == clean


def test_stray_files_in_a_predictions_folder_are_ignored(root, tmp_path):
    """Correct result: notes, a hidden temporary file left by a killed write, and a subfolder are not read."""
    pred = write_random_predictions(tmp_path / "pred", build_manifest(discover(root), "val"))
    clean = scores(pred, root, tmp_path)
    (pred / "notes.txt").write_text("run 3\n")
    (pred / f".{VAL_VIDEO}.csv.1234.abcd.tmp").write_text("frame,valence\n1,0.")
    (pred / "old").mkdir()
    shutil.copy(pred / f"{VAL_VIDEO}.csv", pred / "old" / f"{VAL_VIDEO}.csv")
    assert scores(pred, root, tmp_path) == clean


def test_predictions_of_one_task_score_that_task_only(root, tmp_path, caplog):
    """Fallback: a folder with the VA columns only is scored on VA, and the log says why EXPR and AU are not."""
    manifest = build_manifest(discover(root), "val")
    for video, n_frames in manifest.videos["n_frames"].items():
        write_predictions(tmp_path / "pred", video, np.arange(1, n_frames + 1), {"va": np.zeros((n_frames, 2))})
    with caplog.at_level(logging.WARNING):
        got = scores(tmp_path / "pred", root, tmp_path)
    assert set(got) == {"va"}
    assert "no predictions hold EXPR columns: EXPR not scored" in caplog.text
    assert "no predictions hold AU columns: AU not scored" in caplog.text


def test_a_missing_predictions_folder_is_named(root, tmp_path, capsys):
    code = eval_main([str(tmp_path / "nowhere"), "--data-root", str(root)])
    named_error(capsys, "abaw-eval", code, f"{tmp_path / 'nowhere'}: no such predictions directory")


# ------------------------------------------------------------------------------------------------ submissions

@pytest.fixture
def test_predictions(root, tmp_path):
    return write_random_predictions(tmp_path / "pred", build_manifest(discover(root), "test"))


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot read"),
    ("[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]", "12"),
    ("[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1.5]", "[0, 1]"),
])
def test_bad_thresholds_are_named(root, test_predictions, tmp_path, capsys, content, message):
    path = tmp_path / "thresholds.json"
    path.write_text(content)
    code = submit_main([str(test_predictions), "--data-root", str(root), "--edition", "7", "--out",
                        str(tmp_path / "sub"), "--thresholds", str(path)])
    named_error(capsys, "abaw-submit", code, str(path), message)
    assert not (tmp_path / "sub").exists()


def test_a_submission_folder_that_is_a_file_is_named(root, test_predictions, tmp_path, capsys):
    out = _file(tmp_path / "sub")
    code = submit_main([str(test_predictions), "--data-root", str(root), "--edition", "7", "--out", str(out)])
    named_error(capsys, "abaw-submit", code, str(out))
    assert out.read_text() == "not a folder\n"


def test_check_names_a_submission_row_that_went_missing(root, test_predictions, tmp_path, capsys):
    common = ["--data-root", str(root), "--edition", "7"]
    assert submit_main([str(test_predictions), *common, "--out", str(tmp_path / "sub"), "--tasks", "va"]) == 0
    path = tmp_path / "sub" / "VA_Estimation_Challenge.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:5] + lines[6:]) + "\n")
    capsys.readouterr()
    assert submit_main(["--check", str(tmp_path / "sub"), *common]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(path) in err


def test_hand_written_predictions_without_a_record_are_submitted_with_a_warning(root, test_predictions, tmp_path,
                                                                                 caplog):
    """Fallback: a folder where no file records its run (written by hand, or by an earlier version) is used as
    it is, and the log says that nothing tells which run wrote it."""
    with caplog.at_level(logging.WARNING):
        assert submit_main([str(test_predictions), "--data-root", str(root), "--edition", "7", "--out",
                            str(tmp_path / "sub")]) == 0
    assert f"{test_predictions}: no record says which run wrote these" in caplog.text


# --------------------------------------------------------------------------- interrupted and concurrent runs

HOLD = """
import sys, time
from abaw.folder_lock import hold_folder
with hold_folder(sys.argv[1], "predictions folder"):
    print("held", flush=True)
    time.sleep(120)
"""

# abaw-predict that SIGKILLs itself when it starts writing its second predictions file.
KILL_AT_SECOND_FILE = """
import os, signal, sys
import abaw.predict
write, calls = abaw.predict.write_predictions, [0]
def killing(*args, **kwargs):
    calls[0] += 1
    if calls[0] == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return write(*args, **kwargs)
abaw.predict.write_predictions = killing
sys.exit(abaw.predict.main(sys.argv[1:]))
"""


def _holder(folder: Path) -> subprocess.Popen:
    """Another process that holds ``folder`` until it is killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_writer_of_a_predictions_folder_is_refused_naming_the_holder(root, tmp_path, capsys):
    out = tmp_path / "pred"
    holder = _holder(out)
    try:
        code = predict(fake_run(tmp_path / "run"), root, out)
        named_error(capsys, "abaw-predict", code, f"{out}: this predictions folder is in use by process {holder.pid}")
        assert not list(out.glob("*.csv"))
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_process_does_not_block(root, tmp_path):
    """Correct result: the holder was killed (SIGKILL), its lock file stays, and the next writer goes ahead."""
    out = tmp_path / "pred"
    holder = _holder(out)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert str(holder.pid) in (out / LOCK_FILE).read_text()
    assert predict(fake_run(tmp_path / "run", "model.modalities=[visual]"), root, out) == 0
    assert len(prediction_files(out)) == 2


@pytest.fixture
def two_runs(tmp_path):
    """Two runs of the same architecture with different weights."""
    first = fake_run(tmp_path / "run_a", "model.modalities=[visual]")
    second = fake_run(tmp_path / "run_b", "model.modalities=[visual]")
    weights = second / "best/model.safetensors"
    torch.manual_seed(1)
    save_file({k: v * (1 + 0.1 * torch.randn_like(v)) if v.is_floating_point() else v
               for k, v in load_file(weights).items()}, str(weights))
    return first, second


def test_predictions_killed_midway_over_another_runs_are_refused(root, tmp_path, two_runs, capsys, caplog):
    """No mixed work: run B writes over run A's test predictions and is killed after its first file. abaw-submit
    refuses the folder, naming both runs, unless --allow-mixed-runs (then a warning); B, run again to the end,
    leaves a folder of its own that is submitted."""
    first, second = two_runs
    out = tmp_path / "pred"
    assert predict(first, root, out, split="test") == 0
    argv = [str(second), "--data-root", str(root), "--split", "test", "--out", str(out), "--num-workers", "0"]
    killed = subprocess.run([sys.executable, "-c", KILL_AT_SECOND_FILE, *argv], capture_output=True, text=True,
                            env={**os.environ}, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert "holds predictions of another run" in killed.stderr  # abaw-predict said so when it started
    common = ["--data-root", str(root), "--edition", "7"]
    code = submit_main([str(out), *common, "--out", str(tmp_path / "sub")])
    line = named_error(capsys, "abaw-submit", code, f"{out}: these predictions mix runs", str(first.resolve()),
                       str(second.resolve()))
    assert "--allow-mixed-runs" in line and not (tmp_path / "sub").exists()
    with caplog.at_level(logging.WARNING):
        assert submit_main([str(out), *common, "--out", str(tmp_path / "sub_mixed"), "--allow-mixed-runs"]) == 0
    assert "used anyway: --allow-mixed-runs" in caplog.text
    assert predict(second, root, out, split="test") == 0
    assert submit_main([str(out), *common, "--out", str(tmp_path / "sub")]) == 0


def test_a_file_without_a_record_among_recorded_ones_is_refused(root, tmp_path, two_runs, capsys):
    """No mixed work: a file replaced by hand (or by a process killed before it could record it) no longer
    matches its record, so the folder mixes a known run with an unknown one."""
    first, _ = two_runs
    out = tmp_path / "pred"
    assert predict(first, root, out) == 0
    path = out / f"{VAL_VIDEO}.csv"
    _edit_csv(path, lambda lines: _set(lines, 1, "valence", "0.123456"))
    code = eval_main([str(out), "--data-root", str(root)])
    named_error(capsys, "abaw-eval", code, f"{out}: these predictions mix runs", "1 have no record of their run",
                VAL_VIDEO)
    assert (out / WRITTEN_BY).is_dir()


TRAIN = [str(ROOT / "recipes" / "mtl_teacher.py"), "--config", str(TINY)]

# The recipe as its own __main__, waiting at its first training step until the file argv[1] exists: the test
# starts a second training while this one is surely inside its run folder.
WAIT_AT_FIRST_STEP = """
import runpy, sys, time
from pathlib import Path
from abaw.engine.objectives import MultitaskObjective
go, call = Path(sys.argv[1]), MultitaskObjective.__call__
deadline = time.time() + 300
def waiting(self, *args, **kwargs):
    while not go.exists() and time.time() < deadline:
        time.sleep(0.1)
    return call(self, *args, **kwargs)
MultitaskObjective.__call__ = waiting
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def contested_run(synth_root, tmp_path_factory):
    """A training started while another one trains in the same folder; the first is left to finish."""
    base = tmp_path_factory.mktemp("contested")
    run = base / "run"
    common = [f"data.root={synth_root}", f"data.cache_dir={base / 'cache'}", f"train.out_dir={run}",
              "model.modalities=[visual]", "data.train_clips=32"]
    go = base / "go"
    first = subprocess.Popen([sys.executable, "-c", WAIT_AT_FIRST_STEP, str(go), *TRAIN, *common, "train.epochs=3"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while str(first.pid) not in (run / LOCK_FILE).read_text() if (run / LOCK_FILE).exists() else True:
            assert first.poll() is None and time.time() < deadline, "the first training never held its folder"
            time.sleep(0.2)
        second = subprocess.run([sys.executable, *TRAIN, *common, "train.epochs=1", "train.lr=0.01"],
                                capture_output=True, text=True, timeout=300)
        go.touch()
        out, err = first.communicate(timeout=300)
    finally:
        first.kill()  # a no-op once it has ended; on a failure above it is not left waiting
        first.wait()
    return {"run": run, "common": common, "first": (first.returncode, out, err), "second": second, "pid": first.pid}


def test_a_second_training_in_a_busy_run_folder_is_refused(contested_run):
    """No lost work: the second training stops with one line naming the folder and the first one's process;
    the first finishes its three epochs, and the folder holds its config and metrics."""
    second, run = contested_run["second"], contested_run["run"]
    assert second.returncode == 1 and "Traceback" not in second.stderr, second.stderr[-2000:]
    lines = [line for line in second.stderr.splitlines() if line.startswith("mtl_teacher.py: ")]
    assert lines == [f"mtl_teacher.py: {run}: this run folder is in use by process {contested_run['pid']} "
                     + lines[0].split(f"process {contested_run['pid']} ", 1)[1]]
    code, out, err = contested_run["first"]
    assert code == 0, err[-2000:]
    assert [line.split(",")[0] for line in (run / "metrics.csv").read_text().splitlines()[1:]] == ["1", "2", "3"]
    assert "lr: 0.001" in (run / "config.yaml").read_text()  # tiny.yaml's, not the second run's 0.01


def test_a_finished_run_resumes_to_itself(contested_run, capsys):
    """Correct result: the same command again, over the lock file its finished process left, resumes the run
    at its last epoch and trains nothing more."""
    run = contested_run["run"]
    before = {name: (run / name).read_bytes() for name in ("metrics.csv", "best/model.safetensors")}
    assert recipe("mtl_teacher")(["--config", str(TINY), *contested_run["common"], "train.epochs=3"]) == 0
    assert "resumed" in capsys.readouterr().out
    assert {name: (run / name).read_bytes() for name in before} == before


def test_another_config_does_not_resume_a_finished_run(contested_run, capsys):
    """No mixed work: a run folder that holds checkpoints of another config is not continued under this one."""
    run = contested_run["run"]
    before = (run / "config.yaml").read_bytes()
    code = recipe("mtl_teacher")(["--config", str(TINY), *contested_run["common"], "train.lr=0.01"])
    named_error(capsys, "mtl_teacher.py", code, f"{run}: holds a run of another config (train.lr 0.001 -> 0.01)")
    assert (run / "config.yaml").read_bytes() == before


def test_weights_that_predict_nan_are_named_and_write_nothing(root, tmp_path, capsys):
    """A diverged run (NaN weights) would write NaN rows that every reader refuses later; abaw-predict stops at
    the first video instead, naming the file it did not write."""
    run = fake_run(tmp_path / "run", "model.modalities=[visual]")

    weights = load_file(run / "best/model.safetensors")
    save_file({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in weights.items()},
              str(run / "best/model.safetensors"))
    code = predict(run, root, tmp_path / "pred")
    named_error(capsys, "abaw-predict", code, "the model predicts NaN or infinite values")
    assert not list((tmp_path / "pred").glob("*.csv"))


def test_training_counts_a_video_in_both_splits_and_a_short_audio_track(root, tmp_path, caplog):
    """Fallbacks of the protocol checks at start: a validation video that training also reads (its annotation
    files copied into Train_Set) and an audio track 2 s shorter than its video are each warned about, naming
    them, and listed in RUN/data_report.json."""
    for task in ("va", "expr", "au"):
        source = annotation(root, task)
        shutil.copy(source, source.parent.parent / "Train_Set" / source.name)
    n_frames = int(build_manifest(discover(root), "val").videos.at[AVI_VIDEO, "n_frames"])
    short = root / "batch2" / f"{AVI_VIDEO}.avi"
    write_avi(short, n_frames, 25, np.full((2, (n_frames // 25 - 2) * 16000), 0.1, np.float32), 16000)
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        assert recipe("mtl_teacher")(["--config", str(TINY), f"data.root={root}", f"data.cache_dir={tmp_path / 'c'}",
                                      f"train.out_dir={run}", "train.epochs=1", "train.max_steps=1"]) == 0
    report = json.loads((run / "data_report.json").read_text())
    assert report["videos_in_two_splits"] == [VAL_VIDEO]
    assert report["videos_with_short_audio"] == [str(short)]
    assert f"videos in both the training and the validation split, which makes the validation scores " \
           f"optimistic: 1 ({VAL_VIDEO})" in caplog.text
    assert f"whose audio track ends early, so that their last clips hear silence: 1 of" in caplog.text
