"""RECOLA end to end: abaw-synth --dataset recola (tiny) -> one epoch of the tiny recipe, unchanged, whose
validation metrics hold the AVEC convention (CCC per recording, averaged) and the pooled CCC."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from abaw.data.synthetic import main as synth_main

from recipe_loader import recipe

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def recola(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "recola"
    assert synth_main(["--dataset", "recola", str(out), "--videos", "2", "--seconds", "2", "--workers", "1"]) == 0
    return out


def test_one_epoch_of_the_tiny_recipe_scores_per_recording_and_pooled(recola, tmp_path):
    out = tmp_path / "run"
    assert recipe("mtl_teacher")(["--config", str(ROOT / "recipes/configs/recola_tiny.yaml"), f"data.root={recola}",
                         f"train.out_dir={out}", f"data.cache_dir={tmp_path / 'cache'}",
                         "model.modalities=[visual,audio,physio]"]) == 0
    with open(out / "metrics.csv") as f:
        row = next(csv.DictReader(f))
    for key in ("val_ccc_valence", "val_ccc_arousal", "val_ccc_valence_per_video", "val_ccc_arousal_per_video"):
        assert np.isfinite(float(row[key])), key
