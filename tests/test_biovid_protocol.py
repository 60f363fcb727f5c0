"""The subject-independent protocol end to end on a tiny synthetic BioVid: training reads the training and
validation subjects of its fold and never a test subject's file, so the test part cannot select a checkpoint;
the best checkpoint is the best validation epoch; the test part is scored once, afterwards, per sample; and the
fold table's recipe runs every row."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import abaw.data.clips
import abaw.datasets.biovid
from abaw.data.synthetic.biovid import generate_biovid
from abaw.datasets.folds import make_folds, read_folds, write_folds
from abaw.engine.held_out import score_held_out
from abaw.evaluate import main as eval_main
from abaw.predict import main as predict_main
from recipe_loader import recipe

CONFIG = "recipes/configs/biovid_cpu.yaml"
QUICK = ["train.epochs=3", "train.batch_size=8", "model.temporal_dim=16", "model.physio_dim=16",
         "model.physio_width=4", "model.fusion_dims=[32,16]", "distill.pool_adapter_dim=16"]


@pytest.fixture(scope="module")
def biovid(tmp_path_factory) -> tuple[Path, Path]:
    """A synthetic BioVid of 5 subjects x 5 classes x 1 sample, and 2 folds of it."""
    root = tmp_path_factory.mktemp("biovid") / "root"
    generate_biovid(root, seed=3, subjects=5, per_class=1, workers=1, progress=False)
    subjects = sorted({row["subject_name"] for row in csv.DictReader(open(root / "samples.csv"), delimiter="\t")})
    folds = root.parent / "folds.csv"
    write_folds(folds, make_folds(subjects, 2, seed=0))
    return root, folds


def subject_of(path: str) -> str:
    """The subject of a sample file or crop path: sample names start with it (``<subject>-<class>-<nnn>``)."""
    return next(part for part in Path(path).parts[::-1] if "-" in part).split("-")[0]


def test_training_never_reads_a_test_subject(biovid, tmp_path, monkeypatch):
    root, folds = biovid
    parts = read_folds(folds)
    read: list[str] = []
    real_signals, real_face = abaw.datasets.biovid.read_biosignals, abaw.data.clips.read_face
    monkeypatch.setattr(abaw.datasets.biovid, "read_biosignals",
                        lambda path, *a, **k: read.append(str(path)) or real_signals(path, *a, **k))
    monkeypatch.setattr(abaw.data.clips, "read_face",
                        lambda path, *a, **k: (read.append(str(path)) if path else None) or real_face(path, *a, **k))
    run = tmp_path / "run"
    code = recipe("mtl_teacher")(["--config", CONFIG, *QUICK, f"data.root={root}", f"data.folds={folds}",
                                            "data.fold=0", f"data.cache_dir={tmp_path / 'cache'}",
                                            f"train.out_dir={run}"])
    assert code == 0
    touched = {subject_of(path) for path in read}
    assert touched == set(parts.part(0, "train")) | set(parts.part(0, "val"))  # both read, so the spy works
    assert not touched & set(parts.part(0, "test"))

    # The best checkpoint is the best validation epoch (the first of equals), read from the run's own log.
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    scores = [float(row["val_score"]) for row in rows]
    best = json.loads((run / "best" / "metrics.json").read_text())
    assert best["epoch"] == int(np.argmax(scores)) + 1

    # Only now is the test part read: by the chosen checkpoint, one prediction per sample.
    read.clear()
    result = score_held_out(run, "test")["pain_binary"]
    assert {subject_of(path) for path in read} == set(parts.part(0, "test"))
    assert result["n_samples"] == 2 * len(parts.part(0, "test"))  # a BL1 and a PA4 sample per subject

    # The same through the files: abaw-predict writes one row per sample, abaw-eval scores them alike.
    predictions = tmp_path / "predictions"
    assert predict_main([str(run), "--data-root", str(root), "--split", "test", "--out", str(predictions),
                         "--num-workers", "0"]) == 0
    table = (predictions / f"{sorted(p.stem for p in predictions.glob('*.csv'))[0]}.csv").read_text().splitlines()
    assert table[0] == "frame,pain_binary_BL1,pain_binary_PA4" and len(table) == 2
    scores = tmp_path / "scores.json"
    assert eval_main([str(predictions), "--data-root", str(root), "--folds", str(folds), "--fold", "0",
                      "--split", "test", "--json", str(scores)]) == 0
    from_files = json.loads(scores.read_text())["pain_binary"]
    assert from_files["confusion"] == result["confusion"] and from_files["accuracy"] == result["accuracy"]


def test_test_subjects_files_do_not_change_training(biovid, tmp_path):
    """Scramble every file of the test subjects: the same training gives the same scores and weights."""
    root, folds = biovid
    test_subjects = set(read_folds(folds).part(0, "test"))
    scrambled = tmp_path / "scrambled"
    shutil.copytree(root, scrambled)
    rng = np.random.default_rng(0)
    for path in scrambled.glob("biosignals_*/*/*_bio.csv"):
        if path.parent.name in test_subjects:
            lines = path.read_text().splitlines()
            body = [line.split("\t") for line in lines[1:]]
            noisy = [[row[0], *(f"{float(v) * rng.uniform(0.5, 2.0):.6g}" for v in row[1:])] for row in body]
            path.write_text("\n".join([lines[0], *("\t".join(row) for row in noisy)]) + "\n")
    for folder in scrambled.glob("cropped_aligned/*"):
        if folder.name.split("-")[0] in test_subjects:
            for image in sorted(folder.glob("*.jpg"))[::2]:
                image.unlink()  # faces missing: black or retained crops
    runs = {}
    for name, data_root in (("original", root), ("scrambled", scrambled)):
        runs[name] = tmp_path / name
        code = recipe("mtl_teacher")(["--config", CONFIG, *QUICK, f"data.root={data_root}",
                                                f"data.folds={folds}", "data.fold=0",
                                                f"data.cache_dir={tmp_path / name / 'cache'}",
                                                f"train.out_dir={runs[name]}"])
        assert code == 0

    def log(run):
        return [{k: v for k, v in row.items() if not k.endswith("seconds")}
                for row in csv.DictReader(open(run / "metrics.csv"))]
    assert log(runs["original"]) == log(runs["scrambled"])
    assert ((runs["original"] / "best" / "model.safetensors").read_bytes()
            == (runs["scrambled"] / "best" / "model.safetensors").read_bytes())


def test_the_fold_table_runs_every_row(biovid, tmp_path):
    root, folds = biovid
    code = recipe("biovid_folds")(["--config", CONFIG, "--folds", str(folds), "--fold", "1",
                                             "--out", str(tmp_path / "runs"), *QUICK, "train.epochs=1",
                                             "--data-root", str(root), f"data.cache_dir={tmp_path / 'cache'}"])
    assert code == 0
    results = json.loads((tmp_path / "runs" / "pain_binary" / "results.json").read_text())
    assert list(results["variants"]) == ["visual-only", "physio teacher", "visual-physio teacher", "soft labels",
                                         "PKD (cosine)", "PKDOT (OT)", "teacher pool", "MT-PKDOT"]
    for entry in results["variants"].values():
        assert list(entry["test"]) == ["fold1/seed0"]
        assert 0.0 <= entry["summary"]["accuracy"]["mean"] <= 1.0


def test_training_clips_jitter_their_frames_and_validation_clips_do_not(biovid):
    from abaw.config import load_config
    from abaw.engine.data import training_data

    root, folds = biovid
    config = load_config(CONFIG, [f"data.root={root}", f"data.folds={folds}", "model.modalities=[visual]"])
    train, val = training_data(config)
    assert len(val.dataset) == len(set(val.manifest.frames["video"].iloc[val.dataset.rows]))  # a clip per sample
    row = int(train.dataset.rows[0])
    drawn = {tuple(train.dataset.shown_faces(row)) for _ in range(20)}
    assert len(drawn) > 1  # frames drawn within their segments, afresh each time
    row = int(val.dataset.rows[0])
    assert len({tuple(val.dataset.shown_faces(row)) for _ in range(5)}) == 1
