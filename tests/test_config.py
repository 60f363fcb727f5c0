"""Config as data: YAML -> dataclasses, dotted overrides, unknown keys and wrong types are errors."""

import re

import pytest

from abaw.config import CHOICES, ConfigError, load_config, save_config, with_teacher


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


@pytest.mark.parametrize("section, key", sorted(CHOICES))
def test_every_choice_is_checked_when_the_config_is_read(section, key):
    """Before anything is built or read: an unknown fusion, temporal model, audio encoder, schedule, ... is an
    error naming the key and the choices, not a traceback later."""
    allowed = ", ".join(CHOICES[section, key])
    with pytest.raises(ConfigError, match=re.escape(f"{section}.{key} is 'nonsense'; choose one of {allowed}")):
        load_config(None, [f"{section}.{key}=nonsense"])


@pytest.mark.parametrize("overrides, message", [
    (["model.tasks=[va, sorrow]"], "model.tasks ['va', 'sorrow']: distinct names among va, expr, au, pain, pain_binary"),
    (["data.tasks=[va, va]"], "data.tasks ['va', 'va']: distinct names among va, expr, au"),
    (["model.tasks=[va]", "data.tasks=[va, expr]"],
     "data.tasks trains ['expr'], for which model.tasks ['va'] has no head; add them to model.tasks"),
    (["model.fusion=transformer", "model.attention_width=100", "model.attention_heads=3"],
     "model.attention_width=100 must be a multiple of model.attention_heads=3"),
    (["data.tasks=[va]", "distill.pool_confidence=entropy"],
     "distill.pool_confidence=entropy reads predicted distributions (expression, AU); data.tasks ['va'] has none"),
])
def test_settings_that_do_not_fit_together_are_named(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, overrides)


def test_a_model_with_fewer_heads_trains_its_tasks():
    config = load_config(None, ["model.tasks=[va]", "data.tasks=[va]", "model.backbone=test_byobnet"])
    assert config.model.tasks == ("va",)


def test_the_teacher_is_named_in_the_config_and_only_once(tmp_path):
    config = with_teacher(load_config(None), tmp_path / "teacher")
    assert config.distill.teacher == str(tmp_path / "teacher")
    assert with_teacher(config, tmp_path / "teacher") == config  # the same teacher twice is no conflict
    with pytest.raises(ConfigError, match="distill.teacher is .* but --teacher is .*: give one, or the same"):
        with_teacher(config, tmp_path / "other")
