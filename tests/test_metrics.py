"""abaw.metrics against independent references: textbook/np.cov CCC and scikit-learn's f1_score."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from abaw.metrics import (
    DEFAULT_AU_GRID,
    au_metrics,
    ccc,
    expr_metrics,
    mtl_score,
    search_au_thresholds,
    va_metrics,
)
from abaw.tasks import AU_IGNORE, AU_NAMES, EXPR_CLASSES, EXPR_IGNORE, VA_IGNORE

N_EXPR, N_AU = len(EXPR_CLASSES), len(AU_NAMES)


def reference_ccc(p: np.ndarray, t: np.ndarray) -> float:
    """CCC written via np.cov with population moments (bias=True)."""
    p, t = np.asarray(p, dtype=np.float64), np.asarray(t, dtype=np.float64)
    cov = np.cov(p, t, bias=True)
    return 2 * cov[0, 1] / (cov[0, 0] + cov[1, 1] + (p.mean() - t.mean()) ** 2)


def reference_au_f1(probs, target, thresholds) -> np.ndarray:
    thr = np.broadcast_to(thresholds, (N_AU,))
    out = []
    for j in range(N_AU):
        keep = target[:, j] != AU_IGNORE
        out.append(f1_score(target[keep, j], probs[keep, j] >= thr[j], zero_division=0))
    return np.array(out)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def au_data(rng, n=400):
    target = (rng.random((n, N_AU)) < rng.uniform(0.05, 0.5, N_AU)).astype(int)
    probs = np.clip(0.35 * target + rng.random((n, N_AU)) * 0.7, 0, 1)
    target[rng.random((n, N_AU)) < 0.2] = AU_IGNORE
    return probs, target


# --- CCC -------------------------------------------------------------------------------------------------


def test_ccc_matches_np_cov_reference(rng):
    t = rng.uniform(-1, 1, 1000)
    p = 0.6 * t + 0.1 + rng.normal(0, 0.3, t.size)
    assert ccc(p, t) == pytest.approx(reference_ccc(p, t), abs=1e-12)
    assert ccc(t, p) == pytest.approx(ccc(p, t), abs=1e-12)


def test_ccc_hand_computed():
    # Perfectly correlated, shifted by 1: cov = var = 2/3, bias = 1 -> 2(2/3) / (4/3 + 1) = 4/7.
    t = np.array([0.0, 1.0, 2.0])
    assert ccc(t + 1, t) == pytest.approx(4 / 7, abs=1e-12)
    # Scaled by 2 around the same mean 0: cov = 4/3, var_p = 8/3, var_t = 2/3 -> (8/3) / (10/3) = 0.8.
    assert ccc(2 * (t - 1), t - 1) == pytest.approx(0.8, abs=1e-12)
    # Scaled by 2, so means 2 and 1 differ too: (8/3) / (10/3 + 1) = 8/13.
    assert ccc(2 * t, t) == pytest.approx(8 / 13, abs=1e-12)
    assert ccc(1 - t, t - 1) == pytest.approx(-1.0, abs=1e-12)
    assert ccc(-t, t) == pytest.approx(-0.25, abs=1e-12)  # -(4/3) / (4/3 + 4): means -1 and 1
    assert ccc(t, t) == 1.0


def test_ccc_constant_inputs():
    assert ccc([0.3] * 5, [0.3] * 5) == 1.0  # 0/0, defined as 1 when equal
    assert ccc([0.3] * 5, [0.1] * 5) == 0.0
    assert ccc([0.3] * 5, [0.1, 0.2, 0.3, 0.4, 0.5]) == 0.0


def test_ccc_float32_large_offset_is_computed_in_float64(rng):
    t = rng.uniform(-1, 1, 10_000)
    p = (t + 1000).astype(np.float32)
    assert ccc(p, t) == pytest.approx(reference_ccc(p.astype(np.float64), t), abs=1e-9)


@pytest.mark.parametrize(
    ("pred", "target", "match"),
    [
        ([0.1, 0.2], [0.1], "shape"),
        ([], [], "empty"),
        ([0.1, np.nan], [0.1, 0.2], "pred contains NaN"),
        ([0.1, np.inf], [0.1, 0.2], "pred contains NaN or inf"),
        ([0.1, 0.2], [0.1, np.nan], "target contains NaN"),
    ],
)
def test_ccc_errors(pred, target, match):
    with pytest.raises(ValueError, match=match):
        ccc(pred, target)


# --- VA --------------------------------------------------------------------------------------------------


def test_va_metrics_ignores_per_dimension(rng):
    n = 500
    target = rng.uniform(-1, 1, (n, 2))
    pred = np.clip(target + rng.normal(0, 0.4, (n, 2)), -1, 1)
    target[:40, 0] = VA_IGNORE  # valence unknown on these frames, arousal still known
    target[30:100, 1] = VA_IGNORE
    out = va_metrics(pred, target)
    ref_v = reference_ccc(pred[40:, 0], target[40:, 0])
    ref_a = reference_ccc(np.r_[pred[:30, 1], pred[100:, 1]], np.r_[target[:30, 1], target[100:, 1]])
    assert out["ccc_valence"] == pytest.approx(ref_v, abs=1e-9)
    assert out["ccc_arousal"] == pytest.approx(ref_a, abs=1e-9)
    assert out["score"] == pytest.approx((ref_v + ref_a) / 2, abs=1e-9)
    assert (out["n_valence"], out["n_arousal"]) == (n - 40, n - 70)


def test_va_metrics_perfect():
    target = np.array([[0.1, -0.2], [0.5, 0.3], [VA_IGNORE, 0.9], [-0.7, VA_IGNORE]])
    pred = np.where(target == VA_IGNORE, 0.0, target)
    assert va_metrics(pred, target)["score"] == 1.0


@pytest.mark.parametrize(
    ("pred", "target", "match"),
    [
        (np.zeros((3, 2)), np.zeros((4, 2)), "3 frames but target has 4"),
        (np.zeros((3, 3)), np.zeros((3, 2)), r"shape \(N, 2\)"),
        ([[np.nan, 0.0], [0.1, 0.2]], [[0.0, 0.0], [0.1, 0.2]], "NaN"),
        ([[0.0, 0.0], [0.1, 0.2]], [[1.5, 0.0], [0.1, 0.2]], r"\[-1, 1\]"),
        ([[0.0, 0.0], [0.1, 0.2]], [[VA_IGNORE, 0.0], [VA_IGNORE, 0.2]], "no labelled valence"),
    ],
)
def test_va_metrics_errors(pred, target, match):
    with pytest.raises(ValueError, match=match):
        va_metrics(pred, target)


# --- EXPR ------------------------------------------------------------------------------------------------


def check_expr_against_sklearn(pred_labels, target, out):
    keep = target != EXPR_IGNORE
    y, p = target[keep], pred_labels[keep]
    kw = dict(labels=list(range(N_EXPR)), zero_division=0)
    assert out["f1_macro"] == pytest.approx(f1_score(y, p, average="macro", **kw), abs=1e-9)
    np.testing.assert_allclose(out["f1_per_class"], f1_score(y, p, average=None, **kw), atol=1e-9)
    assert out["accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-9)
    assert out["n_frames"] == keep.sum()


def test_expr_metrics_labels_and_scores_match_sklearn(rng):
    n = 600
    target = rng.integers(0, N_EXPR, n)
    target[rng.random(n) < 0.1] = EXPR_IGNORE
    scores = rng.random((n, N_EXPR))
    scores[np.arange(n), np.clip(target, 0, None)] += rng.random(n)
    labels = scores.argmax(1)
    check_expr_against_sklearn(labels, target, expr_metrics(labels, target))
    check_expr_against_sklearn(labels, target, expr_metrics(scores, target))


def test_expr_metrics_never_predicted_and_absent_classes_count_as_zero(rng):
    n = 300
    target = rng.choice([0, 1, 2, 3, 4, 5], n)  # "Surprise" and "Other" absent from targets
    pred = np.where(rng.random(n) < 0.7, target, rng.choice([0, 1, 2, 3, 6], n))  # class 4, 5 partly
    pred[pred == 5] = 0  # "Sadness" never predicted
    out = expr_metrics(pred, target)
    check_expr_against_sklearn(pred, target, out)
    assert out["f1_per_class"][5] == 0.0 and out["f1_per_class"][6] == 0.0 and out["f1_per_class"][7] == 0.0
    assert out["f1_macro"] == pytest.approx(sum(out["f1_per_class"]) / 8, abs=1e-12)


def test_expr_metrics_hand_computed():
    # Class 0: TP 1, predicted 2, true 1 -> F1 2/3; class 1: TP 1, predicted 1, true 2 -> 2/3; others 0.
    out = expr_metrics([0, 0, 1, 3], [0, 1, 1, EXPR_IGNORE])
    assert out["f1_per_class"] == pytest.approx([2 / 3, 2 / 3, 0, 0, 0, 0, 0, 0], abs=1e-12)
    assert out["f1_macro"] == pytest.approx(4 / 3 / 8, abs=1e-12)
    assert out["accuracy"] == pytest.approx(2 / 3, abs=1e-12)
    assert out["n_frames"] == 3


def test_expr_metrics_perfect():
    target = np.arange(N_EXPR).repeat(3)
    assert expr_metrics(target, target)["f1_macro"] == 1.0


@pytest.mark.parametrize(
    ("pred", "target", "match"),
    [
        ([0, 1], [0, 1, 2], "2 frames but target has 3"),
        ([0, 1, 8], [0, 1, 2], "pred has label 8"),
        ([0, 1, 2], [0, 8, 2], "target has label 8"),
        ([0, 1, -1], [0, 1, 2], "pred has label -1"),
        ([0, 1.5, 2], [0, 1, 2], "whole-number"),
        (np.zeros((2, 7)), [0, 1], r"shape \(N, 8\)"),
        (np.full((2, 8), np.nan), [0, 1], "NaN"),
        (np.zeros((2, 2, 8)), [0, 1], "labels"),
        ([0, 1], [EXPR_IGNORE, EXPR_IGNORE], "no labelled frame"),
    ],
)
def test_expr_metrics_errors(pred, target, match):
    with pytest.raises(ValueError, match=match):
        expr_metrics(pred, target)


# --- AU --------------------------------------------------------------------------------------------------


def test_au_metrics_per_element_masking_matches_sklearn(rng):
    probs, target = au_data(rng)
    out = au_metrics(probs, target)
    ref = reference_au_f1(probs, target, 0.5)
    np.testing.assert_allclose(out["f1_per_au"], ref, atol=1e-9)
    assert out["f1_mean"] == pytest.approx(ref.mean(), abs=1e-9)
    assert out["thresholds"] == [0.5] * N_AU
    assert out["n_per_au"] == (target != AU_IGNORE).sum(0).tolist()
    assert out["n_frames"] == (target != AU_IGNORE).any(1).sum()


def test_au_metrics_per_au_thresholds(rng):
    probs, target = au_data(rng)
    thr = np.linspace(0.2, 0.8, N_AU)
    out = au_metrics(probs, target, thr)
    np.testing.assert_allclose(out["f1_per_au"], reference_au_f1(probs, target, thr), atol=1e-9)
    assert out["thresholds"] == thr.tolist()


def test_au_metrics_hand_computed_and_no_positive_au():
    probs = np.zeros((3, N_AU))
    target = np.zeros((3, N_AU), dtype=int)
    probs[:, 0] = [0.9, 0.5, 0.2]
    target[:, 0] = [1, 0, 1]  # TP 1, FP 1 (0.5 >= 0.5), FN 1 -> 2/4
    probs[:, 1] = [0.9, 0.9, 0.9]
    target[:, 1] = [1, AU_IGNORE, AU_IGNORE]  # masked elements are not false positives -> 1
    out = au_metrics(probs, target)
    assert out["f1_per_au"][:2] == pytest.approx([0.5, 1.0], abs=1e-12)
    assert out["f1_per_au"][2:] == [0.0] * (N_AU - 2)  # no positive target, no positive prediction
    assert out["n_per_au"][1] == 1


def test_au_metrics_perfect(rng):
    target = rng.integers(0, 2, (50, N_AU))
    target[0], target[1] = 0, 1  # every AU has a positive
    assert au_metrics(target.astype(float), target)["f1_mean"] == 1.0


@pytest.mark.parametrize(
    ("probs", "target", "thresholds", "match"),
    [
        (np.zeros((3, N_AU)), np.zeros((4, N_AU)), 0.5, "shape of probs"),
        (np.zeros((3, 11)), np.zeros((3, 11)), 0.5, r"shape \(N, 12\)"),
        (np.full((3, N_AU), np.nan), np.zeros((3, N_AU)), 0.5, "NaN"),
        (np.full((3, N_AU), 1.2), np.zeros((3, N_AU)), 0.5, r"\[0, 1\]"),
        (np.zeros((3, N_AU)), np.full((3, N_AU), 2), 0.5, "target has label 2"),
        (np.zeros((3, N_AU)), np.full((3, N_AU), AU_IGNORE), 0.5, "no labelled AU"),
        (np.zeros((3, N_AU)), np.zeros((3, N_AU)), [0.5] * 11, "12 values"),
        (np.zeros((3, N_AU)), np.zeros((3, N_AU)), 50, "thresholds must lie"),
    ],
)
def test_au_metrics_errors(probs, target, thresholds, match):
    with pytest.raises(ValueError, match=match):
        au_metrics(probs, target, thresholds)


# --- threshold search ------------------------------------------------------------------------------------


def brute_force_thresholds(probs, target, grid):
    best = []
    for j in range(N_AU):
        keep = target[:, j] != AU_IGNORE
        f1 = {g: f1_score(target[keep, j], probs[keep, j] >= g, zero_division=0) for g in grid}
        top = max(f1.values())
        best.append(min((g for g in grid if f1[g] >= top - 1e-12), key=lambda g: (abs(g - 0.5), g)))
    return np.array(best)


def test_search_au_thresholds_matches_brute_force(rng):
    probs, target = au_data(rng)
    probs = np.round(probs, 2)  # values on the grid exercise the >= boundary
    target[:, 3] = np.where(target[:, 3] == AU_IGNORE, AU_IGNORE, 0)  # an AU with no positive: all ties
    thr = search_au_thresholds(probs, target)
    np.testing.assert_array_equal(thr, brute_force_thresholds(probs, target, DEFAULT_AU_GRID))
    assert thr[3] == 0.5
    found = np.array(au_metrics(probs, target, thr)["f1_per_au"])
    every = np.array([au_metrics(probs, target, g)["f1_per_au"] for g in DEFAULT_AU_GRID])
    np.testing.assert_array_equal(found, every.max(axis=0))


def test_search_au_thresholds_custom_grid_and_ties(rng):
    probs, target = au_data(rng)
    grid = [0.9, 0.1, 0.3, 0.7, 0.5]
    found = search_au_thresholds(probs, target, grid)
    np.testing.assert_array_equal(found, brute_force_thresholds(probs, target, grid))
    # Every probability 0.8, every target positive: all grid values up to 0.8 tie at F1 1 -> closest to 0.5.
    ones = np.ones((4, N_AU), dtype=int)
    assert search_au_thresholds(np.full((4, N_AU), 0.8), ones, [0.2, 0.6, 0.4, 0.9]).tolist() == [0.4] * N_AU


def test_default_grid():
    np.testing.assert_allclose(DEFAULT_AU_GRID, np.arange(1, 20) * 0.05, atol=1e-12)


@pytest.mark.parametrize("grid", [[], [0.2, 1.5], [[0.2, 0.4]]])
def test_search_au_thresholds_bad_grid(grid):
    with pytest.raises(ValueError, match="grid"):
        search_au_thresholds(np.zeros((3, N_AU)), np.zeros((3, N_AU)), grid)


# --- MTL -------------------------------------------------------------------------------------------------


def test_mtl_score_is_the_sum(rng):
    probs, au_target = au_data(rng)
    va = va_metrics(rng.uniform(-1, 1, (100, 2)), rng.uniform(-1, 1, (100, 2)))
    expr = expr_metrics(rng.integers(0, N_EXPR, 100), rng.integers(0, N_EXPR, 100))
    au = au_metrics(probs, au_target)
    assert mtl_score(va, expr, au) == pytest.approx(va["score"] + expr["f1_macro"] + au["f1_mean"], abs=1e-12)
    perfect = mtl_score({"score": 1.0}, {"f1_macro": 1.0}, {"f1_mean": 1.0})
    assert perfect == 3.0
