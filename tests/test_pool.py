"""MT-PKDOT's teacher pool: stage-1 losses, the confidence of each member, and the choice of the teacher."""

import math

import numpy as np
import pytest
import torch

from abaw.config import DistillConfig
from abaw.distill.pool import member_entropies, member_errors, pool_losses, select_teacher
from abaw.models import ModelConfig, build_model
from abaw.models.teacher_pool import TeacherPool

TASKS = ("va", "expr", "au")


def tiny_teacher(**changes):
    config = ModelConfig(backbone="test_byobnet", image_size=32, temporal_dim=8, audio_dim=8, soundnet_width=2,
                         sample_rate=8000, fusion_dims=(12,), dropout=0.0, pool_adapter_dim=4, **changes)
    return build_model(config)


def inputs(batch=5):
    generator = torch.Generator().manual_seed(0)
    return {"faces": torch.randint(0, 255, (batch, 2, 3, 32, 32), dtype=torch.uint8, generator=generator),
            "audio": torch.randn(batch, 4000, generator=generator)}


def pool_outputs(va, expr, au, embedding=None):
    """Pool outputs of B frames and M members from plain lists."""
    va, expr, au = (torch.tensor(x, dtype=torch.float32) for x in (va, expr, au))
    if embedding is None:
        embedding = torch.randn(va.shape[0], va.shape[1], 3)
    return {"pool_va": va, "pool_expr": expr, "pool_au": au, "pool_embedding": embedding}


def labels(va, va_mask, expr, expr_mask, au, au_mask):
    return {"va": torch.tensor(va, dtype=torch.float32), "va_mask": torch.tensor(va_mask),
            "expr": torch.tensor(expr), "expr_mask": torch.tensor(expr_mask),
            "au": torch.tensor(au, dtype=torch.float32), "au_mask": torch.tensor(au_mask)}


@pytest.mark.parametrize("fusion", ["concat", "jca"])
def test_the_pool_holds_the_joint_teacher_and_one_adapted_teacher_per_modality(fusion):
    model = tiny_teacher(fusion=fusion, attention_width=8).eval()
    out = model(inputs())
    assert model.pool.members == ("joint", "visual", "audio")
    assert out["pool_embedding"].shape == (5, 3, 12) and out["pool_expr"].shape == (5, 3, 8)
    assert out["pool_va"].shape == (5, 3, 2) and out["pool_au"].shape == (5, 3, 12)
    for key in ("embedding", "va", "expr", "au"):  # member 0 IS the model's own output
        torch.testing.assert_close(out[f"pool_{key}"][:, 0], out[key])
    adapter = model.pool.adapters["audio"]
    torch.testing.assert_close(out["pool_embedding"][:, 2], adapter(out["audio"]))


def test_stage_one_aligns_the_adapters_to_the_joint_embedding_without_moving_it():
    model = tiny_teacher().train()
    batch = inputs() | labels([[0.1, 0.2], [0.3, -0.4], [-5, -5], [0.5, 0.1], [-0.2, 0.9]],
                              [[True, True], [True, True], [False, False], [True, True], [True, True]],
                              [1, 2, -1, 3, 4], [True, True, False, True, True],
                              np.eye(12)[:5].tolist(), np.ones((5, 12), bool).tolist())
    out = model(batch)
    parts = pool_losses(out, batch, TASKS, DistillConfig())
    assert parts["pool_alignment"][0] == 1.0 and parts["pool_heads"][0] == 0.5
    joint = out["embedding"].detach().numpy()
    expected = 0.0
    for member in (1, 2):
        adapted = out["pool_embedding"][:, member].detach().numpy()
        cos = (adapted * joint).sum(1) / np.linalg.norm(adapted, axis=1) / np.linalg.norm(joint, axis=1)
        expected += np.mean(1 - cos)
    assert parts["pool_alignment"][1].item() == pytest.approx(expected, rel=1e-5)
    # The joint embedding is the target: the alignment moves the adapters and the encoders under them,
    # never the fusion that makes the joint embedding.
    parts["pool_alignment"][1].backward()
    assert all(p.grad is None or not p.grad.any() for p in model.fusion.parameters())
    assert any(p.grad is not None and p.grad.any() for p in model.pool.adapters.parameters())


def test_member_errors_against_a_hand_computation():
    # 3 frames, 2 members. Frame 0: VA (valence only) + EXPR; frame 1: AU (2 of 12); frame 2: nothing.
    va = [[[0.5, 0.0], [0.1, 0.9]], [[0.0, 0.0], [0.0, 0.0]], [[0.2, 0.2], [0.3, 0.3]]]
    expr = np.zeros((3, 2, 8))
    expr[0, 0, 3], expr[0, 1, 5] = 2.0, 1.0
    au = np.zeros((3, 2, 12))
    au[1, 0, :2], au[1, 1, :2] = [3.0, -3.0], [-1.0, 1.0]
    out = pool_outputs(va, expr.tolist(), au.tolist())
    au_mask = np.zeros((3, 12), bool)
    au_mask[1, :2] = True
    batch = labels([[0.4, -5], [-5, -5], [-5, -5]], [[True, False], [False, False], [False, False]],
                   [3, -1, -1], [True, False, False], np.tile([1, 0] + [0] * 10, (3, 1)).tolist(), au_mask.tolist())
    error = member_errors(out, batch, TASKS).numpy()

    def ce(logits, target):
        return -logits[target] + math.log(np.exp(logits).sum())

    def bce(logit, target):
        p = 1 / (1 + math.exp(-logit))
        return -(target * math.log(p) + (1 - target) * math.log(1 - p))

    assert error[0, 0] == pytest.approx((0.5 - 0.4) ** 2 + ce(expr[0, 0], 3), rel=1e-5)
    assert error[0, 1] == pytest.approx((0.1 - 0.4) ** 2 + ce(expr[0, 1], 3), rel=1e-5)
    assert error[1, 0] == pytest.approx((bce(3.0, 1) + bce(-3.0, 0)) / 2, rel=1e-5)
    assert error[1, 1] == pytest.approx((bce(-1.0, 1) + bce(1.0, 0)) / 2, rel=1e-5)
    assert np.isnan(error[2]).all()


def test_member_entropies_run_from_certain_to_uniform():
    expr = np.zeros((2, 2, 8))
    expr[0, 1, 0] = 50.0  # member 1 of frame 0 is sure of its expression
    au = np.zeros((2, 2, 12))
    au[0, 1] = 50.0
    out = pool_outputs(np.zeros((2, 2, 2)).tolist(), expr.tolist(), au.tolist())
    entropy = member_entropies(out, TASKS).numpy()
    np.testing.assert_allclose(entropy[:, 0], 1.0, rtol=1e-5)  # uniform: the largest entropy, scaled to 1
    assert entropy[0, 1] < 1e-4
    assert member_entropies(out, ("expr",))[0, 1] < 1e-6
    with pytest.raises(ValueError, match="pool_confidence=error"):
        member_entropies(out, ("va",))


def test_the_most_confident_member_teaches_each_frame_and_the_joint_one_takes_the_rest():
    # Frame 0: member 2 is the best; frame 1: all tie; frame 2: no label.
    va = [[[0.9, 0.9], [0.5, 0.5], [0.1, 0.1]], [[0.3, 0.3]] * 3, [[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]]]
    embedding = torch.arange(3 * 3 * 2, dtype=torch.float32).view(3, 3, 2)
    out = pool_outputs(va, np.zeros((3, 3, 8)).tolist(), np.zeros((3, 3, 12)).tolist(), embedding)
    batch = labels([[0.0, 0.0], [0.3, 0.3], [-5, -5]], [[True, True], [True, True], [False, False]],
                   [-1, -1, -1], [False] * 3, np.zeros((3, 12)).tolist(), np.zeros((3, 12), bool).tolist())
    target, choice = select_teacher(out, batch, ("va",), DistillConfig(pool_selection="sample"))
    assert choice.tolist() == [2, 0, 0]
    torch.testing.assert_close(target, embedding[torch.arange(3), choice])
    # Per batch: the lowest mean error over the labelled frames: 0.405, 0.125 and 0.005 for members 0, 1, 2.
    _, choice = select_teacher(out, batch, ("va",), DistillConfig(pool_selection="batch"))
    assert choice.tolist() == [2, 2, 2]
    _, choice = select_teacher(out, batch, ("va",), DistillConfig(pool_selection="joint"))
    assert choice.tolist() == [0, 0, 0]


def test_selection_by_entropy_prefers_the_sure_member():
    expr = np.zeros((2, 2, 8))
    expr[0, 1, 4] = 10.0  # frame 0: member 1 is sure; frame 1: both uniform (a tie: the joint teacher)
    out = pool_outputs(np.zeros((2, 2, 2)).tolist(), expr.tolist(), np.zeros((2, 2, 12)).tolist())
    _, choice = select_teacher(out, {}, ("expr",), DistillConfig(pool_selection="sample", pool_confidence="entropy"))
    assert choice.tolist() == [1, 0]


def test_teacher_pool_adapts_every_modality_width():
    pool = TeacherPool({"visual": 7, "audio": 3}, embedding_dim=5, hidden=4)
    joint = {"embedding": torch.randn(2, 5), "va": torch.zeros(2, 2), "expr": torch.zeros(2, 8),
             "au": torch.zeros(2, 12)}
    out = pool({"visual": torch.randn(2, 7), "audio": torch.randn(2, 3)}, joint)
    assert out["pool_embedding"].shape == (2, 3, 5)


def test_choosing_among_pool_members_needs_a_teacher_with_a_pool():
    from abaw.config import ConfigError, load_config
    from abaw.engine.setup import adopt_teacher_inputs

    student = load_config(None, ["distill.pool_selection=sample", "distill.privileged=[ot,centroid]"])
    with pytest.raises(ConfigError, match="teacher_pool.py"):
        adopt_teacher_inputs(student, load_config())
    pool = load_config(None, ["model.pool_adapter_dim=256"])
    assert adopt_teacher_inputs(student, pool).distill.pool_selection == "sample"
