"""The loss formulas of the tasks, each written once; :mod:`abaw.task_registry` says which task uses which.

Supervised, on incomplete labels: 1 - CCC (or, to compare, the squared error) for valence/arousal,
cross-entropy for expressions, binary cross-entropy for action units, each over the labelled entries of the
batch only. Distillation (soft labels, ABAW 2022 multitask-KD paper, eq. 13's L^D), over the frames chosen:
1 - CCC to the teacher's valence/arousal, cross-entropy to its tempered expression distribution, binary
cross-entropy to its AU probabilities. Per frame, for a teacher pool's members: the error against a frame's
labels and the entropy of a prediction.

A batch without any label of a task contributes exactly zero for it (still connected to the graph, so every
process of a distributed run back-propagates through the same parameters). Arguments are (student, teacher)
and (prediction, target) everywhere: the multitask-KD paper's public code swapped them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MIN_CCC_FRAMES = 2  # CCC needs a variance: fewer labelled frames give no VA loss


def ccc(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Concordance correlation of two 1-D tensors (population moments), computed in float32."""
    pred, target = pred.float(), target.float()
    pred_mean, target_mean = pred.mean(), target.mean()
    covariance = ((pred - pred_mean) * (target - target_mean)).mean()
    denominator = pred.var(unbiased=False) + target.var(unbiased=False) + (pred_mean - target_mean) ** 2
    return 2 * covariance / denominator.clamp_min(1e-8)


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over dimensions of 1 - CCC, each dimension over its labelled rows. pred/target (B, D), mask (B, D)."""
    if mask is None:
        mask = torch.ones_like(pred, dtype=torch.bool)
    losses = []
    for d in range(pred.shape[1]):
        rows = mask[:, d]
        if int(rows.sum()) >= MIN_CCC_FRAMES:
            losses.append(1 - ccc(pred[rows, d], target[rows, d]))
    return torch.stack(losses).mean() if losses else pred.sum() * 0.0


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error over the labelled entries. pred/target (B, D), mask (B, D)."""
    if mask is None:
        mask = torch.ones_like(pred, dtype=torch.bool)
    if not bool(mask.any()):
        return pred.sum() * 0.0
    return F.mse_loss(pred[mask].float(), target[mask].float())


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over the labelled rows. logits (B, C), target (B,), mask (B,)."""
    if not bool(mask.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[mask].float(), target[mask].long())


def masked_bce(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits averaged over the labelled entries. All (B, K)."""
    weight = mask.float()
    if not bool(mask.any()):
        return logits.sum() * 0.0
    per_entry = F.binary_cross_entropy_with_logits(logits.float(), target.float().clamp(0, 1), reduction="none")
    return (per_entry * weight).sum() / weight.sum()


# ---- distillation: (student, teacher, rows, temperature) -> loss over the frames in rows -----------------------

def soft_ccc(student: torch.Tensor, teacher: torch.Tensor, rows: torch.Tensor, temperature: float) -> torch.Tensor:
    """1 - CCC to the teacher's values, per dimension over ``rows`` ((B,) bool); the temperature is unused."""
    return ccc_loss(student, teacher.detach(), rows[:, None].expand_as(student))


def soft_cross_entropy(student: torch.Tensor, teacher: torch.Tensor, rows: torch.Tensor,
                       temperature: float) -> torch.Tensor:
    """Cross-entropy of the student's tempered logits to softmax(teacher / T), times T^2 (Hinton et al.: its
    gradients keep their size whatever T is), averaged over ``rows``."""
    target = F.softmax(teacher.detach().float() / temperature, dim=1)
    log_student = F.log_softmax(student.float() / temperature, dim=1)
    return _mean_over(-(target * log_student).sum(dim=1) * temperature**2, rows)


def soft_bce(student: torch.Tensor, teacher: torch.Tensor, rows: torch.Tensor, temperature: float) -> torch.Tensor:
    """Binary cross-entropy of the student's logits to sigmoid(teacher), averaged over the labels and then
    over ``rows``; the temperature is unused."""
    per_frame = F.binary_cross_entropy_with_logits(student.float(), torch.sigmoid(teacher.detach().float()),
                                                   reduction="none").mean(dim=1)
    return _mean_over(per_frame, rows)


def _mean_over(values: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    if not bool(rows.any()):
        return values.sum() * 0.0
    return values[rows].mean()


# ---- per frame, for the members of a teacher pool: pred (B, M, ...) against the frame's labels (B, ...) --------

def squared_error_per_frame(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, M) squared error, mean over the labelled dimensions (0 where none). pred (B, M, D), target/mask (B, D)."""
    weight = mask[:, None, :].float()
    squared = (pred.float() - target[:, None, :].float()).pow(2)
    return (squared * weight).sum(2) / weight.sum(2).clamp_min(1)


def cross_entropy_per_frame(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, M) cross-entropy of each member's logits (B, M, C) to the class (B,); 0 where ``mask`` (B,) is off."""
    batch_size, members = pred.shape[:2]
    classes = target.long().clamp_min(0)[:, None].expand(-1, members)
    ce = F.cross_entropy(pred.float().flatten(0, 1), classes.flatten(), reduction="none")
    return ce.view(batch_size, members) * mask[:, None].float()


def bce_per_frame(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, M) binary cross-entropy of each member's logits (B, M, K), mean over the labelled ones (0 where none)."""
    weight = mask[:, None, :].float()
    labels = target[:, None, :].float().clamp(0, 1).expand_as(pred)
    bce = F.binary_cross_entropy_with_logits(pred.float(), labels, reduction="none")
    return (bce * weight).sum(2) / weight.sum(2).clamp_min(1)


def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) over the last axis, divided by its largest value log C: in [0, 1]."""
    logits = logits.float()
    return -(logits.softmax(-1) * logits.log_softmax(-1)).sum(-1) / math.log(logits.shape[-1])


def sigmoid_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean binary entropy of sigmoid(logits) over the last axis, divided by log 2: in [0, 1]."""
    p = logits.float().sigmoid().clamp(1e-7, 1 - 1e-7)
    return (-(p * p.log() + (1 - p) * (1 - p).log())).mean(-1) / math.log(2)
