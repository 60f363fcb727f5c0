"""Cached-embedding prediction: the visual backbone once per face crop, windows gathered from the cached
features, each video's file written as soon as it is done. Checked against the per-window computation (the
model on each window's faces, as training runs it), on the tiny synthetic set's validation videos, whose
windows start at frame 1 (faces repeated) and cross frames without a face (retained or black faces)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader

from abaw.config import load_config, save_config
from abaw.data.layout import discover
from abaw.data.manifest import build_manifest
from abaw.data.video_batches import VideoBatches, windows_from_table
from abaw.engine.checkpoint import save_best
from abaw.engine.data import clip_dataset
from abaw.engine.loop import predict_rows
from abaw.models import build_model
from abaw.predict import main as predict_main
from abaw.predict import share_videos
from abaw.prediction_files import prediction_files, read_predictions, task_values, tasks_in

TINY = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "tiny.yaml"
# 4 faces over 0.5 s: at 25-30 fps the window's faces are 4-5 frames apart, so windows overlap but differ.
WINDOW = ["data.window_frames=4", "data.window_seconds=0.5"]


def tiny_config(synth_root, tmp_path, overrides):
    return load_config(TINY, [f"data.root={synth_root}", f"data.cache_dir={tmp_path / 'cache'}", *WINDOW,
                              *overrides])


def random_run(config, run_dir):
    """A run folder with random weights; batch-norm running statistics randomised too, so that a backbone
    left in training mode (batch statistics, which mix the faces of a batch) would give other values."""
    torch.manual_seed(0)
    model = build_model(config.model)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    save_config(config, run_dir / "config.yaml")
    save_best(model, run_dir, {"epoch": 0})
    return model


CASES = {
    "visual-only": ["model.modalities=[visual]"],
    "audio-visual": [],
    "audio-visual-jca": ["model.fusion=jca", "model.attention_width=8"],
    "visual-only-black": ["model.modalities=[visual]", "data.retention=black"],
    "valence-arousal-only": ["model.modalities=[visual]", "model.tasks=[va]", "data.tasks=[va]"],  # RECOLA's heads
}


@pytest.mark.parametrize("case", list(CASES))
def test_cached_prediction_matches_the_per_window_computation(case, synth_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ABAW_CACHE", str(tmp_path / "cache"))
    config = tiny_config(synth_root, tmp_path, CASES[case])
    model = random_run(config, tmp_path / "run")
    common = [str(tmp_path / "run"), "--data-root", str(synth_root), "--split", "val", "--num-workers", "0",
              "--batch-size", "16"]
    assert predict_main([*common, "--out", str(tmp_path / "cached")]) == 0
    outs = ["cached"]
    if case == "visual-only":  # the --per-window flag too (its batches are checked face by face below)
        assert predict_main([*common, "--out", str(tmp_path / "windows"), "--per-window"]) == 0
        outs.append("windows")

    # The reference: the model on each window's T faces, from the clip dataset training uses.
    manifest = build_manifest(discover(synth_root), "val", config.data.tasks, config.data.retention)
    clips = clip_dataset(config, manifest, discover(synth_root))
    reference = predict_rows(model, DataLoader(clips, batch_size=16), Accelerator(cpu=True))
    assert (~manifest.frames["has_face"]).any()  # frames without a face are among those predicted

    videos = manifest.frames["video"].to_numpy()[reference["row"]]
    for out in outs:
        files = prediction_files(tmp_path / out)
        assert set(files) == set(manifest.videos.index)
        for video, path in files.items():
            n_frames = manifest.videos.at[video, "n_frames"]
            table = read_predictions(path, frames=np.arange(1, n_frames + 1))
            assert tasks_in(table) == config.model.tasks  # the columns of the model's tasks, no others
            for task in config.model.tasks:
                # The files hold 6 decimals; rounding adds at most 5e-7.
                np.testing.assert_allclose(task_values(table, task), reference[task][videos == video], atol=1e-5,
                                           err_msg=f"{out} {video} {task}")


def test_cached_batches_rebuild_every_window_from_each_crop_read_once(synth_root, tmp_path):
    """The cached batches' tables, carried from batch to batch as a predictor carries the features, rebuild
    exactly the per-window faces, and each video's distinct crops are read (so encoded) once."""
    config = tiny_config(synth_root, tmp_path, ["model.modalities=[visual]"])
    layout = discover(synth_root)
    clips = clip_dataset(config, build_manifest(layout, "val"), layout)
    cached, windows = VideoBatches(clips, batch_size=7), VideoBatches(clips, batch_size=7, per_window=True)
    assert len(cached) == len(windows) > 2 * len(clips.video_rows())  # several batches per video
    table, read = None, {}
    for a, b in zip(cached, windows):
        assert torch.equal(a["row"], b["row"]) and int(a["video"]) == int(b["video"])
        faces, table = windows_from_table(table, a["faces"].flatten(1), a["reuse"], a["window"])
        assert torch.equal(faces.unflatten(-1, b["faces"].shape[-3:]), b["faces"])
        read[int(a["video"])] = read.get(int(a["video"]), 0) + len(a["faces"])
        if bool(a["last"]):
            table = None
    for video, rows in clips.video_rows().items():
        shown = clips.shown_faces(rows)
        assert read[video] == len(np.unique(shown))
        assert (shown[:, 0] == shown[0, 0]).sum() > 1  # the first windows repeat the video's first face


def test_share_videos_deals_every_video_once_balancing_frames():
    rows = {v: np.arange(n) for v, n in enumerate([100, 90, 50, 40, 30, 5])}
    shares = share_videos(rows, 2)
    assert sorted(v for share in shares for v in share) == list(rows)
    loads = [sum(len(rows[v]) for v in share) for share in shares]
    assert loads == [100 + 40 + 30, 90 + 50 + 5] and all(share == sorted(share) for share in shares)
    assert share_videos(rows, 1) == [list(rows)]
