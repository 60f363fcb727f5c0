"""Structural distillation by optimal transport (PKDOT, Aslam et al.; docs/methods.md section 3).

The teacher's knowledge is the SHAPE of its embedding space over a batch, not its points: the cosine-similarity
matrices of teacher and student embeddings (B x B) are compared row by row. Each row is cut down to k anchor
columns, chosen on the teacher's matrix (the k most similar other samples, or the k least similar: the paper
says top-k, its public code takes the least similar, so the choice is explicit here). The student's rows are
then matched to the teacher's rows:

* ``matching="ot"``: as unordered point clouds, by the debiased entropic optimal-transport (Sinkhorn)
  divergence; POT solves each plan (log-domain Sinkhorn, torch backend);
* ``matching="rows"``: row i to row i, the mean squared difference.

Plans are solved on detached costs and the loss is <plan, cost> + eps KL(plan | a b^T): its gradient with
respect to the cost IS the optimal plan (envelope theorem), so nothing is back-propagated through the Sinkhorn
iterations. Teacher embeddings are always detached: no gradient reaches the teacher.
"""

from __future__ import annotations

import ot
import torch
import torch.nn.functional as F
from torch import Tensor

ANCHORS = ("top", "bottom")
MATCHINGS = ("ot", "rows")


def similarity_matrix(embeddings: Tensor) -> Tensor:
    """(B, D) -> (B, B) cosine similarities, in float32."""
    unit = F.normalize(embeddings.float(), dim=1)
    return unit @ unit.T


def anchor_columns(teacher_similarity: Tensor, k: int, anchors: str = "top") -> Tensor:
    """(B, k) column indices per row: the k other samples most ("top") or least ("bottom") similar to the row's
    sample in the teacher's space. A sample is never its own anchor."""
    if anchors not in ANCHORS:
        raise ValueError(f"anchors must be one of {ANCHORS}, got {anchors!r}")
    batch = teacher_similarity.shape[0]
    if not 0 < k < batch:
        raise ValueError(f"k must be between 1 and batch size - 1 = {batch - 1}, got {k}")
    scores = teacher_similarity.detach().clone()
    scores.fill_diagonal_(float("-inf") if anchors == "top" else float("inf"))
    return scores.topk(k, dim=1, largest=anchors == "top").indices


def sinkhorn_plan(cost: Tensor, epsilon: float, iterations: int) -> Tensor:
    """Entropic OT plan between two uniform point clouds of sizes (N, M) for a (N, M) cost (no gradient)."""
    cost = cost.detach().double()
    a = torch.full((cost.shape[0],), 1.0 / cost.shape[0], dtype=cost.dtype, device=cost.device)
    b = torch.full((cost.shape[1],), 1.0 / cost.shape[1], dtype=cost.dtype, device=cost.device)
    return ot.sinkhorn(a, b, cost, reg=epsilon, method="sinkhorn_log", numItermax=iterations, stopThr=1e-9,
                       warn=False)


def entropic_ot(x: Tensor, y: Tensor, epsilon: float, iterations: int) -> Tensor:
    """OT_eps between the rows of x (N, k) and y (M, k), uniform weights, cost = mean squared difference."""
    cost = torch.cdist(x, y).pow(2) / x.shape[1]
    plan = sinkhorn_plan(cost, epsilon, iterations).to(cost.dtype)
    outer = 1.0 / (cost.shape[0] * cost.shape[1])
    entropy = (plan * (plan.clamp_min(1e-30) / outer).log()).sum()
    return (plan * cost).sum() + epsilon * entropy


def sinkhorn_divergence(x: Tensor, y: Tensor, epsilon: float, iterations: int) -> Tensor:
    """Debiased: OT(x, y) - OT(x, x) / 2 - OT(y, y) / 2; exactly 0 when x equals y, positive otherwise."""
    return (entropic_ot(x, y, epsilon, iterations) - 0.5 * entropic_ot(x, x, epsilon, iterations)
            - 0.5 * entropic_ot(y, y, epsilon, iterations))


def structural_loss(student: Tensor, teacher: Tensor, k: int, anchors: str = "top", matching: str = "ot",
                    epsilon: float = 0.01, iterations: int = 100) -> Tensor:
    """PKDOT's loss between the anchored similarity rows of student (B, D_s) and teacher (B, D_t) embeddings
    (the widths may differ: only the B x B similarities are compared).

    Args:
        k: anchor columns per row (the paper: 30 of a batch of 128).
        anchors: "top" (most similar) or "bottom" (least similar).
        matching: "ot" (Sinkhorn divergence between the row clouds) or "rows" (row i to row i).
        epsilon: entropic regularisation of the plans.
        iterations: Sinkhorn iterations at most.
    """
    if matching not in MATCHINGS:
        raise ValueError(f"matching must be one of {MATCHINGS}, got {matching!r}")
    teacher_similarity = similarity_matrix(teacher.detach())
    columns = anchor_columns(teacher_similarity, k, anchors)
    target = teacher_similarity.gather(1, columns)
    rows = similarity_matrix(student).gather(1, columns)
    if matching == "rows":
        return (rows - target).pow(2).mean()
    return sinkhorn_divergence(rows, target, epsilon, iterations).float()


def centroid_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Squared l2 distance between the batch centroids of student and teacher embeddings (MT-PKDOT); the
    widths must agree (project the student first when they do not)."""
    if student.shape[1] != teacher.shape[1]:
        raise ValueError(f"centroid loss needs equal widths, got {student.shape[1]} and {teacher.shape[1]}")
    return (student.float().mean(0) - teacher.detach().float().mean(0)).pow(2).sum()
