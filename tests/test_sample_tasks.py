"""Tasks labelled once per video (BioVid's pain levels): the class mapping of the two pain tasks, the ordinal
metric against scikit-learn, and the segment sampling that makes a video one clip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error

from abaw.config import ConfigError, load_config
from abaw.data.clips import ClipSpec
from abaw.task_registry import PAIN_CLASSES, get_task


def test_both_pain_tasks_read_the_one_pain_column():
    frames = pd.DataFrame({"pain": [0, 1, 2, 3, 4, -1]})
    assert get_task("pain").targets(frames).tolist() == [0, 1, 2, 3, 4, -1]
    # BL1 vs PA4: PA1-PA3 are not this task's classes, so they carry no label for it.
    assert get_task("pain_binary").targets(frames).tolist() == [0, -1, -1, -1, 1, -1]
    assert get_task("pain").width == len(PAIN_CLASSES) and get_task("pain_binary").width == 2
    assert {get_task("pain").granularity, get_task("pain_binary").granularity} == {"sample"}


def test_pain_metric_matches_scikit_learn():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 5, 200)
    probs = rng.dirichlet(np.ones(5), 200)
    probs[np.arange(0, 200, 3), target[::3]] += 1  # some right, most not
    predicted = probs.argmax(1)
    result = get_task("pain").metric(probs, target)
    assert result["accuracy"] == pytest.approx(accuracy_score(target, predicted))
    assert result["f1_macro"] == pytest.approx(f1_score(target, predicted, labels=range(5), average="macro",
                                                        zero_division=0))
    assert result["mae"] == pytest.approx(mean_absolute_error(target, predicted))
    assert result["n_samples"] == 200


def test_pain_metric_leaves_unlabelled_samples_out():
    result = get_task("pain_binary").metric(np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]), np.array([0, 1, -1]))
    assert result["accuracy"] == 1.0 and result["n_samples"] == 2


def test_segment_sampling_takes_each_segments_centre():
    spec = ClipSpec(frames=10, span="sample")
    frames = spec.sample_frames(138, 25.0)
    width = 138 / 10  # ten equal segments of frames 1..138
    expected = [int(np.floor(1 + (i + 0.5) * width)) for i in range(10)]
    assert frames.tolist() == expected


def test_peak_window_draws_from_its_seconds_only():
    spec = ClipSpec(frames=5, span="sample", sample_seconds=(2.0, 2.8))
    frames = spec.sample_frames(138, 25.0)
    # Frame k (1-based) starts at (k - 1) / 25 s: frames 51..70 lie within 2.0-2.8 s.
    assert frames.min() >= 51 and frames.max() <= 70 and np.all(np.diff(frames) > 0)


def test_jitter_draws_within_each_segment():
    spec = ClipSpec(frames=4, span="sample")
    rng = np.random.default_rng(0)
    draws = np.stack([spec.sample_frames(40, 25.0, rng) for _ in range(400)])
    for segment in range(4):  # segment i holds frames 1 + 10 i .. 10 (i + 1)
        assert draws[:, segment].min() == 1 + 10 * segment and draws[:, segment].max() == 10 * (segment + 1)


def test_a_short_video_repeats_frames_rather_than_failing():
    assert ClipSpec(frames=6, span="sample").sample_frames(3, 25.0).tolist() == [1, 1, 2, 2, 3, 3]


def test_config_refuses_frame_and_sample_tasks_together():
    with pytest.raises(ConfigError, match="mixes"):
        load_config(None, ["data.tasks=[va,pain]", "model.tasks=[va,pain]"])
    with pytest.raises(ConfigError, match="sample_seconds"):
        load_config(None, ["data.tasks=[pain]", "model.tasks=[pain]", "data.sample_seconds=[3.0,2.0]"])
