"""MT-PKDOT's two stages on a teacher with a pool (:class:`abaw.models.teacher_pool.TeacherPool`;
docs/methods.md section 4).

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

import torch
from torch import Tensor

from abaw.config import DistillConfig
from abaw.distill.privileged import cosine_loss
from abaw.task_registry import labelled_frames, task_losses, tasks_named

SELECTIONS = ("joint", "sample", "batch")
CONFIDENCES = ("error", "entropy")


def member_outputs(outputs: dict[str, Tensor], member: int) -> dict[str, Tensor]:
    """The task outputs and ``embedding`` of one member of the pool (from the ``pool_*`` outputs)."""
    return {key.removeprefix("pool_"): value[:, member] for key, value in outputs.items() if key.startswith("pool_")}


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
    """(B, M) each member's error on each frame's own labels, summed over the tasks the frame is labelled for:
    each task's ``frame_error`` (VA: squared error, mean over the labelled dimensions; EXPR: cross-entropy;
    AU: binary cross-entropy, mean over the labelled ones). NaN where a frame has no label at all.

    Every member of a frame is judged on the same labels, so the errors compare across members (not across
    frames)."""
    embedding = outputs["pool_embedding"]
    batch_size, members = embedding.shape[:2]
    error = torch.zeros(batch_size, members, device=embedding.device)
    judged = torch.zeros(batch_size, dtype=torch.bool, device=embedding.device)
    for task in tasks_named(tasks):
        if task.frame_error is None:
            continue
        error = error + task.frame_error(outputs[f"pool_{task.name}"], batch[task.name], batch[f"{task.name}_mask"])
        judged |= labelled_frames(batch, task.name)
    return error.masked_fill(~judged[:, None], float("nan"))


def member_entropies(outputs: dict[str, Tensor], tasks: tuple[str, ...]) -> Tensor:
    """(B, M) each member's uncertainty on each frame, from the label distributions it predicts: each task's
    ``entropy`` in [0, 1] (EXPR: the entropy of the expression distribution over log 8; AU: the mean binary
    entropy over log 2), averaged over the tasks trained that have one. Valence and arousal are point
    estimates without an entropy."""
    parts = [task.entropy(outputs[f"pool_{task.name}"]) for task in tasks_named(tasks) if task.entropy is not None]
    if not parts:
        raise ValueError(f"entropy confidence needs a task with an entropy (an expression or AU task), not only "
                         f"{list(tasks)}; use distill.pool_confidence=error")
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
