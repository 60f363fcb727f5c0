"""What a training step optimises. The loop calls ``objective(model, batch)`` and gets ``{"loss", "outputs",
...parts}`` back, so the teacher, a visual-only model and the student share one loop (as timm's ``task/``
objects do). Between steps the loop tells the objective how far training has got (``progress``, for the
reversal ramp) and, each epoch, the task weights gamma (:func:`task_weights`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from abaw.config import DistillConfig, LossConfig
from abaw.distill.pool import pool_losses, select_teacher
from abaw.distill.privileged import privileged_losses
from abaw.distill.soft_labels import soft_label_losses
from abaw.task_registry import labelled_frames, task_losses

# What a training step optimises: the tasks' supervised losses alone (eq. 12: a teacher, a visual-only model),
# with a frozen teacher's soft labels and embedding losses (eq. 13: a student), or with the self-distillation of a
# teacher pool that the model itself holds (MT-PKDOT stage 1).
MODES = ("supervised", "distill", "pool")


class MultitaskObjective:
    """Eq. 12 (no teacher) and eq. 13 (with a teacher) of the ABAW 2022 multitask-KD paper, on any batch.

    For each task t, with gamma_t its weight (:func:`task_weights`)::

        frames labelled for t:      gamma_t * (alpha * L_t^S + kd * L_t^D)
        frames without t's label:   beta * gamma_t * L_t^D
        + L^T  (cross-entropy of the discriminator's task-set logits against ``batch["task_set"]``)
        + the privileged embedding losses of ``distill.privileged``, each times its weight
        + MT-PKDOT's stage-1 terms, when the model itself holds a teacher pool (``pool_*`` outputs)

    On a batch of one task set (Algorithm 1) every frame is labelled for the set's task i and for no other,
    so this is exactly gamma_i (alpha L_i^S + L_i^D) + sum_j beta gamma_j L_j^D + L^T. On a mixed batch each
    task's labelled and unlabelled frames form one term each, each term the mean over its own frames (so
    L^D counts twice as much as a single mean over the batch would). The discriminator sits behind a
    gradient-reversal layer whose coefficient is delta: the shared embedding receives -delta times the gradient
    of L^T (eq. 13's delta L^T, reversed), while the discriminator itself learns from L^T at full weight and
    is ready when a ramp brings delta up.
    On MTL batches every task is labelled; the paper writes the plain sum of the supervised losses there,
    which this is up to the weights alpha and gamma.

    A teacher with a pool (MT-PKDOT stage 2) gives its soft labels from the joint member, and its embedding
    losses follow the member ``distill.pool_selection`` picks; the share of frames that fell back to the joint
    member is logged as ``pool_joint_share``.

    The teacher, if any, stays in eval mode, without gradients, out of the optimizer and out of DDP: it is
    held here, not handed to ``accelerator.prepare``.

    What is computed is set here, never guessed from the keys the model returns: the mode, and the task
    discriminator's L^T exactly when ``loss.delta`` > 0. A model that lacks an output its mode or L^T reads
    is an error that says which.

    Args:
        tasks: the tasks trained (names in :data:`abaw.task_registry.TASK_REGISTRY`).
        loss: the weights, and the supervised VA loss (``loss.va_loss``).
        teacher: the frozen teacher for L^D; given exactly in mode "distill".
        distill: T of the tempered expression distribution in L^D (``distill.temperature``), the privileged
            embedding losses to add (``distill.privileged``), each with its weight, and a pool's weights.
        mode: one of :data:`MODES`: "supervised" (eq. 12), "distill" (eq. 13, with ``teacher``) or "pool"
            (eq. 12 plus MT-PKDOT's stage-1 terms; the model holds a teacher pool). Default: "distill" when a
            teacher is given, else "supervised".

    Attributes:
        progress: fraction of training done, in [0, 1]; set by the loop before each step.
        task_weights: gamma per task; set by the loop each epoch.
    """

    def __init__(self, tasks: tuple[str, ...], loss: LossConfig, teacher: nn.Module | None = None,
                 distill: DistillConfig | None = None, mode: str | None = None):
        mode = mode or ("distill" if teacher is not None else "supervised")
        if mode not in MODES:
            raise ValueError(f"objective mode {mode!r}: choose one of {', '.join(MODES)}")
        if (mode == "distill") != (teacher is not None):
            raise ValueError(f"objective mode {mode!r} {'needs' if mode == 'distill' else 'takes no'} teacher")
        self.mode = mode
        self.tasks = tasks
        self.loss = loss
        self.teacher = teacher.eval().requires_grad_(False) if teacher is not None else None
        self.distill = distill or DistillConfig()
        self.progress = 0.0
        self.task_weights = {task: 1.0 for task in tasks}

    def to(self, device: torch.device) -> MultitaskObjective:
        if self.teacher is not None:
            self.teacher.to(device)
        return self

    def grl_coefficient(self) -> float:
        """delta now: fixed, or ramped linearly from 0 over training."""
        ramp = self.progress if self.loss.delta_schedule == "ramp" else 1.0
        return self.loss.delta * ramp

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        outputs = model(batch, grl_coefficient=self.grl_coefficient())
        parts = task_losses(outputs, batch, self.tasks, {"va": self.loss.va_loss})
        total = sum(self.loss.alpha * self.task_weights[t] * parts[t] for t in self.tasks)
        if self.mode == "distill":
            with torch.no_grad():
                teacher = self.teacher(batch)
            if self.distill.pool_selection != "joint":
                if "pool_embedding" not in teacher:
                    raise KeyError(f"distill.pool_selection={self.distill.pool_selection} needs a teacher pool: "
                                   f"distil from a run of recipes/teacher_pool.py")
                teacher["embedding"], choice = select_teacher(teacher, batch, self.tasks, self.distill)
                parts["pool_joint_share"] = (choice == 0).float().mean()
            for task in self.tasks:
                labelled = labelled_frames(batch, task)
                own = soft_label_losses(outputs, teacher, self.distill.temperature, (task,), rows=labelled)[task]
                other = soft_label_losses(outputs, teacher, self.distill.temperature, (task,), rows=~labelled)[task]
                parts[f"kd_{task}"], parts[f"kd_other_{task}"] = own, other
                total = total + self.task_weights[task] * (self.loss.kd * own + self.loss.beta * other)
            for name, (weight, value) in privileged_losses(outputs, teacher, self.distill).items():
                parts[name] = value
                total = total + weight * value
        if self.mode == "pool":  # MT-PKDOT stage 1: the model is the pool
            if "pool_embedding" not in outputs:
                raise KeyError("the objective's mode is pool, but the model holds no teacher pool "
                               "(model.pool_adapter_dim=0): train it with recipes/teacher_pool.py")
            for name, (weight, value) in pool_losses(outputs, batch, self.tasks, self.distill).items():
                parts[name] = value
                total = total + weight * value
        if self.loss.delta > 0:
            if "task_logits" not in outputs:
                raise KeyError(f"loss.delta={self.loss.delta} trains a task discriminator, which the model lacks "
                               f"(its model.task_sets is 0)")
            if "task_set" not in batch:
                raise KeyError("the model has a task discriminator but the batch carries no task_set: "
                               "train with data.task_sets")
            parts["task"] = F.cross_entropy(outputs["task_logits"], batch["task_set"].long())
            total = total + parts["task"]
        return {"loss": total, "outputs": outputs, **parts}


def task_weights(stale_epochs: dict[str, int], rate: float) -> dict[str, float]:
    """gamma_t = exp(rate * n_t), n_t the epochs since task t's validation score last improved (Deng et al.,
    as used by the ABAW 2022 paper with rate 0.5): a task that stalls gets a growing share of the loss."""
    return {task: math.exp(rate * n) for task, n in stale_epochs.items()}
