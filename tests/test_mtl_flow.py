"""The README's MTL flow, as a user types it, on the tiny synthetic set: ``abaw-predict --mtl`` on validation,
``abaw-eval --mtl``, then ``abaw-predict --mtl`` on the test list and ``abaw-submit --tasks mtl``, each checked
against an independent reference (the MTL files read line by line, numpy / scikit-learn metrics)."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from abaw.evaluate import main as eval_main
from abaw.predict import main as predict_main
from abaw.submit.cli import main as submit_main
from test_bad_input import fake_run, mtl_file

EXPR = ["Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other"]
AUS = ["AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24", "AU25", "AU26"]


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    return 2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def read_rows(path: Path) -> dict[int, dict[str, float]]:
    with open(path, newline="") as f:
        return {int(row["frame"]): {k: float(v) for k, v in row.items()} for row in csv.DictReader(f)}


@pytest.fixture
def shuffled_root(synth_root, tmp_path, monkeypatch):
    """The tiny tree with its MTL validation file in reverse order: the organisers list images in no
    particular order, and predictions files must still run upwards."""
    monkeypatch.setenv("ABAW_CACHE", str(tmp_path / "cache"))
    root = Path(shutil.copytree(synth_root, tmp_path / "root"))
    path = mtl_file(root)
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header, *reversed(rows)]) + "\n")
    return root


def test_the_readme_mtl_flow_scores_and_submits(shuffled_root, tmp_path, capsys):
    root = shuffled_root
    run = fake_run(tmp_path / "run")
    common = ["--data-root", str(root), "--num-workers", "0"]
    pred, scores = tmp_path / "pred_val", tmp_path / "scores.json"
    assert predict_main([str(run), "--split", "val", "--mtl", "--out", str(pred), *common]) == 0
    assert eval_main([str(pred), "--data-root", str(root), "--mtl", "--json", str(scores)]) == 0
    got = json.loads(scores.read_text())

    # Reference: the MTL file read line by line, each image once, against the predictions read with csv.
    labels = {}
    for line in mtl_file(root).read_text().splitlines()[1:]:
        image, *values = line.split(",")
        labels[image] = [float(v) for v in values]
    frames_in_file = {}
    for image in labels:
        video, frame = image.split("/")
        frames_in_file.setdefault(video, []).append(int(frame[:-4]))
    assert any(np.any(np.diff(f) < 0) for f in frames_in_file.values())  # the file lists frames downwards
    predicted = {video: read_rows(pred / f"{video}.csv") for video in frames_in_file}
    for video, rows in predicted.items():
        assert sorted(rows) == sorted(frames_in_file[video])  # exactly the listed images, upwards in the file
    truth = np.array(list(labels.values()))
    rows = [predicted[image.split("/")[0]][int(image.split("/")[1][:-4])] for image in labels]
    va = np.array([[r["valence"], r["arousal"]] for r in rows])
    for k, name in enumerate(("valence", "arousal")):
        keep = truth[:, k] != -5
        assert got["va"][f"ccc_{name}"] == pytest.approx(ccc(va[keep, k], truth[keep, k]), abs=1e-5)
    keep = truth[:, 2] != -1
    expr = np.array([[r[c] for c in EXPR] for r in rows]).argmax(axis=1)
    assert got["expr"]["f1_macro"] == pytest.approx(
        f1_score(truth[keep, 2], expr[keep], labels=range(8), average="macro", zero_division=0), abs=1e-6)
    au = np.array([[r[c] for c in AUS] for r in rows]) >= 0.5
    f1s = [f1_score(truth[truth[:, 3 + k] != -1, 3 + k], au[truth[:, 3 + k] != -1, k], zero_division=0)
           for k in range(12)]
    assert got["au"]["f1_mean"] == pytest.approx(np.mean(f1s), abs=1e-6)
    assert got["mtl"]["score"] == pytest.approx(got["va"]["score"] + got["expr"]["f1_macro"] + got["au"]["f1_mean"])

    # The test list, predicted and packaged as the single MTL file in the list's order.
    test_pred, submission = tmp_path / "pred_test", tmp_path / "submission"
    assert predict_main([str(run), "--split", "test", "--mtl", "--out", str(test_pred), *common]) == 0
    sub_common = ["--data-root", str(root), "--edition", "7", "--tasks", "mtl"]
    assert submit_main([str(test_pred), *sub_common, "--out", str(submission)]) == 0
    assert submit_main(["--check", str(submission), *sub_common]) == 0
    listed = [line.split(",")[0] for line in
              next(root.glob("test_set/MTL_Challenge_test_set_release.txt")).read_text().splitlines() if line]
    written = (submission / "MTL_Challenge.txt").read_text().splitlines()
    assert [line.split(",")[0] for line in written[1:]] == listed
    for line in written[1:]:
        image, valence, arousal, expression, *aus = line.split(",")
        row = read_rows(test_pred / f"{image.split('/')[0]}.csv")[int(image.split("/")[1][:-4])]
        assert float(valence) == pytest.approx(row["valence"], abs=1e-6)
        assert int(expression) == int(np.argmax([row[c] for c in EXPR]))
        assert [int(a) for a in aus] == [int(row[c] >= 0.5) for c in AUS]
    assert "Traceback" not in capsys.readouterr().err
