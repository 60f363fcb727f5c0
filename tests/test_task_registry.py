"""Tasks as data: a task registered here (a toy per-frame regression, with its own metric) is trained by the
objective, predicted, written, read back and scored by validation and abaw-eval, without an edit anywhere else;
the per-video CCC against numpy."""

import numpy as np
import pandas as pd
import pytest
import torch

from abaw.config import LossConfig
from abaw.engine.loop import flatten, score_outputs, task_predictions, video_score_of
from abaw.engine.objectives import MultitaskObjective
from abaw.evaluate import evaluate, format_table
from abaw.losses import masked_mse, soft_ccc
from abaw.metrics import va_metrics
from abaw.data.manifest import Manifest
from abaw.models.heads import MultitaskHeads
from abaw.prediction_files import read_predictions, write_predictions
from abaw.task_registry import TASK_REGISTRY, Task, register_task, score_tasks

NO_LOUDNESS = -9.0


def mean_absolute_error(pred, target):
    """The toy task's metric: MAE over the labelled rows, and its negative as the score (higher is better)."""
    pred, target = np.asarray(pred, np.float64).ravel(), np.asarray(target, np.float64).ravel()
    keep = target != NO_LOUDNESS
    mae = float(np.abs(pred[keep] - target[keep]).mean())
    return {"mae": mae, "score": -mae, "n_frames": int(keep.sum())}


@pytest.fixture
def loudness():
    """A per-frame regression task in [0, 1] (one label column), registered for the test only."""
    task = register_task(Task(
        name="loudness", title="LOUD", label_columns=("loudness",), no_label=NO_LOUDNESS, label_dtype="float32",
        output_columns=("loudness",), output="sigmoid", value_range=(0.0, 1.0),
        supervised_losses={"mse": masked_mse}, distillation_loss=soft_ccc, metric=mean_absolute_error,
        headline="score", logged={"loudness_mae": "mae"}))
    yield task
    del TASK_REGISTRY["loudness"]


def toy_manifest(rng, videos=("a", "b"), frames_each=7):
    """Two videos of per-frame valence/arousal and loudness labels; some loudness frames unlabelled."""
    n = len(videos) * frames_each
    loud = rng.random(n).astype(np.float32)
    loud[[1, 8]] = NO_LOUDNESS
    frames = pd.DataFrame({
        "video": pd.Categorical(np.repeat(videos, frames_each)),
        "frame": np.tile(np.arange(1, frames_each + 1), len(videos)),
        "valence": rng.uniform(-1, 1, n).astype(np.float32), "arousal": rng.uniform(-1, 1, n).astype(np.float32),
        "loudness": loud})
    table = pd.DataFrame({"tasks": ["va,loudness"] * len(videos), "n_frames": [frames_each] * len(videos)},
                         index=pd.Index(videos, name="video"))
    return Manifest(frames, table)


def test_a_registered_task_is_trained_distilled_and_scored_without_edits_elsewhere(loudness, tmp_path):
    rng = np.random.default_rng(0)
    manifest = toy_manifest(rng)
    n = len(manifest)
    heads = MultitaskHeads(5, ("va", "loudness"))
    embedding = torch.randn(n, 5)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = heads

        def forward(self, batch, grl_coefficient=1.0):
            return self.heads(embedding)

    model = Model()
    target = torch.tensor(loudness.targets(manifest.frames))
    batch = {"loudness": target, "loudness_mask": loudness.labelled(target),
             "va": torch.tensor(manifest.frames[["valence", "arousal"]].to_numpy()),
             "va_mask": torch.ones(n, 2, dtype=torch.bool)}

    # The objective: the task's own supervised loss over its labelled frames, and its distillation loss.
    result = MultitaskObjective(("va", "loudness"), LossConfig())(model, batch)
    assert target.shape == (n, 1)
    out = model(batch)["loudness"].detach().numpy()[:, 0]
    labelled = target.numpy()[:, 0] != NO_LOUDNESS
    assert float(result["loudness"].detach()) == pytest.approx(
        np.mean((out[labelled] - target.numpy()[labelled, 0]) ** 2), rel=1e-5)
    result["loss"].backward()
    assert heads.loudness.weight.grad.abs().sum() > 0
    teacher = MultitaskObjective(("loudness",), LossConfig(), teacher=Model())(model, batch)
    assert float(teacher["kd_loudness"]) == pytest.approx(0.0, abs=1e-6)  # the student is its own teacher

    # Validation: predictions through the task's output (sigmoid), scored against the manifest.
    predictions = {k: v.detach().numpy() for k, v in task_predictions(model(batch)).items()}
    np.testing.assert_allclose(predictions["loudness"][:, 0], 1 / (1 + np.exp(-out)), rtol=1e-6)
    scores = score_outputs({"row": np.arange(n), **predictions}, manifest, ("va", "loudness"))
    expected = mean_absolute_error(predictions["loudness"], manifest.frames["loudness"])
    assert scores["loudness"] == expected
    assert scores["score"] == pytest.approx(scores["va"]["score"] - expected["mae"])
    assert flatten(scores)["val_loudness_mae"] == round(expected["mae"], 6)

    # abaw-eval: the predictions file gets the task's column, is read back and scored the same way.
    for video, rows in manifest.frames.groupby("video", observed=True).indices.items():
        write_predictions(tmp_path, video, manifest.frames["frame"].to_numpy()[rows],
                          {name: values[rows] for name, values in predictions.items()})
    assert "loudness" in read_predictions(tmp_path / "a.csv").columns
    results = evaluate(tmp_path, manifest, ("va", "loudness"))
    assert results["loudness"]["mae"] == pytest.approx(expected["mae"], abs=1e-6)  # 6 decimals in the file
    assert "LOUD" in format_table(results, "toy")

    # abaw-eval's per-video scores (AVEC): each video's CCC from its own file, averaged.
    per_video = evaluate(tmp_path, manifest, ("va",), video_score="per_video")["va"]
    for j, dim in enumerate(("valence", "arousal")):
        each = [numpy_ccc(read_predictions(tmp_path / f"{video}.csv")[dim], manifest.frames[dim][rows])
                for video, rows in manifest.frames.groupby("video", observed=True).indices.items()]
        assert per_video[f"ccc_{dim}_per_video"] == pytest.approx(np.mean(each), abs=1e-6)
    assert "score / video" in format_table({"va": per_video}, "toy")


def test_a_value_outside_the_tasks_range_is_named_in_its_file(loudness, tmp_path):
    write_predictions(tmp_path, "a", np.arange(1, 4), {"loudness": np.array([[0.5], [1.5], [0.2]])})
    with pytest.raises(ValueError, match=r"a\.csv:3: LOUD value outside \[0, 1\]"):
        read_predictions(tmp_path / "a.csv")


def numpy_ccc(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cov = np.cov(x, y, bias=True)
    return 2 * cov[0, 1] / (cov[0, 0] + cov[1, 1] + (x.mean() - y.mean()) ** 2)


def test_per_video_ccc_is_the_mean_of_each_videos_ccc():
    rng = np.random.default_rng(3)
    videos = np.repeat(["r1", "r2", "r3", "r4"], [40, 25, 60, 3])
    target = rng.uniform(-1, 1, (len(videos), 2))
    pred = np.clip(0.5 * target + rng.normal(0, 0.4, target.shape) + (videos == "r2")[:, None] * 0.3, -1, 1)
    target[:10, 0] = -5                        # unlabelled valence in r1: left out of r1's valence CCC
    target[-2:, 1] = -5                        # r4 keeps one arousal frame: no CCC, left out of the mean
    order = rng.permutation(len(videos))       # frames of a video need not be contiguous
    result = va_metrics(pred[order], target[order], videos[order])

    for j, dim in enumerate(("valence", "arousal")):
        per_video = []
        for video in ("r1", "r2", "r3", "r4"):
            keep = (videos == video) & (target[:, j] != -5)
            if keep.sum() >= 2:
                per_video.append(numpy_ccc(pred[keep, j], target[keep, j]))
        assert result[f"ccc_{dim}_per_video"] == pytest.approx(np.mean(per_video), abs=1e-12)
        assert result[f"n_videos_{dim}"] == len(per_video)
        keep = target[:, j] != -5
        assert result[f"ccc_{dim}"] == pytest.approx(numpy_ccc(pred[keep, j], target[keep, j]), abs=1e-12)
    assert result["n_videos_arousal"] == 3 and result["n_videos_valence"] == 4
    assert result["score_per_video"] == pytest.approx((result["ccc_valence_per_video"]
                                                       + result["ccc_arousal_per_video"]) / 2)
    # The pooled CCC is not the mean of the per-video ones (r2's offset hurts it more).
    assert abs(result["score"] - result["score_per_video"]) > 1e-3


def test_per_video_scoring_adds_labelled_scores_and_becomes_the_headline():
    rng = np.random.default_rng(4)
    videos = np.repeat(["a", "b"], 30)
    target = rng.uniform(-1, 1, (60, 2))
    pred = np.clip(target + rng.normal(0, 0.5, target.shape), -1, 1)
    pooled = score_tasks({"va": pred}, {"va": target}, videos)
    per_video = score_tasks({"va": pred}, {"va": target}, videos, video_score="per_video")
    assert "score_per_video" not in pooled["va"]
    assert {k: per_video["va"][k] for k in pooled["va"]} == pooled["va"]  # the pooled keys are unchanged
    assert TASK_REGISTRY["va"].headline_of(per_video["va"]) == per_video["va"]["score_per_video"]
    assert TASK_REGISTRY["va"].headline_of(pooled["va"]) == pooled["va"]["score"]
    assert score_tasks({"va": pred[:0]}, {"va": target[:0]}) == {}  # no row: nothing to score, no error
    with pytest.raises(ValueError, match="needs the video of each row"):
        score_tasks({"va": pred}, {"va": target}, video_score="per_video")


def test_a_task_that_declares_an_unknown_head_or_granularity_is_refused():
    common = dict(title="X", label_columns=("x",), no_label=-1, label_dtype="float32", output_columns=("x",),
                  supervised_losses={"mse": masked_mse}, distillation_loss=soft_ccc, metric=mean_absolute_error,
                  headline="score", logged={})
    with pytest.raises(ValueError, match="granularity 'video'"):
        Task(name="x", granularity="video", **common)
    with pytest.raises(ValueError, match="head_activation 'relu'"):
        Task(name="x", head_activation="relu", **common)
    assert Task(name="pain", granularity="sample", **common).granularity == "sample"
    with pytest.raises(ValueError, match="already registered"):
        register_task(Task(name="va", **common))


def test_validation_and_eval_follow_the_datasets_scoring_convention():
    manifest = toy_manifest(np.random.default_rng(5))
    assert video_score_of(manifest) == "pooled"  # frames that name no dataset
    for dataset, convention in (("affwild2", "pooled"), ("recola", "per_video")):
        manifest.frames["dataset"] = dataset
        assert video_score_of(manifest) == convention
    predictions = {"row": np.arange(len(manifest)), "va": np.clip(manifest.frames[["valence", "arousal"]].to_numpy()
                                                                  + 0.1, -1, 1)}
    scores = score_outputs(predictions, manifest, ("va",), video_score_of(manifest))
    assert scores["score"] == scores["va"]["score_per_video"] != scores["va"]["score"]
    assert "val_ccc_valence_per_video" in flatten(scores) and "val_ccc_valence" in flatten(scores)
