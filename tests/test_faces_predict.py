"""abaw-predict RUN --video FILE: faces found by abaw-faces, a trained run's predictions for every frame, the PNG
and the rendered MP4; with a tiny teacher (the file's own audio) and a tiny visual-only run trained for one epoch."""

import importlib.util
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from abaw.faces.cli import main as faces_main
from abaw.faces.render import PANEL_WIDTH
from abaw.predict import main as predict_main
from abaw.tasks import AU_NAMES, EXPR_CLASSES

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "recipes" / "configs" / "tiny.yaml"
HEADER = ["frame", "valence", "arousal", *EXPR_CLASSES, *AU_NAMES]  # docs/design.md's predictions format


def _train(name, synth_root, base, overrides):
    spec = importlib.util.spec_from_file_location("mtl_teacher", ROOT / "recipes" / "mtl_teacher.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = base / name
    assert module.main(["--config", str(TINY), f"data.root={synth_root}", f"data.cache_dir={base / 'cache'}",
                        f"train.out_dir={run}", "train.epochs=1", *overrides]) == 0
    return run


@pytest.fixture(scope="module")
def tiny_runs(synth_root, tmp_path_factory):
    base = tmp_path_factory.mktemp("video_runs")
    return {"teacher": _train("teacher", synth_root, base, []),
            "visual": _train("visual", synth_root, base, ["model.modalities=[visual]"])}


@pytest.fixture(scope="module")
def faces_found(synth_root, tmp_path_factory):
    """The two-person video's faces, found once: each test copies them to its --out, where abaw-predict --video
    finds the video done (abaw-faces resumes) instead of detecting again."""
    video, _ = _two_person_video(synth_root)
    crops = tmp_path_factory.mktemp("video_faces") / "cropped_aligned"
    assert faces_main([str(video), "--out", str(crops)]) == 0
    return crops


def _out_with_faces(tmp_path, faces_found):
    out = tmp_path / "pred"
    shutil.copytree(faces_found, out / "cropped_aligned")
    return out


def _two_person_video(synth_root):
    manifest = json.loads((synth_root / "synthetic.json").read_text())
    video = next(v for v in manifest["videos"] if len(v["persons"]) == 2)
    return synth_root / video["file"], video


def _decoded(path):
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.mark.parametrize("run", ["teacher", "visual"])
def test_video_predictions_have_a_row_per_frame_per_person(run, tiny_runs, synth_root, faces_found, tmp_path):
    video, entry = _two_person_video(synth_root)
    out = _out_with_faces(tmp_path, faces_found)
    assert predict_main([str(tiny_runs[run]), "--video", str(video), "--out", str(out)]) == 0
    frames = len(_decoded(video))
    for person in entry["persons"]:  # the video's _left and _right people
        table = pd.read_csv(out / f"{person}.csv")
        assert list(table.columns) == HEADER
        assert table["frame"].tolist() == list(range(1, frames + 1))
        assert table[["valence", "arousal"]].abs().le(1).all().all()
        assert np.allclose(table[list(EXPR_CLASSES)].sum(axis=1), 1, atol=1e-4)
        assert table[list(AU_NAMES)].ge(0).all().all() and table[list(AU_NAMES)].le(1).all().all()
    left, right = (pd.read_csv(out / f"{p}.csv") for p in entry["persons"])
    assert not np.allclose(left["valence"], right["valence"]), "two people, two faces, two sets of predictions"
    png = Image.open(out / f"{video.stem}.png")
    assert png.format == "PNG" and png.size[0] == 1200 and png.size[1] > 600
    assert not (out / f"{video.stem}.mp4").exists()  # only with --render
    assert (out / "cropped_aligned" / f"{video.stem}.detections.csv").is_file()


def test_render_draws_the_predictions_beside_every_frame(tiny_runs, synth_root, faces_found, tmp_path):
    video, entry = _two_person_video(synth_root)
    out = _out_with_faces(tmp_path, faces_found)
    assert predict_main([str(tiny_runs["visual"]), "--video", str(video), "--out", str(out), "--render"]) == 0
    source, rendered = _decoded(video), _decoded(out / f"{video.stem}.mp4")
    assert len(rendered) == len(source)
    height, width = source[0].shape[:2]
    assert rendered[0].shape == (height, width + PANEL_WIDTH, 3)
    # The left part is the video itself (up to coding noise and the face boxes drawn on it) ...
    assert np.abs(rendered[-1][:, :width].astype(int) - source[-1]).mean() < 8
    # ... the panel holds text that changes with the frame number at least.
    panels = [frame[:, width:] for frame in rendered]
    assert panels[0].std() > 10 and np.abs(panels[0].astype(int) - panels[-1]).mean() > 0.5


def test_video_argument_errors(tiny_runs, synth_root, tmp_path, capsys):
    video, _ = _two_person_video(synth_root)
    with pytest.raises(SystemExit):
        predict_main([str(tiny_runs["visual"]), "--video", str(video), "--split", "val"])
    assert "--video predicts one file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        predict_main([str(tiny_runs["visual"]), "--data-root", str(synth_root), "--split", "val", "--render",
                      "--out", str(tmp_path / "p")])
    assert "--render draws a --video's predictions" in capsys.readouterr().err
    assert predict_main([str(tiny_runs["visual"]), "--video", str(tmp_path / "none.mp4")]) == 1
    assert "none.mp4: no such video file" in capsys.readouterr().err
