"""PKD's cosine loss and negative-transfer module against hand computations."""

import numpy as np
import pytest
import torch

from abaw.distill.privileged import cosine_loss, negative_transfer_weights, sequence_teacher_ccc
from abaw.metrics import ccc


def test_cosine_loss_is_the_mean_of_per_sample_terms():
    student = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    teacher = torch.tensor([[2.0, 0.0], [1.0, -1.0], [0.0, -3.0]])
    # Per sample: cos = 1, 0, -1 -> 1 - cos = 0, 1, 2; mean 1. One flattened vector would give 1.39.
    assert float(cosine_loss(student, teacher)) == pytest.approx(1.0)
    s, t = student.numpy().ravel(), teacher.numpy().ravel()
    flat = 1 - np.dot(s, t) / np.linalg.norm(s) / np.linalg.norm(t)
    assert flat == pytest.approx(1 + 4 / np.sqrt(105))
    assert float(cosine_loss(student, teacher)) != pytest.approx(float(flat))
    weights = torch.tensor([1.0, 0.0, 0.5])
    assert float(cosine_loss(student, teacher, weights)) == pytest.approx((0 + 0 + 1.0) / 3)


def test_cosine_loss_sends_gradient_to_the_student_only():
    student = torch.randn(4, 3, requires_grad=True)
    teacher = torch.randn(4, 3, requires_grad=True)
    cosine_loss(student, teacher).backward()
    assert student.grad.abs().sum() > 0 and teacher.grad is None
    with pytest.raises(ValueError, match="project"):
        cosine_loss(torch.randn(4, 3), torch.randn(4, 5))


def test_negative_transfer_weights_for_four_teacher_cccs():
    ccc = torch.tensor([-0.5, 0.1, 0.5, 0.9])  # teacher errors gamma = 1.5, 0.9, 0.5, 0.1
    distill, truth = negative_transfer_weights(ccc, threshold=0.6)
    assert distill.tolist() == [0.0, 0.0, 1.0, 1.0]  # dropped above the threshold
    assert truth.tolist() == pytest.approx([1.0, 1.0, 0.5, 0.1])
    for threshold in (0.0, 0.3, 0.95, 1.0):
        distill, truth = negative_transfer_weights(ccc, threshold)
        assert (distill >= 0).all() and (truth >= 0).all()  # never negative, whatever the teacher's CCC


def test_teacher_ccc_is_judged_per_sequence_of_each_video():
    rng = np.random.default_rng(0)
    # Video 0: 10 frames at 2 fps, sequences of 2 s = 4 frames: (1-4), (5-8), (9-10). Video 1: 3 frames.
    videos = np.array([0] * 10 + [1] * 3)
    frames = np.r_[np.arange(1, 11), np.arange(1, 4)]
    fps = np.array([2.0] * 10 + [25.0] * 3)
    labels = rng.uniform(-1, 1, (13, 2))
    labels[9] = -5  # frame 10 of video 0 unlabelled: its sequence (9-10) keeps one labelled frame
    teacher = labels + rng.normal(0, 0.3, (13, 2))
    result = sequence_teacher_ccc(videos, frames, fps, teacher, labels, seconds=2.0)

    def expected(rows):
        return np.mean([ccc(teacher[rows, d], labels[rows, d]) for d in range(2)])

    np.testing.assert_allclose(result[:4], expected(slice(0, 4)))
    np.testing.assert_allclose(result[4:8], expected(slice(4, 8)))
    assert np.isnan(result[8:10]).all()  # one labelled frame: no judgement
    np.testing.assert_allclose(result[10:], expected(slice(10, 13)))
