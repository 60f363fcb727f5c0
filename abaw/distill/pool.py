"""MT-PKDOT's two stages on a teacher with a pool (:class:`abaw.models.pool.TeacherPool`; docs/methods.md section 4).

Stage 1, self-distillation (:func:`pool_losses`): each modality's adapted embedding follows the joint embedding
(1 - cos per sample; the joint embedding is the target, detached) and its own heads learn the tasks. The
paper's loss is 0.5 * alignment + 0.5 * (joint task loss + 0.5 * each modality head's task loss); here the
joint task loss is the objective's eq. 12 and the two other terms come with ``distill.pool_alignment_weight``
(default 1) and ``distill.pool_heads_weight`` (default 0.5): the paper's loss times 2.

Stage 2 (:func:`select_teacher`): for each sample (or for the whole batch) the most confident member of the
pool is the target of the student's embedding losses. Confidence is either the member's error against the
frame's labels or the entropy of its predictions; the joint teacher wins ties and every case the rule cannot
judge (a sample without labels, for "error"), so the pool falls back to it. The public code picks one teacher
per batch by its ground-truth loss and leaves the centroid term out: both choices are options here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from abaw.config import DistillConfig
from abaw.distill.privileged import cosine_loss
from abaw.losses import task_losses
from abaw.models.pool import POOL_OUTPUTS

SELECTIONS = ("joint", "sample", "batch")
CONFIDENCES = ("error", "entropy")


def member_outputs(outputs: dict[str, Tensor], member: int) -> dict[str, Tensor]:
    """The ``va``, ``expr``, ``au`` and ``embedding`` of one member of the pool."""
    return {key.removeprefix("pool_"): outputs[key][:, member] for key in POOL_OUTPUTS}


def pool_losses(outputs: dict[str, Tensor], batch: dict[str, Tensor], tasks: tuple[str, ...],
                distill: DistillConfig) -> dict[str, tuple[float, Tensor]]:
    """Stage 1's terms for the modality members (member 0, the joint teacher, trains by the task losses).

    Returns:
        "pool_alignment": (weight, the sum over modality members of the mean 1 - cos to the joint embedding);
        "pool_heads": (weight, the sum over modality members of the sum of their task losses).
    """
    members = outputs["pool_embedding"].shape[1]
    joint = outputs["embedding"]
    alignment, heads = [], []
    for member in range(1, members):
        own = member_outputs(outputs, member)
        alignment.append(cosine_loss(own["embedding"], joint))
        heads.append(sum(task_losses(own, batch, tasks).values()))
    return {"pool_alignment": (distill.pool_alignment_weight, torch.stack(alignment).sum()),
            "pool_heads": (distill.pool_heads_weight, torch.stack(heads).sum())}


def member_errors(outputs: dict[str, Tensor], batch: dict[str, Tensor], tasks: tuple[str, ...]) -> Tensor:
    """(B, M) each member's error on each frame's own labels: squared error of valence and arousal (mean over
    the labelled dimensions), cross-entropy of the expression, binary cross-entropy of the AUs (mean over the
    labelled ones), summed over the tasks the frame is labelled for. NaN where a frame has no label at all.

    Every member of a frame is judged on the same labels, so the errors compare across members (not across
    frames)."""
    pool_va = outputs["pool_va"].float()
    batch_size, members = pool_va.shape[:2]
    error = torch.zeros(batch_size, members, device=pool_va.device)
    judged = torch.zeros(batch_size, dtype=torch.bool, device=pool_va.device)
    if "va" in tasks:
        mask = batch["va_mask"][:, None, :].float()
        squared = (pool_va - batch["va"][:, None, :].float()).pow(2)
        error = error + (squared * mask).sum(2) / mask.sum(2).clamp_min(1)
        judged |= batch["va_mask"].any(1)
    if "expr" in tasks:
        logits = outputs["pool_expr"].float()
        target = batch["expr"].long().clamp_min(0)[:, None].expand(-1, members)
        ce = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none").view(batch_size, members)
        error = error + ce * batch["expr_mask"][:, None].float()
        judged |= batch["expr_mask"]
    if "au" in tasks:
        logits = outputs["pool_au"].float()
        target = batch["au"][:, None, :].float().clamp(0, 1).expand_as(logits)
        mask = batch["au_mask"][:, None, :].float()
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        error = error + (bce * mask).sum(2) / mask.sum(2).clamp_min(1)
        judged |= batch["au_mask"].any(1)
    return error.masked_fill(~judged[:, None], float("nan"))


def member_entropies(outputs: dict[str, Tensor], tasks: tuple[str, ...]) -> Tensor:
    """(B, M) each member's uncertainty on each frame, from the labels' distributions it predicts: the entropy
    of the expression distribution over log 8 and the mean binary entropy of the AUs over log 2 (each in
    [0, 1]), averaged over those of the two tasks trained. Valence and arousal are point estimates without an
    entropy."""
    parts = []
    if "expr" in tasks:
        logits = outputs["pool_expr"].float()
        probabilities = logits.softmax(-1)
        parts.append(-(probabilities * logits.log_softmax(-1)).sum(-1) / math.log(logits.shape[-1]))
    if "au" in tasks:
        p = outputs["pool_au"].float().sigmoid().clamp(1e-7, 1 - 1e-7)
        parts.append((-(p * p.log() + (1 - p) * (1 - p).log())).mean(-1) / math.log(2))
    if not parts:
        raise ValueError("entropy confidence needs an expression or AU task; use distill.pool_confidence=error")
    return torch.stack(parts).mean(0)


def select_teacher(outputs: dict[str, Tensor], batch: dict[str, Tensor], tasks: tuple[str, ...],
                   distill: DistillConfig) -> tuple[Tensor, Tensor]:
    """The student's target embedding, from the pool member ``distill.pool_selection`` picks.

    "sample": each frame's least uncertain member; "batch": the member least uncertain on average over the
    batch (the public code's rule, with "error" and the batch's mean error); "joint": always member 0. The
    uncertainty is ``distill.pool_confidence``: "error" (:func:`member_errors`) or "entropy"
    (:func:`member_entropies`). Ties and frames that cannot be judged go to the joint teacher.

    Returns:
        The (B, D) target embeddings (detached) and the (B,) member chosen for each frame.
    """
    pool = outputs["pool_embedding"].detach()
    batch_size = pool.shape[0]
    if distill.pool_selection == "joint":
        choice = torch.zeros(batch_size, dtype=torch.long, device=pool.device)
    else:
        if distill.pool_confidence == "error":
            uncertainty = member_errors(outputs, batch, tasks)
        else:
            uncertainty = member_entropies(outputs, tasks)
        if distill.pool_selection == "batch":
            judged = ~uncertainty[:, 0].isnan()
            mean = uncertainty[judged].mean(0) if bool(judged.any()) else torch.zeros_like(uncertainty[0])
            uncertainty = mean.expand(batch_size, -1)
        # argmin returns the FIRST smallest: the joint teacher (member 0) wins ties; NaN rows fall back to it too.
        choice = uncertainty.nan_to_num(0.0).argmin(1)
    return pool[torch.arange(batch_size, device=pool.device), choice], choice
