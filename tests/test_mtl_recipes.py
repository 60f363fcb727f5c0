"""The MTL challenge end to end on the tiny synthetic set: a teacher trained on task-wise batches with the
task discriminator and validated on the MTL file, a student distilled with eq. 13, MTL predictions of the
test list, and the single-file MTL submission that passes the independent check."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from abaw.data.annotations import read_frame_list
from abaw.data.layout import discover
from abaw.predict import main as predict_main
from abaw.submit.cli import main as submit_main
from test_recipes import TINY, recipe

TASK_WISE = ["data.task_sets=[va,expr,au,mtl]", "data.validation=mtl", "loss.delta=1.0",
             "loss.delta_schedule=ramp", "data.train_clips=128"]


@pytest.fixture(scope="module")
def mtl_runs(synth_root, tmp_path_factory):
    base = tmp_path_factory.mktemp("mtl_runs")
    common = [f"data.root={synth_root}", f"data.cache_dir={base / 'cache'}", *TASK_WISE]
    teacher, student = base / "teacher", base / "student"
    assert recipe("mtl_teacher")(["--config", str(TINY), *common, f"train.out_dir={teacher}"]) == 0
    assert recipe("student_kd")(["--config", str(TINY), "--teacher", str(teacher), *common,
                                 f"train.out_dir={student}", "model.modalities=[visual]", "loss.alpha=10",
                                 "loss.beta=0.9", "loss.gamma_rate=0.5"]) == 0
    return {"teacher": teacher, "student": student, "cache": base / "cache"}


def metrics(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_task_wise_training_logs_every_term_and_the_mtl_score(mtl_runs):
    teacher, student = metrics(mtl_runs["teacher"]), metrics(mtl_runs["student"])
    assert len(teacher) == len(student) == 2
    for row in teacher + student:
        assert float(row["train_task"]) > 0  # the discriminator's loss
        score = sum(float(row[k]) for k in ("val_expr_f1", "val_au_f1"))
        score += (float(row["val_ccc_valence"]) + float(row["val_ccc_arousal"])) / 2
        assert float(row["val_score"]) == pytest.approx(score, abs=1e-5)  # MTL P = VA + EXPR + AU
    for task in ("va", "expr", "au"):
        assert all(float(row[f"train_kd_other_{task}"]) > 0 for row in student)  # cross-task distillation
        assert [float(row[f"gamma_{task}"]) for row in student][0] == 1.0
    best = json.loads((mtl_runs["student"] / "best/metrics.json").read_text())
    assert set(best) >= {"va", "expr", "au", "score"}


def test_mtl_predictions_become_a_submission_that_passes_the_check(mtl_runs, synth_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ABAW_CACHE", str(mtl_runs["cache"]))
    predictions, submission = tmp_path / "pred", tmp_path / "sub"
    assert predict_main([str(mtl_runs["student"]), "--data-root", str(synth_root), "--split", "test", "--mtl",
                         "--out", str(predictions), "--num-workers", "0"]) == 0
    common = ["--data-root", str(synth_root), "--edition", "7", "--tasks", "mtl"]
    assert submit_main([str(predictions), *common, "--out", str(submission)]) == 0
    assert submit_main(["--check", str(submission), *common]) == 0
    listed = read_frame_list(discover(synth_root).test_frame_lists["mtl"])
    lines = (submission / "MTL_Challenge.txt").read_text().splitlines()
    assert lines[0] == "image,valence,arousal,expression,aus"
    assert [line.split(",")[0] for line in lines[1:]] == [f"{v}/{f:05d}.jpg" for v, f in
                                                          zip(listed.video, listed.frame)]
    assert np.isin([int(line.split(",")[3]) for line in lines[1:]], range(8)).all()
