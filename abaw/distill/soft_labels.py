"""Soft-label distillation (ABAW 2022 multitask-KD paper, eq. 13's L^D): on EVERY frame, labelled or not,
the student follows the teacher's valence-arousal (1 - CCC), its tempered expression distribution
(cross-entropy to softmax(teacher / T)) and its AU probabilities (binary cross-entropy to sigmoid(teacher)).

The student's logits are tempered by the same T, and the expression term is scaled by T^2 (Hinton et al.) so
that its gradients keep their size whatever T is. Arguments are (student, teacher) everywhere: the public
code of the paper swapped prediction and target, which docs/methods.md lists as a fault.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from abaw.losses import ccc_loss


def soft_label_losses(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor], temperature: float,
                      tasks: tuple[str, ...] = ("va", "expr", "au"),
                      rows: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Distillation loss per task over the frames in ``rows`` ((B,) bool; default all); the teacher's outputs
    are targets (detached). No frame in ``rows`` (or fewer than 2, for CCC) gives exactly zero, still
    connected to the student's graph."""
    if rows is None:
        rows = torch.ones(student["va"].shape[0], dtype=torch.bool, device=student["va"].device)
    losses = {}
    if "va" in tasks:
        mask = rows[:, None].expand_as(student["va"])
        losses["va"] = ccc_loss(student["va"], teacher["va"].detach(), mask)
    if "expr" in tasks:
        target = F.softmax(teacher["expr"].detach().float() / temperature, dim=1)
        log_student = F.log_softmax(student["expr"].float() / temperature, dim=1)
        per_frame = -(target * log_student).sum(dim=1) * temperature**2
        losses["expr"] = _mean_over(per_frame, rows)
    if "au" in tasks:
        per_frame = F.binary_cross_entropy_with_logits(
            student["au"].float(), torch.sigmoid(teacher["au"].detach().float()), reduction="none").mean(dim=1)
        losses["au"] = _mean_over(per_frame, rows)
    return losses


def _mean_over(values: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    if not bool(rows.any()):
        return values.sum() * 0.0
    return values[rows].mean()
