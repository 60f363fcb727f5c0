"""Multitask learning with incomplete labels (ABAW 2022 multitask-KD paper): the gradient-reversal layer,
eq. 12 and 13 term by term against numpy, the dynamic task weights, and the task-wise batches."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from abaw.config import ConfigError, DistillConfig, LossConfig, load_config
from abaw.data.layout import discover
from abaw.data.task_sets import TaskSetBatchSampler, TaskSets, interleave
from abaw.distill.ot import structural_loss
from abaw.distill.privileged import cosine_loss
from abaw.engine.checkpoint import TrainState
from abaw.engine.data import build_mtl_split
from abaw.engine.objectives import MultitaskObjective, task_weights
from abaw.models import ModelConfig, build_model
from abaw.models.grl import TaskDiscriminator, reverse_gradient


# ---- gradient reversal ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("coefficient", [0.0, 0.3, 1.0, 2.5])
def test_grl_is_the_identity_forward_and_scales_the_gradient_by_minus_lambda(coefficient):
    x = torch.randn(4, 5, requires_grad=True)
    incoming = torch.randn(4, 5)
    y = reverse_gradient(x, coefficient)
    assert torch.equal(y, x)
    y.backward(incoming)
    assert torch.equal(x.grad, -coefficient * incoming)


def test_discriminator_gradient_reaches_the_embedding_reversed():
    torch.manual_seed(0)
    discriminator = TaskDiscriminator(8, task_sets=4)
    embedding = torch.randn(6, 8, requires_grad=True)
    target = torch.tensor([0, 1, 2, 3, 0, 1])
    nn.functional.cross_entropy(discriminator(embedding, 0.7), target).backward()
    reversed_grad = embedding.grad.clone()
    embedding.grad = None
    nn.functional.cross_entropy(discriminator.net(embedding), target).backward()  # the same MLP, no GRL
    torch.testing.assert_close(reversed_grad, -0.7 * embedding.grad)
    assert [m.out_features for m in discriminator.net if isinstance(m, nn.Linear)] == [64, 32, 4]


# ---- eq. 12 and 13 against numpy -----------------------------------------------------------------------------

def np_ccc(x, y):
    mx, my = x.mean(), y.mean()
    return 2 * ((x - mx) * (y - my)).mean() / (x.var() + y.var() + (mx - my) ** 2)


def np_log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def np_bce(logits, target):
    p = 1 / (1 + np.exp(-logits))
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


class Fixed(nn.Module):
    """A 'model' whose outputs are fixed tensors (leaf parameters, so gradients can be inspected)."""

    def __init__(self, outputs):
        super().__init__()
        self.params = nn.ParameterDict({k: nn.Parameter(torch.as_tensor(v, dtype=torch.float32))
                                        for k, v in outputs.items()})

    def forward(self, batch, grl_coefficient=1.0):
        out = {k: (torch.tanh(v) if k == "va" else v) for k, v in self.params.items()}
        if "task_logits" in out:
            out["task_logits"] = reverse_gradient(out["task_logits"], grl_coefficient)
        return out


def tiny_batch(rng, n=6):
    """Six frames: VA on frames 0-3 (frame 3: -5), EXPR on 2-5, AU on 0, 1, 5; task set 0 ("va")."""
    va = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    va_mask = np.zeros((n, 2), bool)
    va_mask[:3] = True
    expr = rng.integers(0, 8, n)
    expr_mask = np.zeros(n, bool)
    expr_mask[2:] = True
    au = rng.integers(0, 2, (n, 12)).astype(np.float32)
    au_mask = np.zeros((n, 12), bool)
    au_mask[[0, 1, 5]] = True
    return {"va": torch.tensor(va), "va_mask": torch.tensor(va_mask), "expr": torch.tensor(expr),
            "expr_mask": torch.tensor(expr_mask), "au": torch.tensor(au), "au_mask": torch.tensor(au_mask),
            "task_set": torch.zeros(n, dtype=torch.long)}


def raw_outputs(rng, n=6, sets=4):
    return {"va": rng.normal(0, 1, (n, 2)), "expr": rng.normal(0, 2, (n, 8)), "au": rng.normal(0, 2, (n, 12)),
            "task_logits": rng.normal(0, 1, (n, sets))}


def test_eq13_matches_a_hand_computation_term_by_term():
    rng = np.random.default_rng(0)
    batch = tiny_batch(rng)
    s, t = raw_outputs(rng), raw_outputs(rng)
    alpha, kd, beta, T = 10.0, 1.0, 0.9, 2.5
    gamma = {"va": 1.0, "expr": math.exp(0.5 * 2), "au": math.exp(0.5 * 1)}
    objective = MultitaskObjective(("va", "expr", "au"), LossConfig(alpha=alpha, kd=kd, beta=beta, delta=1.0),
                                   teacher=Fixed(t), distill=DistillConfig(temperature=T))
    objective.task_weights = gamma
    result = {k: v.detach() for k, v in objective(Fixed(s), batch).items() if k != "outputs"}

    b = {k: v.numpy() for k, v in batch.items()}
    sv, tv = np.tanh(s["va"]), np.tanh(t["va"])
    lab = {"va": b["va_mask"].any(1), "expr": b["expr_mask"], "au": b["au_mask"].any(1)}
    supervised = {
        "va": np.mean([1 - np_ccc(sv[lab["va"], d], b["va"][lab["va"], d]) for d in range(2)]),
        "expr": -np_log_softmax(s["expr"])[lab["expr"], b["expr"][lab["expr"]]].mean(),
        "au": np_bce(s["au"], b["au"])[b["au_mask"]].mean(),
    }

    def distill(task, rows):
        if task == "va":
            return np.mean([1 - np_ccc(sv[rows, d], tv[rows, d]) for d in range(2)])
        if task == "expr":
            p = np.exp(np_log_softmax(t["expr"] / T))
            return (-(p * np_log_softmax(s["expr"] / T)).sum(1) * T**2)[rows].mean()
        return np_bce(s["au"], 1 / (1 + np.exp(-t["au"]))).mean(1)[rows].mean()

    task_ce = -np_log_softmax(s["task_logits"])[np.arange(6), b["task_set"]].mean()
    expected = task_ce
    for task in ("va", "expr", "au"):
        own, other = distill(task, lab[task]), distill(task, ~lab[task])
        assert float(result[task]) == pytest.approx(supervised[task], rel=1e-5)
        assert float(result[f"kd_{task}"]) == pytest.approx(own, rel=1e-5)
        assert float(result[f"kd_other_{task}"]) == pytest.approx(other, rel=1e-5)
        expected += gamma[task] * (alpha * supervised[task] + kd * own) + beta * gamma[task] * other
    assert float(result["task"]) == pytest.approx(task_ce, rel=1e-5)
    assert float(result["loss"]) == pytest.approx(expected, rel=1e-5)


def test_teacher_objective_is_eq12_supervised_plus_task_loss():
    rng = np.random.default_rng(1)
    batch = tiny_batch(rng)
    s = raw_outputs(rng)
    result = MultitaskObjective(("va", "expr", "au"), LossConfig(delta=0.5))(Fixed(s), batch)
    result = {k: v.detach() for k, v in result.items() if k != "outputs"}
    assert not any(k.startswith("kd") for k in result)
    expected = sum(float(result[k]) for k in ("va", "expr", "au", "task"))
    assert float(result["loss"]) == pytest.approx(expected, rel=1e-6)


def test_unlabelled_task_gives_no_supervised_loss_but_its_distillation_loss():
    """A "va" batch (no EXPR label anywhere): the EXPR labels' values cannot move the loss, and the student's
    EXPR head is still pulled towards the teacher through the cross-task term."""
    rng = np.random.default_rng(2)
    batch = tiny_batch(rng)
    batch["expr_mask"][:] = False
    s, t = raw_outputs(rng), raw_outputs(rng)
    objective = MultitaskObjective(("va", "expr", "au"), LossConfig(alpha=10, beta=0.9), teacher=Fixed(t))
    student = Fixed(s)
    result = objective(student, batch)
    assert float(result["expr"].detach()) == 0.0 and float(result["kd_expr"].detach()) == 0.0
    assert float(result["kd_other_expr"].detach()) > 0
    other_labels = {**batch, "expr": (batch["expr"] + 3) % 8}
    relabelled = objective(student, other_labels)["loss"].detach()
    assert float(relabelled) == pytest.approx(float(result["loss"].detach()), rel=1e-7)
    result["loss"].backward()
    assert student.params["expr"].grad.abs().sum() > 0
    # With the cross-task term off, nothing reaches the EXPR head on this batch.
    student.zero_grad()
    off = MultitaskObjective(("va", "expr", "au"), LossConfig(alpha=10, beta=0.0), teacher=Fixed(t))
    off(student, batch)["loss"].backward()
    assert student.params["expr"].grad.abs().sum() == 0


def test_gradient_reaches_the_student_and_never_the_teacher():
    """Soft labels and every privileged embedding loss together."""
    rng = np.random.default_rng(3)
    teacher_outputs, student_outputs = raw_outputs(rng), raw_outputs(rng)
    teacher_outputs["embedding"], student_outputs["embedding"] = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    teacher, student = Fixed(teacher_outputs), Fixed(student_outputs)
    distill = DistillConfig(privileged=("cosine", "ot", "centroid"), ot_k=3)
    objective = MultitaskObjective(("va", "expr", "au"), LossConfig(delta=1.0), teacher=teacher, distill=distill)
    objective(student, tiny_batch(rng))["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


def test_delta_ramps_from_zero_to_its_value():
    objective = MultitaskObjective(("va",), LossConfig(delta=0.8, delta_schedule="ramp"))
    seen = []
    for progress in (0.0, 0.25, 1.0):
        objective.progress = progress
        seen.append(objective.grl_coefficient())
    assert seen == pytest.approx([0.0, 0.2, 0.8])
    fixed = MultitaskObjective(("va",), LossConfig(delta=0.8))
    assert fixed.grl_coefficient() == 0.8


# ---- dynamic task weights --------------------------------------------------------------------------------------

def test_gamma_follows_epochs_without_improvement():
    state = TrainState()
    scripted = [  # validation scores per epoch
        {"va": 0.30, "expr": 0.20, "au": 0.40},
        {"va": 0.35, "expr": 0.19, "au": 0.40},  # expr worse, au equal: both stale
        {"va": 0.34, "expr": 0.18, "au": 0.41},
        {"va": 0.36, "expr": 0.25, "au": 0.39},
    ]
    expected_stale = [{"va": 0, "expr": 0, "au": 0}, {"va": 0, "expr": 1, "au": 1},
                      {"va": 1, "expr": 2, "au": 0}, {"va": 0, "expr": 0, "au": 1}]
    for scores, stale in zip(scripted, expected_stale):
        state.update_tasks(scores)
        assert state.task_stale == stale
    state.update_tasks({"va": 0.1, "expr": 0.1, "au": 0.1})
    weights = task_weights(state.task_stale, rate=0.5)
    assert weights == pytest.approx({"va": math.exp(0.5), "expr": math.exp(0.5), "au": math.exp(1.0)})
    assert task_weights(state.task_stale, rate=0.0) == {"va": 1.0, "expr": 1.0, "au": 1.0}


# ---- task-wise batches -------------------------------------------------------------------------------------------

def test_equal_shares_take_strict_turns_and_unequal_ones_spread():
    assert interleave([1, 1, 1, 1], 9).tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0]
    order = interleave([2, 1, 1], 8)
    assert np.bincount(order).tolist() == [4, 2, 2]
    assert order.tolist() == [0, 1, 2, 0, 0, 1, 2, 0]


def test_each_batch_comes_from_one_set_and_the_epoch_is_reproducible():
    sampler = TaskSetBatchSampler([10, 3, 50, 7], batch_size=4, steps=12, seed=5)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 12
    for step, batch in enumerate(batches):
        assert len(batch) == 4 and {s for s, _ in batch} == {step % 4}
    small = [p for batch in batches if batch[0][0] == 1 for _, p in batch]
    assert sorted(small[:3]) == [0, 1, 2]  # a set smaller than its share repeats whole permutations
    assert list(sampler) == batches
    sampler.set_epoch(1)
    assert list(sampler) != batches


class Items(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": torch.tensor(i), "va_mask": torch.ones(2, dtype=torch.bool),
                "expr_mask": torch.tensor(True), "au_mask": torch.ones(12, dtype=torch.bool)}


def test_a_set_keeps_only_its_own_task_labels_unless_asked():
    data = Items(5)
    sets = TaskSets(["va", "expr", "mtl"], [data, data, data], [np.arange(5), np.array([4, 2]), np.arange(5)])
    va_item, expr_item, mtl_item = sets[(0, 1)], sets[(1, 0)], sets[(2, 3)]
    assert va_item["va_mask"].all() and not va_item["expr_mask"] and not va_item["au_mask"].any()
    assert int(expr_item["x"]) == 4 and expr_item["expr_mask"] and not expr_item["va_mask"].any()
    assert mtl_item["va_mask"].all() and mtl_item["expr_mask"] and mtl_item["au_mask"].all()
    assert [int(i["task_set"]) for i in (va_item, expr_item, mtl_item)] == [0, 1, 2]
    keep = TaskSets(["va"], [data], [np.arange(5)], other_labels=True)
    assert keep[(0, 0)]["expr_mask"]
    with pytest.raises(ValueError, match=r"\['expr'\]"):
        TaskSets(["va", "expr"], [data, data], [np.arange(5), np.array([], int)])


# ---- config -------------------------------------------------------------------------------------------------------

def test_the_discriminator_follows_task_sets_and_delta():
    config = load_config(overrides=["data.task_sets=[va,expr,au,mtl]", "loss.delta=1.0"])
    assert config.model.task_sets == 4
    model = build_model(ModelConfig(backbone="test_byobnet", image_size=32, temporal_dim=8, modalities=("visual",),
                                    fusion_dims=(16,), task_sets=4))
    faces = torch.zeros(3, 2, 3, 32, 32, dtype=torch.uint8)
    assert model({"faces": faces})["task_logits"].shape == (3, 4)
    assert load_config(overrides=["data.task_sets=[va,expr]"]).model.task_sets == 0  # delta 0: none
    with pytest.raises(ConfigError, match="at least two"):
        load_config(overrides=["loss.delta=1.0"])
    with pytest.raises(ConfigError, match="task_sets"):
        load_config(overrides=["data.task_sets=[va,valence]"])
    with pytest.raises(ConfigError, match="delta_schedule"):
        load_config(overrides=["loss.delta_schedule=linear"])


def test_mtl_images_are_still_windows_unless_the_video_is_asked_for(synth_root):
    layout = discover(synth_root)
    common = [f"data.root={synth_root}", "data.window_frames=3", "data.window_seconds=1.0",
              "model.modalities=[visual]", "data.augment=false"]
    still = build_mtl_split(load_config(overrides=common), layout, "train").dataset
    video = build_mtl_split(load_config(overrides=[*common, "data.mtl_window=video"]), layout, "train").dataset
    # An image late enough in its video for the real window to reach back 1 s.
    row = next(i for i in range(len(still)) if video.window_frames(i)[0] < video.window_frames(i)[-1])
    assert (still.window_frames(row) == still.window_frames(row)[-1]).all()
    faces = still[row]["faces"]
    assert all(np.array_equal(faces[0], f) for f in faces)
    real = video[row]["faces"]
    assert np.array_equal(real[-1], faces[-1]) and not np.array_equal(real[0], faces[0])


def test_privileged_losses_join_the_objective_with_their_weights():
    rng = np.random.default_rng(4)
    batch = tiny_batch(rng)
    s, t = raw_outputs(rng), raw_outputs(rng)
    s["embedding"], t["embedding"] = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    base = MultitaskObjective(("va", "expr", "au"), LossConfig(), teacher=Fixed(t))
    distill = DistillConfig(privileged=("cosine", "ot"), cosine_weight=2.0, ot_weight=0.6, ot_k=3)
    with_pkd = MultitaskObjective(("va", "expr", "au"), LossConfig(), teacher=Fixed(t), distill=distill)
    plain, result = base(Fixed(s), batch), with_pkd(Fixed(s), batch)
    cosine = cosine_loss(torch.tensor(s["embedding"]), torch.tensor(t["embedding"]))
    ot_part = structural_loss(torch.tensor(s["embedding"]), torch.tensor(t["embedding"]), k=3)
    assert float(result["pkd_cosine"].detach()) == pytest.approx(float(cosine), rel=1e-5)
    assert float(result["pkd_ot"].detach()) == pytest.approx(float(ot_part), rel=1e-4, abs=1e-7)
    expected = float(plain["loss"].detach()) + 2.0 * float(cosine) + 0.6 * float(ot_part)
    assert float(result["loss"].detach()) == pytest.approx(expected, rel=1e-5)
