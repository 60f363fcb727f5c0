"""Every run draws its curves (curves.png) and, with train.log_with=tensorboard, logs the same rows to
TensorBoard through accelerate's tracker."""

import csv

import numpy as np
import pytest
from PIL import Image

from abaw.plots import SIZES, DPI, write_training_curves
from test_recipes import TINY, recipe  # tests/ is on sys.path (conftest.py)


def test_curves_png_draws_every_loss_part_and_metric(tmp_path):
    history = [{"epoch": e, "train_loss": 2.0 / e, "train_va": 1.0 / e, "train_expr": 0.5, "val_ccc_valence": 0.1 * e,
                "val_score": 0.2 * e, "seconds": 3.0} for e in (1, 2, 3)]
    path = write_training_curves(history, tmp_path / "curves.png")
    image = Image.open(path)
    assert image.format == "PNG" and image.size == (SIZES["curves"][0] * DPI, SIZES["curves"][1] * DPI)
    pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # something was drawn, not a blank canvas


def test_tensorboard_logs_the_rows_of_metrics_csv(synth_root, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    assert recipe("mtl_teacher")(["--config", str(TINY), f"data.root={synth_root}", f"data.cache_dir={tmp_path / 'c'}",
                                  f"train.out_dir={run}", "train.epochs=2", "train.log_with=tensorboard"]) == 0
    assert (run / "curves.png").is_file()
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    events = list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file under RUN/tensorboard"
    logged = EventAccumulator(str(events[0].parent)).Reload()
    scores = logged.Scalars("val_score")
    assert [s.step for s in scores] == [1, 2]
    assert [s.value for s in scores] == pytest.approx([float(r["val_score"]) for r in rows], abs=1e-5)
    assert [s.value for s in logged.Scalars("train_loss")] == pytest.approx(
        [float(r["train_loss"]) for r in rows], rel=1e-5)
