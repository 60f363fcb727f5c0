"""The metrics: CCC for valence/arousal, macro F1 for expressions, mean F1 for action units, the MTL sum;
accuracy, macro F1 and mean absolute error in classes for an ordered classification (BioVid's pain levels).

Each formula lives here once. Every metric is computed over the WHOLE set it is given (pooled over all frames
of all videos, never averaged per batch), in numpy and float64, with O(N) memory; valence/arousal can also be
scored per video and averaged over the videos (the AVEC convention of RECOLA), labelled as such. Frames whose
target is a "no label" marker (``VA_IGNORE``, ``EXPR_IGNORE``, ``AU_IGNORE`` from :mod:`abaw.tasks`) are left
out of every metric. Source: ``docs/abaw-format.md``, section "Metrics".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from abaw.tasks import AU_IGNORE, AU_NAMES, EXPR_CLASSES, EXPR_IGNORE, VA_COLUMNS, VA_IGNORE

N_EXPR = len(EXPR_CLASSES)
N_AU = len(AU_NAMES)
DEFAULT_AU_GRID: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05, 0.10, ..., 0.95


def _float_matrix(x: ArrayLike, name: str, width: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != width:
        raise ValueError(f"{name} must have shape (N, {width}), got {a.shape}")
    return a


def _check_finite(a: np.ndarray, name: str) -> None:
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")


def _check_same_length(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if len(a) != len(b):
        raise ValueError(f"{names[0]} has {len(a)} frames but {names[1]} has {len(b)}")


def _labels(x: ArrayLike, name: str, n_classes: int, ignore: int | None = None) -> np.ndarray:
    """Integer labels in ``0..n_classes-1`` (or ``ignore``) as int64; floats must hold whole numbers."""
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold integer labels, got dtype {a.dtype}")
    if a.dtype.kind == "f":
        _check_finite(a, name)
        if (a != np.round(a)).any():
            raise ValueError(f"{name} must hold whole-number labels, got fractions")
    # Range is checked before the cast so that huge floats cannot wrap around into a valid label.
    ok = (a >= 0) & (a < n_classes)
    if ignore is not None:
        ok |= a == ignore
    if not ok.all():
        allowed = f"0..{n_classes - 1}" + ("" if ignore is None else f" or {ignore} (no label)")
        raise ValueError(f"{name} has label {a[~ok].flat[0]} outside {allowed}")
    return a.astype(np.int64, copy=False)


def _f1(tp: np.ndarray, n_pred: np.ndarray, n_true: np.ndarray) -> np.ndarray:
    """F1 = 2 TP / (#predicted + #true), and 0 where both counts are 0 (sklearn's ``zero_division=0``)."""
    denom = np.asarray(n_pred + n_true, dtype=np.float64)
    return np.divide(2.0 * np.asarray(tp), denom, out=np.zeros_like(denom), where=denom > 0)


def ccc(pred: ArrayLike, target: ArrayLike) -> float:
    """Concordance correlation coefficient, pooled over all given values.

    ``2 cov(p, t) / (var(p) + var(t) + (mean(p) - mean(t))^2)`` with population (ddof=0) moments, in float64.
    Unlike Pearson correlation it penalises offset and scale: predictions shifted by a constant score below 1.

    When the denominator is zero (both inputs constant and equal to each other) the formula is 0/0; this
    function then returns 1.0 if ``pred`` equals ``target`` exactly, else 0.0.

    Args:
        pred: Predictions, any shape; flattened.
        target: Targets, the same shape as ``pred``. Ignore markers must already be removed.

    Returns:
        The CCC, in [-1, 1].

    Raises:
        ValueError: On a shape mismatch, empty input, or NaN/inf in ``pred`` or ``target``.
    """
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"pred has shape {p.shape} but target has shape {t.shape}")
    if p.size == 0:
        raise ValueError("ccc needs at least one value, got empty input")
    p, t = p.ravel(), t.ravel()
    _check_finite(p, "pred")
    _check_finite(t, "target")
    # Centring on the first value is exact for a constant array, so its variance comes out exactly 0 instead
    # of rounding noise that would make 2 cov / denom of two constants arbitrary; it also limits cancellation.
    dp, dt = p - p[0], t - t[0]
    mp, mt = dp.mean(), dt.mean()
    dp -= mp
    dt -= mt
    n = p.size
    cov = np.dot(dp, dt) / n
    denom = np.dot(dp, dp) / n + np.dot(dt, dt) / n + ((p[0] - t[0]) + (mp - mt)) ** 2
    if denom == 0:
        return float(np.array_equal(p, t))
    return float(2.0 * cov / denom)


def va_metrics(pred: ArrayLike, target: ArrayLike, videos: ArrayLike | None = None) -> dict[str, Any]:
    """Valence/arousal challenge metric: the mean of the two pooled CCCs; with ``videos``, also the mean over
    videos of each video's CCC.

    A target of ``VA_IGNORE`` (-5) leaves that frame out of that dimension only: a frame with an ignored
    valence still counts for arousal.

    Args:
        pred: (N, 2) predicted valence, arousal.
        target: (N, 2) target valence, arousal in [-1, 1], or -5 for "no label".
        videos: (N,) the video of each frame (any hashable labels), to score each video on its own as well.

    Returns:
        ``{"ccc_valence", "ccc_arousal", "score", "n_valence", "n_arousal"}``; ``score`` is the mean of the
        two CCCs and ``n_*`` the number of labelled frames scored in each dimension. With ``videos``, also
        ``ccc_valence_per_video`` and ``ccc_arousal_per_video`` (the mean over videos of the CCC within each
        video; a video with fewer than 2 labelled frames in a dimension is left out of that dimension's mean),
        their mean ``score_per_video``, and ``n_videos_valence``, ``n_videos_arousal``, the videos averaged.

    Raises:
        ValueError: On shape mismatch, NaN/inf in ``pred``, a target outside [-1, 1] that is not -5, or a
            dimension with no labelled frame (with ``videos``: no video with 2 labelled frames).
    """
    p = _float_matrix(pred, "pred", len(VA_COLUMNS))
    t = _float_matrix(target, "target", len(VA_COLUMNS))
    _check_same_length(p, t, ("pred", "target"))
    _check_finite(p, "pred")
    labelled = (t >= -1) & (t <= 1)
    if not (labelled | (t == VA_IGNORE)).all():
        raise ValueError(f"target values must lie in [-1, 1] or be {VA_IGNORE} (no label)")
    cccs, counts = {}, {}
    for j, dim in enumerate(VA_COLUMNS):
        keep = labelled[:, j]
        if not keep.any():
            raise ValueError(f"no labelled {dim} frame: every {dim} target is {VA_IGNORE}")
        cccs[f"ccc_{dim}"] = ccc(p[keep, j], t[keep, j])
        counts[f"n_{dim}"] = int(keep.sum())
    result = {**cccs, "score": sum(cccs.values()) / len(cccs), **counts}
    if videos is not None:
        result |= _va_per_video(p, t, labelled, np.asarray(videos))
    return result


def _va_per_video(p: np.ndarray, t: np.ndarray, labelled: np.ndarray, videos: np.ndarray) -> dict[str, Any]:
    """Each dimension's CCC within each video, averaged over the videos with at least 2 labelled frames."""
    if videos.shape != (len(p),):
        raise ValueError(f"videos must have shape ({len(p)},), one per frame, got {videos.shape}")
    _, video_index = np.unique(videos, return_inverse=True)
    order = np.argsort(video_index, kind="stable")
    bounds = np.flatnonzero(np.diff(video_index[order])) + 1
    video_rows = np.split(order, bounds)
    cccs, counts = {}, {}
    for j, dim in enumerate(VA_COLUMNS):
        per_video = []
        for rows in video_rows:
            rows = rows[labelled[rows, j]]
            if len(rows) >= 2:
                per_video.append(ccc(p[rows, j], t[rows, j]))
        if not per_video:
            raise ValueError(f"no video has 2 labelled {dim} frames: the per-video CCC is undefined")
        cccs[f"ccc_{dim}_per_video"] = float(np.mean(per_video))
        counts[f"n_videos_{dim}"] = len(per_video)
    return {**cccs, "score_per_video": sum(cccs.values()) / len(cccs), **counts}


def expr_metrics(pred: ArrayLike, target: ArrayLike) -> dict[str, Any]:
    """Expression challenge metric: macro F1 over all 8 classes, from one confusion matrix.

    Every class counts in the mean, including one never predicted or absent from the targets (F1 = 0 there);
    this equals sklearn's ``f1_score(labels=range(8), average="macro", zero_division=0)``.

    Args:
        pred: (N,) integer labels in 0..7, or (N, 8) scores / probabilities / logits (argmax is taken).
        target: (N,) integer labels in 0..7, or -1 for "no label" (frame left out).

    Returns:
        ``{"f1_macro", "f1_per_class", "accuracy", "n_frames", "confusion"}``; ``f1_per_class`` is a list of 8
        floats in ``EXPR_CLASSES`` order, ``n_frames`` the number of labelled frames scored and ``confusion`` the
        8 x 8 frame counts (rows: target class, columns: predicted class).

    Raises:
        ValueError: On shape mismatch, NaN/inf in scores, labels out of range, or no labelled frame.
    """
    result = class_metrics(pred, target, N_EXPR, EXPR_IGNORE)
    return {"f1_macro": result["f1_macro"], "f1_per_class": result["f1_per_class"], "accuracy": result["accuracy"],
            "n_frames": result["n_samples"], "confusion": result["confusion"]}


def class_metrics(pred: ArrayLike, target: ArrayLike, n_classes: int, ignore: int = -1) -> dict[str, Any]:
    """Accuracy, macro F1 and mean absolute error in classes, for a classification whose classes are ordered
    (pain levels BL1 < PA1 < ... < PA4): one confusion matrix over every row given.

    The mean absolute error counts how many classes a prediction is off (predicting PA3 for PA1 costs 2); it is
    meaningful for ordered classes only, and for two classes it is the error rate. Macro F1 counts every class,
    F1 = 0 for a class never predicted or absent, as :func:`expr_metrics` does.

    Args:
        pred: (N,) class indices, or (N, n_classes) scores / probabilities (argmax is taken).
        target: (N,) class indices, or ``ignore`` for "no label" (row left out).

    Returns:
        ``{"accuracy", "f1_macro", "mae", "f1_per_class", "n_samples", "confusion"}`` (confusion rows: target).
    """
    t = _labels(target, "target", n_classes, ignore)
    if t.ndim != 1:
        raise ValueError(f"target must have shape (N,), got {t.shape}")
    if np.ndim(pred) == 2:
        scores = _float_matrix(pred, "pred", n_classes)
        _check_finite(scores, "pred")
        p = scores.argmax(axis=1)
    elif np.ndim(pred) == 1:
        p = _labels(pred, "pred", n_classes)
    else:
        raise ValueError(f"pred must be labels (N,) or scores (N, {n_classes}), got shape {np.shape(pred)}")
    _check_same_length(p, t, ("pred", "target"))
    keep = t != ignore
    p, t = p[keep], t[keep]
    if t.size == 0:
        raise ValueError(f"no labelled frame or sample: every target is {ignore}")
    confusion = np.bincount(t * n_classes + p, minlength=n_classes**2).reshape(n_classes, n_classes)
    f1 = _f1(np.diag(confusion), confusion.sum(axis=0), confusion.sum(axis=1))
    return {
        "accuracy": float(np.trace(confusion) / t.size),
        "f1_macro": float(f1.mean()),
        "mae": float(np.abs(p - t).mean()),
        "f1_per_class": f1.tolist(),
        "n_samples": int(t.size),
        "confusion": confusion.tolist(),
    }


def _au_inputs(probs: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated (probs, target, labelled mask), all (N, 12)."""
    p = _float_matrix(probs, "probs", N_AU)
    _check_finite(p, "probs")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("probs must be probabilities in [0, 1] (apply a sigmoid to logits first)")
    t = _labels(target, "target", 2, AU_IGNORE)
    if t.shape != p.shape:
        raise ValueError(f"target must have the shape of probs {p.shape}, got {t.shape}")
    labelled = t != AU_IGNORE
    if not labelled.any():
        raise ValueError(f"no labelled AU: every target is {AU_IGNORE}")
    return p, t, labelled


def _au_thresholds(thresholds: float | ArrayLike) -> np.ndarray:
    thr = np.asarray(thresholds, dtype=np.float64)
    if thr.ndim == 0:
        thr = np.full(N_AU, thr)
    if thr.shape != (N_AU,):
        raise ValueError(f"thresholds must be a scalar or {N_AU} values, got shape {thr.shape}")
    if not ((thr >= 0) & (thr <= 1)).all():
        raise ValueError(f"thresholds must lie in [0, 1], got {thr.tolist()}")
    return thr


def au_metrics(probs: ArrayLike, target: ArrayLike, thresholds: float | ArrayLike = 0.5) -> dict[str, Any]:
    """Action-unit challenge metric: the mean over the 12 AUs of each AU's binary F1.

    An AU is predicted present where ``probs >= threshold``. A target of -1 leaves out that single (frame, AU)
    element, not the whole frame. An AU with no positive target and no positive prediction has F1 = 0
    (sklearn's ``zero_division=0``).

    Args:
        probs: (N, 12) probabilities in [0, 1], columns in ``AU_NAMES`` order.
        target: (N, 12) with 0 (absent), 1 (present) or -1 (no label).
        thresholds: One threshold for every AU, or 12 per-AU thresholds (e.g. from
            :func:`search_au_thresholds` run on validation), each in [0, 1].

    Returns:
        ``{"f1_mean", "f1_per_au", "thresholds", "n_frames", "n_per_au"}``: the score, 12 F1s, the 12
        thresholds applied, the number of frames with at least one labelled AU, and labelled frames per AU.

    Raises:
        ValueError: On shape mismatch, NaN/inf or values outside [0, 1] in ``probs``, targets other than
            0/1/-1, bad thresholds, or no labelled element.
    """
    p, t, labelled = _au_inputs(probs, target)
    thr = _au_thresholds(thresholds)
    hit = p >= thr
    positive = t == 1
    f1 = _f1((hit & positive).sum(axis=0), (hit & labelled).sum(axis=0), positive.sum(axis=0))
    return {
        "f1_mean": float(f1.mean()),
        "f1_per_au": f1.tolist(),
        "thresholds": thr.tolist(),
        "n_frames": int(labelled.any(axis=1).sum()),
        "n_per_au": labelled.sum(axis=0).tolist(),
    }


def search_au_thresholds(probs: ArrayLike, target: ArrayLike, grid: ArrayLike | None = None) -> np.ndarray:
    """Per-AU thresholds that maximise each AU's F1 on the data given.

    Search on VALIDATION and apply the result to test: a split scored with thresholds searched on itself
    gets an optimistic score, since the thresholds were fitted to that split's labels.

    Each AU gets the grid value with the highest F1 (same rule as :func:`au_metrics`: ``probs >= threshold``,
    -1 targets left out). Ties go to the value closest to 0.5, then to the lower value, so the result is
    deterministic and an AU with no positives gets 0.5 when the grid has it. One pass per AU bins the
    probabilities into the grid (O(N) memory, O(N log G) time).

    Args:
        probs: (N, 12) probabilities in [0, 1].
        target: (N, 12) with 0, 1 or -1 (no label).
        grid: Candidate thresholds in [0, 1]; default ``DEFAULT_AU_GRID`` = 0.05, 0.10, ..., 0.95.

    Returns:
        (12,) float64 array of thresholds, in ``AU_NAMES`` order.

    Raises:
        ValueError: On the input problems :func:`au_metrics` rejects, or an empty or out-of-range grid.
    """
    p, t, labelled = _au_inputs(probs, target)
    g = np.asarray(DEFAULT_AU_GRID if grid is None else grid, dtype=np.float64)
    if g.ndim != 1 or g.size == 0 or not ((g >= 0) & (g <= 1)).all():
        raise ValueError(f"grid must be a non-empty 1-D sequence of values in [0, 1], got {g.tolist()}")
    g = np.unique(g)  # sorted, as searchsorted needs
    preference = np.lexsort((g, np.abs(g - 0.5)))  # argmax keeps the first of equal F1s in this order
    best = np.empty(N_AU)
    for j in range(N_AU):
        keep = labelled[:, j]
        col, positive = p[keep, j], t[keep, j] == 1
        # col >= g[k] exactly when k < reached, the same comparison au_metrics makes.
        reached = np.searchsorted(g, col, side="right")
        # Frames predicted positive at g[k] are those with reached > k: suffix sums of the counts from k + 1.
        n_pred = np.cumsum(np.bincount(reached, minlength=g.size + 1)[::-1])[::-1][1:]
        tp = np.cumsum(np.bincount(reached[positive], minlength=g.size + 1)[::-1])[::-1][1:]
        f1 = _f1(tp, n_pred, positive.sum())
        best[j] = g[preference][np.argmax(f1[preference])]
    return best


def mtl_score(va: Mapping[str, Any], expr: Mapping[str, Any], au: Mapping[str, Any]) -> float:
    """Multi-task challenge metric: VA score + EXPR macro F1 + AU mean F1 (maximum 3).

    Args:
        va: Output of :func:`va_metrics`.
        expr: Output of :func:`expr_metrics`.
        au: Output of :func:`au_metrics`.

    Returns:
        ``(CCC_v + CCC_a) / 2 + mean F1_expr + mean F1_au``.
    """
    return float(va["score"] + expr["f1_macro"] + au["f1_mean"])
