"""The face_hog descriptor against a plain numpy HOG written here, and what it must be invariant to."""

import math

import numpy as np
import pytest
import timm
import torch

import abaw.models.visual  # noqa: F401  (registers face_hog)
from abaw.models.visual import VisualEncoder


def numpy_hog(grey: np.ndarray, cells: int = 7, bins: int = 9) -> np.ndarray:
    """Loops over cells: central differences (edges repeated), unsigned orientation bins, cell sums, each cell
    divided by the root of the mean energy of its 3x3 neighbourhood (zeros outside)."""
    g = np.pad(grey.astype(np.float64), 1, mode="edge")
    gx = (g[1:-1, 2:] - g[1:-1, :-2]) / 2
    gy = (g[2:, 1:-1] - g[:-2, 1:-1]) / 2
    magnitude = np.hypot(gx, gy)
    index = np.minimum((np.mod(np.arctan2(gy, gx), math.pi) / math.pi * bins).astype(int), bins - 1)
    size = grey.shape[0] // cells
    hist = np.zeros((cells, cells, bins))
    for i in range(cells):
        for j in range(cells):
            block = (slice(i * size, (i + 1) * size), slice(j * size, (j + 1) * size))
            hist[i, j] = np.bincount(index[block].ravel(), magnitude[block].ravel(), minlength=bins)
    energy = np.pad((hist**2).sum(-1), 1)
    out = np.zeros_like(hist)
    for i in range(cells):
        for j in range(cells):
            out[i, j] = hist[i, j] / np.sqrt(energy[i:i + 3, j:j + 3].mean() + 1e-6)
    return out.ravel()


def test_face_hog_matches_a_numpy_reference():
    faces = torch.rand(3, 3, 112, 112)
    got = timm.create_model("face_hog", num_classes=0)(faces).numpy()
    for face, row in zip(faces, got):
        np.testing.assert_allclose(row, numpy_hog(face.mean(0).numpy()), rtol=1e-4, atol=1e-5)


def test_face_hog_ignores_brightness_and_contrast_but_sees_shape():
    hog = timm.create_model("face_hog", num_classes=0)
    rng = np.random.default_rng(0)
    face = torch.from_numpy(rng.random((1, 3, 112, 112), dtype=np.float32)) * 0.5 + 0.2
    darker = face * 0.6 + 0.05  # a linear change of light: every gradient scales by 0.6
    np.testing.assert_allclose(hog(darker).numpy(), hog(face).numpy(), rtol=1e-3, atol=1e-3)
    moved = torch.roll(face, shifts=16, dims=3)  # the same content one cell to the right
    assert np.abs(hog(moved).numpy() - hog(face).numpy()).mean() > 0.05


def test_face_hog_has_no_parameters_and_refuses_a_classifier():
    hog = timm.create_model("face_hog", num_classes=0)
    assert hog.num_features == 7 * 7 * 9 and not list(hog.parameters())
    with pytest.raises(ValueError, match="num_classes=0"):
        timm.create_model("face_hog", num_classes=8)


def test_visual_encoder_reads_uint8_faces_through_face_hog():
    encoder = VisualEncoder("face_hog", image_size=112, temporal="mean")
    faces = torch.randint(0, 256, (2, 3, 3, 112, 112), dtype=torch.uint8)
    expected = timm.create_model("face_hog", num_classes=0)(faces.flatten(0, 1).float() / 255).reshape(2, 3, -1)
    torch.testing.assert_close(encoder(faces), expected.mean(1))
