"""PKDOT's structural loss: anchors, Sinkhorn's marginals, the divergence's zero and growth, gradients."""

import numpy as np
import pytest
import torch

from abaw.distill.ot import (anchor_columns, centroid_loss, similarity_matrix, sinkhorn_divergence, sinkhorn_plan,
                             structural_loss)


def test_similarity_matrix_is_the_cosine_of_every_pair():
    x = torch.randn(5, 7)
    expected = np.array([[np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b) for b in x.numpy()]
                         for a in x.numpy()])
    np.testing.assert_allclose(similarity_matrix(x).numpy(), expected, atol=1e-6)


def test_anchors_are_the_most_or_least_similar_other_samples():
    sim = torch.tensor([[1.0, 0.9, 0.1, -0.5], [0.9, 1.0, 0.3, 0.2], [0.1, 0.3, 1.0, 0.8], [-0.5, 0.2, 0.8, 1.0]])
    top = anchor_columns(sim, 2, "top")
    bottom = anchor_columns(sim, 2, "bottom")
    assert [set(r) for r in top.tolist()] == [{1, 2}, {0, 2}, {3, 1}, {2, 1}]
    assert [set(r) for r in bottom.tolist()] == [{3, 2}, {3, 2}, {0, 1}, {0, 1}]
    with pytest.raises(ValueError, match="k must be"):
        anchor_columns(sim, 4)


def test_sinkhorn_plan_has_uniform_marginals():
    cost = torch.rand(6, 4)
    plan = sinkhorn_plan(cost, epsilon=0.05, iterations=500)
    np.testing.assert_allclose(plan.sum(1).numpy(), np.full(6, 1 / 6), atol=1e-6)
    np.testing.assert_allclose(plan.sum(0).numpy(), np.full(4, 1 / 4), atol=1e-6)
    assert (plan >= 0).all()


def test_divergence_is_zero_for_identical_structures_and_grows_with_a_perturbation():
    torch.manual_seed(0)
    teacher = torch.randn(16, 8)
    assert float(structural_loss(teacher.clone(), teacher, k=5)) == pytest.approx(0.0, abs=1e-9)
    assert float(structural_loss(teacher.clone(), teacher, k=5, matching="rows")) == 0.0
    noise = torch.randn(16, 8)
    for matching in ("ot", "rows"):
        losses = [float(structural_loss(teacher + s * noise, teacher, k=5, matching=matching))
                  for s in (0.05, 0.2, 0.5, 1.0)]
        assert losses[0] > 0 and losses == sorted(losses), (matching, losses)


def test_ot_matching_ignores_the_order_of_samples_that_rows_matching_sees():
    """Two clouds that are the same set of rows in another order: OT finds them equal, row matching does not."""
    torch.manual_seed(1)
    x = torch.randn(10, 6)
    y = x[torch.randperm(10)]
    assert float(sinkhorn_divergence(x, y, epsilon=0.01, iterations=200)) == pytest.approx(0.0, abs=1e-6)
    assert float((x - y).pow(2).mean()) > 0.1


def test_gradients_reach_the_student_and_never_the_teacher():
    torch.manual_seed(2)
    student = torch.randn(12, 8, requires_grad=True)
    teacher = torch.randn(12, 16, requires_grad=True)  # widths may differ: only similarities are compared
    for matching in ("ot", "rows"):
        student.grad = None
        structural_loss(student, teacher, k=4, matching=matching).backward()
        assert student.grad is not None and student.grad.abs().sum() > 0
        assert teacher.grad is None


def test_centroid_loss_is_the_squared_distance_of_the_means():
    student, teacher = torch.randn(5, 3), torch.randn(5, 3)
    expected = float(((student.mean(0) - teacher.mean(0)) ** 2).sum())
    assert float(centroid_loss(student, teacher)) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="equal widths"):
        centroid_loss(torch.randn(5, 3), torch.randn(5, 4))
