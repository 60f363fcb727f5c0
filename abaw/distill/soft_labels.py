"""Soft-label distillation (ABAW 2022 multitask-KD paper, eq. 13's L^D): on EVERY frame, labelled or not,
the student follows the teacher's outputs through each task's distillation loss (``Task.distillation_loss``
in :mod:`abaw.task_registry`): for VA 1 - CCC to the teacher's values, for EXPR cross-entropy to
softmax(teacher / T) (the student's logits tempered by the same T, the term scaled by T^2), for AU binary
cross-entropy to sigmoid(teacher). Arguments are (student, teacher) everywhere.
"""

from __future__ import annotations

import torch

from abaw.task_registry import tasks_named


def soft_label_losses(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor], temperature: float,
                      tasks: tuple[str, ...], rows: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Distillation loss per task over the frames in ``rows`` ((B,) bool; default all); the teacher's outputs
    are targets (detached). No frame in ``rows`` (or fewer than 2, for CCC) gives exactly zero, still
    connected to the student's graph."""
    losses = {}
    for task in tasks_named(tasks):
        chosen = rows if rows is not None else torch.ones(len(student[task.name]), dtype=torch.bool,
                                                          device=student[task.name].device)
        losses[task.name] = task.distillation_loss(student[task.name], teacher[task.name], chosen, temperature)
    return losses
