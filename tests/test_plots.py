"""abaw-eval --plots: PNG files that are valid images of the promised sizes, drawn from the scored numbers."""

import json

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix

from abaw.data.layout import discover
from abaw.data.manifest import build_manifest
from abaw.evaluate import main as eval_main
from abaw.plots import DPI, SIZES, VA_VIDEOS, va_videos
from abaw.prediction_files import write_predictions


@pytest.fixture(scope="module")
def scored(synth_root, tmp_path_factory):
    """Noisy predictions of every validation frame, scored by abaw-eval with --json and --plots."""
    rng = np.random.default_rng(2)
    manifest = build_manifest(discover(synth_root), "val")
    base = tmp_path_factory.mktemp("plots")
    pred = base / "pred"
    for video, rows in manifest.frames.groupby("video", observed=True).indices.items():
        n = len(rows)
        va = np.where(manifest.va()[rows] == -5, 0.0, manifest.va()[rows]) * 0.7 + rng.normal(0, 0.2, (n, 2))
        expr = rng.dirichlet(np.ones(8), n)
        au = rng.random((n, 12))
        write_predictions(pred, video, manifest.frames["frame"].to_numpy()[rows],
                          {"va": np.clip(va, -1, 1), "expr": expr, "au": au})
    plots, scores = base / "plots", base / "scores.json"
    assert eval_main([str(pred), "--data-root", str(synth_root), "--json", str(scores), "--plots", str(plots)]) == 0
    return {"manifest": manifest, "pred": pred, "plots": plots, "scores": json.loads(scores.read_text())}


def va_ranking(manifest):
    """Videos with frames labelled for valence and arousal, most labelled frames first (ties by name)."""
    labelled = (manifest.va() != -5).all(axis=1)
    counts = {}
    for video, flag in zip(manifest.frames["video"], labelled):
        counts[video] = counts.get(video, 0) + int(flag)
    return sorted((v for v in counts if counts[v]), key=lambda v: (-counts[v], v))


def test_plots_are_valid_pngs_of_the_expected_sizes(scored):
    videos = va_videos(scored["manifest"], VA_VIDEOS)
    assert videos == va_ranking(scored["manifest"])[:VA_VIDEOS] and videos
    expected = {f"va_{v}.png": SIZES["va"] for v in videos} | {"expr_confusion.png": SIZES["expr"],
                                                                "au_f1.png": SIZES["au"]}
    assert sorted(p.name for p in scored["plots"].iterdir()) == sorted(expected)
    for name, (width, height) in expected.items():
        with Image.open(scored["plots"] / name) as image:
            image.verify()  # a truncated or corrupt PNG raises here
        with Image.open(scored["plots"] / name) as image:
            assert image.format == "PNG" and image.size == (width * DPI, height * DPI), name
            colours = len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0))
            assert colours > 50, f"{name} looks blank"  # lines, text and colour maps, not an empty canvas


def test_the_plotted_confusion_matrix_is_sklearns(scored):
    """The confusion matrix that expr_confusion.png draws (and --json reports) against scikit-learn's."""
    manifest = scored["manifest"]
    truth, predicted = [], []
    for video, rows in manifest.frames.groupby("video", observed=True).indices.items():
        labels = manifest.expr()[rows]
        probs = np.loadtxt(scored["pred"] / f"{video}.csv", delimiter=",", skiprows=1)[:, 3:11]
        keep = labels != -1
        truth.append(labels[keep])
        predicted.append(probs[keep].argmax(axis=1))
    reference = confusion_matrix(np.concatenate(truth), np.concatenate(predicted), labels=range(8))
    assert np.array_equal(np.array(scored["scores"]["expr"]["confusion"]), reference)
