"""MT-PKDOT's teacher pool (Aslam et al.; docs/methods.md section 4): besides the joint (fused) embedding, each
modality's own embedding of the teacher becomes a teacher, through an adapter that maps it into the joint
embedding's space, with its own task heads.

Stage 1 (``recipes/teacher_pool.py``) aligns the adapters with the joint embedding by self-distillation
(:func:`abaw.distill.pool.pool_losses`); stage 2 picks the most confident member as the student's target
(:func:`abaw.distill.pool.select_teacher`). The members are numbered in ``members`` order; member 0 is the
joint teacher, whose outputs are the model's own.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from abaw.models.heads import MultitaskHeads
from abaw.tasks import TASKS

JOINT = "joint"


class TeacherPool(nn.Module):
    """Adapters (D_m -> hidden -> D) and task heads for each modality of a teacher.

    Args:
        modality_dims: modality name -> width D_m of its embedding, in the model's order.
        embedding_dim: D, the width of the joint embedding.
        hidden: the adapters' hidden width (the paper: 512 -> 256 -> 512).
        tasks: the tasks of the heads (the model's).

    Attributes:
        members: ``("joint", *modalities)``, the order of the pool outputs' second axis.
    """

    def __init__(self, modality_dims: Mapping[str, int], embedding_dim: int, hidden: int = 256,
                 tasks: tuple[str, ...] = TASKS):
        super().__init__()
        self.tasks = tasks
        self.adapters = nn.ModuleDict({name: nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(),
                                                           nn.Linear(hidden, embedding_dim))
                                       for name, dim in modality_dims.items()})
        self.heads = nn.ModuleDict({name: MultitaskHeads(embedding_dim, tasks) for name in modality_dims})
        self.members: tuple[str, ...] = (JOINT, *modality_dims)

    def forward(self, embeddings: Mapping[str, Tensor], joint: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The pool's outputs, member 0 the joint teacher.

        Args:
            embeddings: modality name -> (B, D_m) embedding.
            joint: the model's own outputs: ``embedding`` (B, D) and each task's.

        Returns:
            ``pool_embedding`` (B, M, D) and ``pool_<task>`` (B, M, width) for each task (``pool_va`` (B, M, 2),
            ``pool_expr`` (B, M, 8), ``pool_au`` (B, M, 12)), M = len(members).
        """
        adapted = {name: adapter(embeddings[name]) for name, adapter in self.adapters.items()}
        heads = {name: self.heads[name](adapted[name]) for name in adapted}
        outputs = {"pool_embedding": torch.stack([joint["embedding"], *adapted.values()], dim=1)}
        for task in self.tasks:
            outputs[f"pool_{task}"] = torch.stack([joint[task], *(h[task] for h in heads.values())], dim=1)
        return outputs
