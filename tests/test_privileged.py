"""PKD's cosine loss and negative-transfer module against hand computations."""

import numpy as np
import pytest
import torch

from abaw.distill.privileged import cosine_loss, negative_transfer_weights


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
