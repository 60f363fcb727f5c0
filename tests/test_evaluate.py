"""abaw-eval against an independent computation: annotation files read with plain Python, numpy CCC and
scikit-learn F1, on the synthetic validation split (-5 / -1 frames and never-predicted classes included)."""

import csv
import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from abaw.data.layout import discover
from abaw.data.manifest import build_manifest
from abaw.evaluate import main as eval_main
from abaw.prediction_files import write_predictions


def numpy_ccc(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cov = np.cov(x, y, bias=True)
    return 2 * cov[0, 1] / (cov[0, 0] + cov[1, 1] + (x.mean() - y.mean()) ** 2)


def read_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def val_predictions(synth_root, tmp_path_factory):
    """Noisy predictions of every validation frame; EXPR never predicts Fear (3) or Other (7)."""
    rng = np.random.default_rng(1)
    manifest = build_manifest(discover(synth_root), "val")
    out = tmp_path_factory.mktemp("pred")
    for video, rows in manifest.frames.groupby("video", observed=True).indices.items():
        n = len(rows)
        va = manifest.va()[rows]
        va = np.where(va == -5, 0.0, va) * 0.6 + rng.normal(0, 0.3, (n, 2))
        expr = rng.dirichlet(np.ones(8), n)
        expr[:, [3, 7]] = 0.0
        au = rng.random((n, 12))
        write_predictions(out, video, manifest.frames["frame"].to_numpy()[rows],
                          {"va": np.clip(va, -1, 1), "expr": expr / expr.sum(1, keepdims=True), "au": au})
    return out


def test_eval_matches_an_independent_computation(synth_root, val_predictions, tmp_path):
    scores = tmp_path / "scores.json"
    assert eval_main([str(val_predictions), "--data-root", str(synth_root), "--json", str(scores)]) == 0
    got = json.loads(scores.read_text())

    annotations = next(synth_root.glob("*Annotations*"))
    pooled = {"va": ([], []), "expr": ([], []), "au": ([], [])}
    folders = {"va": "VA_Estimation_Challenge", "expr": "EXPR_Recognition_Challenge",
               "au": "AU_Detection_Challenge"}
    seen_ignored = {"va": 0, "expr": 0, "au": 0}
    for task, folder in folders.items():
        for label_file in sorted((annotations / folder / "Validation_Set").glob("*.txt")):
            _, labels = read_rows(label_file)
            header, predictions = read_rows(val_predictions / f"{label_file.stem}.csv")
            assert len(predictions) == len(labels)
            for line, pred in zip(labels, predictions):
                values = [float(v) for v in line]
                if task == "va":
                    if values[0] == -5:
                        seen_ignored[task] += 1
                        continue
                    pooled[task][0].append([float(pred[header.index(c)]) for c in ("valence", "arousal")])
                elif task == "expr":
                    if values[0] == -1:
                        seen_ignored[task] += 1
                        continue
                    probs = [float(p) for p in pred[header.index("Neutral"):header.index("Other") + 1]]
                    pooled[task][0].append(int(np.argmax(probs)))
                else:
                    if values[0] == -1:
                        seen_ignored[task] += 1
                        continue
                    pooled[task][0].append([float(p) for p in pred[header.index("AU1"):]])
                pooled[task][1].append(values if task != "expr" else int(values[0]))
    assert all(count > 0 for count in seen_ignored.values()), "the synthetic set must hold ignored frames"

    pred, true = (np.array(a) for a in pooled["va"])
    assert got["va"]["ccc_valence"] == pytest.approx(numpy_ccc(pred[:, 0], true[:, 0]), abs=1e-6)
    assert got["va"]["ccc_arousal"] == pytest.approx(numpy_ccc(pred[:, 1], true[:, 1]), abs=1e-6)
    pred, true = pooled["expr"]
    assert 3 not in pred and 7 not in pred
    assert got["expr"]["f1_macro"] == pytest.approx(
        f1_score(true, pred, labels=list(range(8)), average="macro", zero_division=0), abs=1e-6)
    pred, true = (np.array(a) for a in pooled["au"])
    expected = np.mean([f1_score(true[:, k], pred[:, k] >= 0.5, zero_division=0) for k in range(12)])
    assert got["au"]["f1_mean"] == pytest.approx(expected, abs=1e-6)
    assert got["au"]["thresholds"] == [0.5] * 12


def test_eval_mtl_score_and_threshold_search(synth_root, val_predictions, tmp_path, capsys):
    scores = tmp_path / "mtl.json"
    assert eval_main([str(val_predictions), "--data-root", str(synth_root), "--mtl", "--search-thresholds",
                      "--json", str(scores)]) == 0
    got = json.loads(scores.read_text())
    assert got["mtl"]["score"] == pytest.approx(
        got["va"]["score"] + got["expr"]["f1_macro"] + got["au"]["f1_mean"], abs=1e-12)
    assert "searched on this split" in got["au"]["thresholds_source"]
    assert "MTL" in capsys.readouterr().out


def test_eval_names_a_missing_video_and_a_nan(synth_root, val_predictions, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    files = sorted(val_predictions.glob("*.csv"))
    for f in files[1:]:
        (broken / f.name).write_text(f.read_text())
    assert eval_main([str(broken), "--data-root", str(synth_root)]) == 1
    assert files[0].stem in capsys.readouterr().err

    (broken / files[0].name).write_text(files[0].read_text())
    lines = (broken / files[1].name).read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split(",")[1], "nan", 1)
    (broken / files[1].name).write_text("\n".join(lines) + "\n")
    assert eval_main([str(broken), "--data-root", str(synth_root)]) == 1
    assert f"{files[1].name}:4: NaN" in capsys.readouterr().err
