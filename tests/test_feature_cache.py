"""Face caches (abaw.data.face_cache): decoded crops and a frozen backbone's features, stored once per video.

The references are the uncached paths: clips decoded from the JPEGs, and training on the images with the same
frozen backbone.
"""

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from abaw.config import ConfigError, load_config
from abaw.data.face_cache import state_digest
from abaw.engine.data import training_data
from abaw.engine.setup import adopt_teacher_inputs
from abaw.models import ModelConfig, build_model
from abaw.predict import main as predict_main
from abaw.prediction_files import prediction_files, read_predictions

from recipe_loader import recipe

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "recipes" / "configs" / "tiny.yaml"
FROZEN = ["model.freeze_backbone=true", "data.augment=false"]


def metrics_rows(run: Path) -> list[dict[str, float]]:
    header, *rows = (run / "metrics.csv").read_text().splitlines()
    return [{k: float(v) for k, v in zip(header.split(","), row.split(",")) if k != "seconds"} for row in rows]


@pytest.fixture(scope="module")
def runs(synth_root, tmp_path_factory):
    """A teacher and a student (exported teacher outputs, PKD cosine), each trained on the images and on the
    feature cache, with the same frozen backbone and no augmentation."""
    base = tmp_path_factory.mktemp("face_cache")
    common = [f"data.root={synth_root}", f"data.cache_dir={base / 'cache'}", *FROZEN, "train.epochs=1"]
    out = {"base": base}
    for cache in ("none", "features"):
        teacher = out[f"teacher_{cache}"] = base / f"teacher_{cache}"
        assert recipe("mtl_teacher")(["--config", str(TINY), *common, f"data.face_cache={cache}",
                                      f"train.out_dir={teacher}"]) == 0
    for cache in ("none", "features"):
        # Each student distils its own copy of the same teacher, so each exports the teacher's outputs itself.
        teacher = shutil.copytree(out["teacher_none"], base / f"teacher_for_{cache}")
        student = out[f"student_{cache}"] = base / f"student_{cache}"
        assert recipe("student_kd")(["--config", str(TINY), "--teacher", str(teacher), *common,
                                     f"data.face_cache={cache}", f"train.out_dir={student}",
                                     "model.modalities=[visual]", "distill.teacher_outputs=exported",
                                     "distill.privileged=[cosine]"]) == 0
    return out


@pytest.mark.parametrize("model", ["teacher", "student"])
def test_training_on_cached_features_equals_training_on_the_images(runs, model):
    """Same losses (supervised, soft-label and PKD parts), same validation metrics, same weights."""
    images, features = metrics_rows(runs[f"{model}_none"]), metrics_rows(runs[f"{model}_features"])
    assert len(images) == len(features) == 1
    if model == "student":
        assert {"train_kd_va", "train_kd_other_expr", "train_pkd_cosine"} <= set(images[0])
    for a, b in zip(images, features):
        assert a.keys() == b.keys()
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), key
    a, b = (load_file(str(runs[f"{model}_{cache}"] / "best/model.safetensors")) for cache in ("none", "features"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5, msg=key)


def test_exported_teacher_outputs_come_from_the_images(runs):
    """The student's batches carry its own backbone's features; the teacher's export must read the faces
    (here both backbones have 256 features, so reading the student's would go unnoticed but for this test)."""
    a, b = (load_file(str(runs["base"] / f"teacher_for_{cache}/exports/teacher_outputs.safetensors"))
            for cache in ("none", "features"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6, msg=key)


def test_a_model_trained_on_features_predicts_from_the_images(runs, synth_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ABAW_CACHE", str(runs["base"] / "cache"))
    tables = {}
    for cache in ("none", "features"):
        out = tmp_path / cache
        assert predict_main([str(runs[f"teacher_{cache}"]), "--data-root", str(synth_root), "--split", "val",
                             "--out", str(out), "--num-workers", "0"]) == 0
        tables[cache] = {video: read_predictions(path) for video, path in prediction_files(out).items()}
    assert tables["none"].keys() == tables["features"].keys() and tables["none"]
    for video, table in tables["none"].items():
        np.testing.assert_allclose(tables["features"][video].to_numpy(), table.to_numpy(), atol=1e-5, err_msg=video)


def test_feature_cache_holds_the_backbone_features_and_its_identity(runs):
    """Rows are the frozen backbone's features of each crop (black faces: of a black image); the manifest
    names the backbone, the SHA-256 of its weights, the sizes and each video's crops."""
    config = load_config(runs["teacher_features"] / "config.yaml")
    model = build_model(config.model)
    model.load_state_dict(load_file(str(runs["teacher_features"] / "best/model.safetensors")))
    _, val = training_data(config, model=model)
    clips, cache = val.dataset, val.dataset.face_cache
    manifest = json.loads((cache.folder / "manifest.json").read_text())
    assert manifest["identity"] | {"decoder": None} == {
        "kind": "features", "image_size": 32, "decoder": None, "backbone": "test_byobnet",
        "weights_sha256": state_digest(model.encoders["visual"].backbone), "input_size": 32, "dtype": "float32"}
    visual = model.encoders["visual"].eval()
    video = next(v for v, crops in clips.manifest.videos["crops"].items() if len(crops))
    code = list(clips.manifest.frames["video"].cat.categories).index(video)
    crops = clips.manifest.videos.at[video, "crops"]
    assert manifest["videos"][video]["crops"] == len(crops)
    with torch.no_grad():
        expected = visual.frame_features(torch.stack([clips.read_face(code, f) for f in crops]))
        black = visual.frame_features(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))[0]
    np.testing.assert_allclose(np.load(cache.folder / f"{video}.npy"), expected.numpy(), rtol=1e-4, atol=1e-5)
    window = cache.window(video, np.array([-1, crops[2], crops[0]]))
    np.testing.assert_allclose(window, np.stack([black.numpy(), expected[2].numpy(), expected[0].numpy()]),
                               rtol=1e-4, atol=1e-5)


def test_other_backbone_weights_get_their_own_cache(runs, caplog):
    config = load_config(runs["teacher_features"] / "config.yaml")
    model = build_model(config.model)
    _, val = training_data(config, model=model)
    first = val.dataset.face_cache.folder
    with torch.no_grad():
        next(model.encoders["visual"].backbone.parameters()).add_(0.1)
    with caplog.at_level(logging.INFO, logger="abaw.data.face_cache"):
        _, val = training_data(config, model=model)
    assert val.dataset.face_cache.folder != first and "caching the features" in caplog.text


@pytest.mark.parametrize("retention", ["last", "black"])
def test_frame_cache_gives_the_clips_of_the_jpegs(synth_root, tmp_path, retention):
    """Every key of every clip, augmented (the same draws) or not, black faces included."""
    overrides = [f"data.root={synth_root}", f"data.cache_dir={tmp_path}", f"data.retention={retention}"]
    jpegs = training_data(load_config(TINY, overrides))
    cached = training_data(load_config(TINY, [*overrides, "data.face_cache=frames"]))
    assert cached[0].dataset.face_cache.kind == "frames" and jpegs[0].dataset.face_cache is None
    assert cached[0].dataset.transform is not None  # training clips are augmented, after the cache
    black = 0
    for (a, b) in zip(jpegs, cached):
        for index in range(0, len(a.dataset), max(1, len(a.dataset) // 60)):
            torch.manual_seed(index)
            expected = a.dataset[index]
            torch.manual_seed(index)
            item = b.dataset[index]
            assert item.keys() == expected.keys()
            for key in item:
                assert torch.equal(item[key], expected[key]), (index, key)
            black += int((item["faces"].flatten(1).amax(dim=1) == 0).any())
    assert black > 0 or retention == "last"


def test_a_stale_frame_cache_is_made_again(synth_root, tmp_path, caplog):
    """A video whose crops changed is cached again, and only that video; a manifest of another identity makes
    the whole cache again."""
    root = shutil.copytree(synth_root, tmp_path / "root")
    config = load_config(TINY, [f"data.root={root}", f"data.cache_dir={tmp_path / 'cache'}",
                                "data.face_cache=frames"])

    def stamps(folder):
        return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.npy")}

    _, val = training_data(config)
    folder = val.dataset.face_cache.folder
    before = stamps(folder)
    training_data(config)
    assert stamps(folder) == before  # fresh: nothing made again
    clips = val.dataset
    video = next(v for v, crops in clips.manifest.videos["crops"].items() if len(crops) > 3)
    crop_folder = Path(clips.manifest.videos.at[video, "crop_folder"])
    removed = sorted(crop_folder.glob("*.jpg"))[2]
    removed.unlink()
    with caplog.at_level(logging.WARNING, logger="abaw.data.face_cache"):
        _, val = training_data(config)
    assert "changed since they were cached" in caplog.text and video in caplog.text
    after = stamps(folder)
    assert {name for name in after if after[name] != before[name]} == {f"{video}.npy"}
    assert json.loads((folder / "manifest.json").read_text())["videos"][video]["crops"] == len(
        val.dataset.manifest.videos.at[video, "crops"])
    jpegs = training_data(dataclasses.replace(config, data=dataclasses.replace(config.data, face_cache="none")))[1]
    for index in range(len(val.dataset)):
        assert torch.equal(val.dataset[index]["faces"], jpegs.dataset[index]["faces"]), index

    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["identity"]["decoder"] = "another decoder"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="abaw.data.face_cache"):
        training_data(config)
    assert "making it again" in caplog.text
    assert all(stamp != after[name] for name, stamp in stamps(folder).items())


def test_a_frozen_backbone_stays_as_it_was_while_the_rest_trains():
    """No gradient, eval mode (BatchNorm keeps its running statistics) when the model trains."""
    model = build_model(ModelConfig(backbone="test_byobnet", image_size=32, temporal_dim=8, fusion_dims=(8,),
                                    modalities=("visual",), freeze_backbone=True))
    model.train()
    visual = model.encoders["visual"]
    assert not visual.backbone.training and visual.temporal.training and model.heads.training
    assert not any(p.requires_grad for p in visual.backbone.parameters())
    before = {k: v.clone() for k, v in visual.backbone.state_dict().items()}
    temporal = {k: v.clone() for k, v in visual.temporal.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
    faces = torch.randint(0, 256, (4, 2, 3, 32, 32), dtype=torch.uint8)
    model({"faces": faces})["va"].sum().backward()
    optimizer.step()
    for key, value in visual.backbone.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert any(not torch.equal(v, temporal[k]) for k, v in visual.temporal.state_dict().items())


def test_feature_cache_settings_that_cannot_work_are_refused(synth_root):
    with pytest.raises(ConfigError, match="model.freeze_backbone=true, data.augment=false"):
        load_config(TINY, ["data.face_cache=features"])
    student = load_config(TINY, [*FROZEN, "data.face_cache=features", "model.modalities=[visual]"])
    with pytest.raises(ConfigError, match="distill.teacher_outputs=exported"):
        adopt_teacher_inputs(student, load_config(TINY))
    with pytest.raises(ValueError, match="needs the model"):
        training_data(load_config(TINY, [f"data.root={synth_root}", *FROZEN, "data.face_cache=features"]))
