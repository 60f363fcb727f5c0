"""Config as data: YAML -> dataclasses, dotted overrides, unknown keys and wrong types are errors."""

import pytest

from abaw.config import ConfigError, load_config, save_config


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: t\ndata:\n  window_frames: 3\nmodel:\n  fusion_dims: [64, 32]\ntrain:\n  lr: 1\n")
    config = load_config(path, ["train.epochs=2", "model.modalities=[visual]", "data.annotations=null"])
    assert config.name == "t" and config.data.window_frames == 3
    assert config.model.fusion_dims == (64, 32) and config.model.modalities == ("visual",)
    assert config.train.lr == 1.0 and isinstance(config.train.lr, float) and config.train.epochs == 2
    assert config.data.window_seconds == 2.0  # untouched defaults stay


def test_saved_config_reloads_identically(tmp_path):
    config = load_config(None, ["train.epochs=3", "model.backbone=test_byobnet", "distill.teacher=runs/t"])
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


@pytest.mark.parametrize("text, override, message", [
    ("trian:\n  lr: 1\n", None, "unknown key 'trian'"),
    ("train:\n  lrr: 1\n", None, "unknown key 'lrr' in TrainConfig"),
    ("train:\n  epochs: two\n", None, "TrainConfig.epochs: expected an integer, found 'two'"),
    ("train:\n  epochs: 2.5\n", None, "TrainConfig.epochs: expected an integer"),
    ("model:\n  pretrained: 1\n", None, "ModelConfig.pretrained: expected true or false"),
    ("model:\n  fusion_dims: 64\n", None, "ModelConfig.fusion_dims: expected a list"),
    ("- a\n- b\n", None, "expected a mapping"),
    (None, "train.epochs", "expected section.key=value"),
    (None, "train.nope=3", "override 'train.nope=3': train: unknown key 'nope' in TrainConfig"),
])
def test_errors_name_the_place(tmp_path, text, override, message):
    path = None
    if text is not None:
        path = tmp_path / "bad.yaml"
        path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(path, [override] if override else [])
