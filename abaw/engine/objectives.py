"""What a training step optimises. The loop calls ``objective(model, batch)`` and gets ``{"loss", "outputs",
...parts}`` back, so plain training and distillation share one loop (as timm's ``task/`` objects do)."""

from __future__ import annotations

import torch
from torch import nn

from abaw.distill.soft_labels import soft_label_losses
from abaw.losses import task_losses


class Supervised:
    """The sum of the masked task losses: the teacher, or a visual-only model trained without distillation."""

    def __init__(self, tasks: tuple[str, ...]):
        self.tasks = tasks

    def to(self, device: torch.device) -> Supervised:
        return self

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        outputs = model(batch)
        parts = task_losses(outputs, batch, self.tasks)
        return {"loss": sum(parts.values()), "outputs": outputs, **parts}


class SoftLabelDistillation:
    """The student's own task losses plus soft-label losses to a frozen teacher, on every frame.

    The teacher stays in eval mode, without gradients, out of the optimizer and out of DDP: it is held here,
    not handed to ``accelerator.prepare``.
    """

    def __init__(self, teacher: nn.Module, tasks: tuple[str, ...], temperature: float, soft_weight: float = 1.0,
                 hard_weight: float = 1.0):
        self.teacher = teacher.eval().requires_grad_(False)
        self.tasks = tasks
        self.temperature = temperature
        self.soft_weight = soft_weight
        self.hard_weight = hard_weight

    def to(self, device: torch.device) -> SoftLabelDistillation:
        self.teacher.to(device)
        return self

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            teacher = self.teacher(batch)
        outputs = model(batch)
        hard = task_losses(outputs, batch, self.tasks)
        soft = soft_label_losses(outputs, teacher, self.temperature, self.tasks)
        loss = self.hard_weight * sum(hard.values()) + self.soft_weight * sum(soft.values())
        return {"loss": loss, "outputs": outputs, **hard, **{f"kd_{t}": v for t, v in soft.items()}}
