"""Task losses for incomplete labels: 1 - CCC (or, to compare, the squared error) for valence/arousal, cross-entropy for expressions, binary
cross-entropy for action units, each over the labelled entries of the batch only.

A batch without any label of a task contributes exactly zero for it (still connected to the graph, so every
process of a distributed run back-propagates through the same parameters).
"""

from __future__ import annotations

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


VA_LOSSES = {"ccc": ccc_loss, "mse": masked_mse}


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


def task_losses(outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
                tasks: tuple[str, ...] = ("va", "expr", "au"), va_loss: str = "ccc") -> dict[str, torch.Tensor]:
    """The supervised loss of each task on a batch, from the batch's labels and masks (``ClipDataset`` keys);
    ``va_loss`` names the VA loss in :data:`VA_LOSSES`."""
    losses = {}
    if "va" in tasks:
        losses["va"] = VA_LOSSES[va_loss](outputs["va"], batch["va"], batch["va_mask"])
    if "expr" in tasks:
        losses["expr"] = masked_cross_entropy(outputs["expr"], batch["expr"], batch["expr_mask"])
    if "au" in tasks:
        losses["au"] = masked_bce(outputs["au"], batch["au"], batch["au_mask"])
    return losses
