"""Task heads on the shared embedding: one linear layer per task of :mod:`abaw.task_registry`, its width and
activation as the task declares them (ABAW: VA tanh(2), EXPR 8 logits, AU 12 logits)."""

from __future__ import annotations

from torch import Tensor, nn

from abaw.task_registry import ACTIVATIONS, tasks_named
from abaw.tasks import TASKS


class MultitaskHeads(nn.Module):
    """One linear head per task, registered under the task's name (so weights load as ``heads.va.weight``...).

    Args:
        in_dim: width of the shared embedding.
        tasks: the tasks to predict, by name (default: the three ABAW tasks).
    """

    def __init__(self, in_dim: int, tasks: tuple[str, ...] = TASKS):
        super().__init__()
        self.tasks = tasks_named(tasks)
        for task in self.tasks:
            self.add_module(task.name, nn.Linear(in_dim, task.width))

    def forward(self, embedding: Tensor) -> dict[str, Tensor]:
        """Predictions for a batch of embeddings (B, in_dim): each task's (B, width) under its name, its head's
        activation applied (``va`` in (-1, 1); ``expr`` and ``au`` logits)."""
        return {task.name: ACTIVATIONS[task.head_activation](getattr(self, task.name)(embedding))
                for task in self.tasks}
