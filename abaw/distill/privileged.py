"""Privileged distillation on embeddings (PKD, Aslam et al., CVPRW 2023; docs/methods.md section 2): the
visual-only student's embedding follows the audio-visual teacher's fused one, per sample, and a
negative-transfer module drops the distillation where the teacher itself is wrong.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from abaw import metrics
from abaw.config import DistillConfig
from abaw.distill.ot import centroid_loss, structural_loss
from abaw.tasks import VA_IGNORE


def cosine_loss(student: Tensor, teacher: Tensor, weights: Tensor | None = None) -> Tensor:
    """PKD eq. 1: 1 - cos(teacher_b, student_b) for EACH sample b, then the mean over the batch (the public
    code flattened the whole batch into one vector, which compares batches, not samples).

    Args:
        student: (B, D) student embeddings (project them first when the widths differ).
        teacher: (B, D) teacher embeddings; detached, so no gradient reaches the teacher.
        weights: optional (B,) per-sample weights (e.g. :func:`negative_transfer_weights`); a weight of 0 drops
            the sample's term, and the mean stays over all B samples.
    """
    if student.shape != teacher.shape:
        raise ValueError(f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)} embeddings differ "
                         f"in shape; project the student's to the teacher's width")
    per_sample = 1.0 - F.cosine_similarity(student.float(), teacher.detach().float(), dim=1)
    if weights is not None:
        per_sample = per_sample * weights.to(per_sample.dtype)
    return per_sample.mean()


def negative_transfer_weights(teacher_ccc: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    """The negative-transfer module (PKD eq. 5-7) for each sequence, from the teacher's CCC on it.

    gamma = 1 - CCC_teacher is the teacher's error on the sequence (0 for a perfect teacher, up to 2). Where
    gamma <= threshold the distillation term is kept (weight 1) and the ground-truth term is weighted by gamma
    (eq. 6-7: the better the teacher, the more the student follows it). Where gamma > threshold the teacher is
    "wrong" and the distillation term is dropped (weight 0); the ground truth weighs 1. Both weights stay in
    [0, 1] (for a threshold <= 1): the public code's ground-truth weight 1 - beta turns negative when the
    teacher's CCC is negative, which flips the sign of a loss.

    Args:
        teacher_ccc: (S,) the teacher's CCC on each sequence.
        threshold: theta, the largest teacher error still distilled.

    Returns:
        ``(distill_weight, truth_weight)``, each (S,).
    """
    gamma = 1.0 - teacher_ccc
    kept = gamma <= threshold
    distill = kept.to(teacher_ccc.dtype)
    truth = torch.where(kept, gamma.clamp(min=0.0), torch.ones_like(gamma))
    return distill, truth


def sequence_teacher_ccc(videos: np.ndarray, frames: np.ndarray, fps: np.ndarray, teacher_va: np.ndarray,
                         labels_va: np.ndarray, seconds: float) -> np.ndarray:
    """The teacher's CCC (mean over valence and arousal) on the sequence each frame belongs to.

    A sequence is a run of ``seconds`` of one video (frames (k * L, (k + 1) * L], L = round(seconds * fps)),
    the unit over which PKD's negative-transfer module judges the teacher. Frames without a VA label are left
    out of the CCC; a sequence with fewer than 2 labelled frames gets NaN (no judgement).

    Args:
        videos: (N,) video codes; frames: (N,) 1-based frame numbers; fps: (N,) each frame's video rate;
        teacher_va: (N, 2) the teacher's VA; labels_va: (N, 2) the labels (-5 where absent).
    """
    length = np.maximum(1, np.round(seconds * fps)).astype(np.int64)
    segment = (frames - 1) // length
    # Sort by (video, segment) once and walk the runs: one pass, whatever the number of sequences.
    order = np.lexsort((segment, videos))
    keys = np.stack([videos[order], segment[order]], axis=1)
    starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]).any(axis=1), True])
    result = np.full(len(frames), np.nan)
    labelled = (labels_va != VA_IGNORE).all(axis=1)
    for start, stop in zip(starts[:-1], starts[1:]):
        members = order[start:stop]
        use = members[labelled[members]]
        if len(use) >= 2:
            result[members] = np.mean([metrics.ccc(teacher_va[use, d], labels_va[use, d]) for d in range(2)])
    return result


def privileged_losses(student: dict[str, Tensor], teacher: dict[str, Tensor],
                      distill: DistillConfig) -> dict[str, tuple[float, Tensor]]:
    """The embedding losses that ``distill.privileged`` names, each with its weight.

    "cosine" and "centroid" compare the student's embedding (its ``projected`` one, when the widths differ)
    with the teacher's fused ``embedding``; "ot" compares the two similarity structures, for any widths. When
    the teacher carries ``ntm_weight`` (an export with the negative-transfer module on), "cosine" is weighted
    per sample by it.

    Returns:
        loss name ("pkd_cosine", "pkd_ot", "pkd_centroid") -> (weight, loss).
    """
    losses: dict[str, tuple[float, Tensor]] = {}
    if not distill.privileged:
        return losses
    student_embedding = student.get("projected", student["embedding"])
    target = teacher["embedding"]
    ntm = teacher.get("ntm_weight")  # per-sample distillation weights of the negative-transfer module
    for name in distill.privileged:
        if name == "cosine":
            losses["pkd_cosine"] = (distill.cosine_weight, cosine_loss(student_embedding, target, ntm))
        elif name == "centroid":
            losses["pkd_centroid"] = (distill.centroid_weight, centroid_loss(student_embedding, target))
        elif name == "ot":
            k = min(distill.ot_k, target.shape[0] - 1)  # a batch of B samples has B - 1 others
            losses["pkd_ot"] = (distill.ot_weight, structural_loss(
                student["embedding"], target, k, distill.ot_anchors, distill.ot_matching, distill.ot_epsilon,
                distill.ot_iterations))
        else:
            raise ValueError(f"unknown privileged loss {name!r}")
    return losses
