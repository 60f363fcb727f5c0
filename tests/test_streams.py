"""Input streams as data (abaw.data.streams): a clip dataset reads exactly the streams its models name, and a new
modality is an encoder plus a stream reader, registered, with no recipe change."""

from __future__ import annotations

import importlib.util
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torch import nn

from abaw.config import load_config
from abaw.data.streams import STREAMS, STREAM_CONFIG_KEYS, model_input_keys, register_stream, stream_readers
from abaw.engine.data import clip_streams, teacher_clips, training_data
from abaw.engine.setup import adopt_teacher_inputs
from abaw.models import build_model
from abaw.models.factory import ENCODERS, register_encoder

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "recipes" / "configs" / "tiny.yaml"


def tiny(synth_root, tmp_path, *overrides):
    return load_config(TINY, [f"data.root={synth_root}", f"data.cache_dir={tmp_path / 'cache'}",
                              "data.augment=false", *overrides])


def keys_read(datasets) -> set[tuple[str, ...]]:
    return {tuple(reader.key for reader in d.streams) for d in datasets}


def test_a_student_never_reads_a_stream_only_its_exported_teacher_needs(synth_root, tmp_path):
    student_config = tiny(synth_root, tmp_path, "model.modalities=[visual]")
    student, teacher = build_model(student_config.model), build_model(tiny(synth_root, tmp_path).model)
    train, val = training_data(student_config, model=student)
    assert keys_read([train.dataset, val.dataset]) == {("faces",)}
    assert "audio" not in train.dataset[0] and train.dataset[0]["faces"].dtype == torch.uint8
    # The same student with its teacher run on every batch: the batches carry the teacher's audio too.
    online, _ = training_data(student_config, model=student, teacher=teacher)
    assert keys_read([online.dataset]) == {("faces", "audio")}
    # An exported teacher reads its own view of the student's clips, once.
    view = teacher_clips(student_config, teacher, [train.dataset])[0]
    assert keys_read([view]) == {("faces", "audio")} and keys_read([train.dataset]) == {("faces",)}
    torch.testing.assert_close(view[5]["audio"], online.dataset[5]["audio"], rtol=0, atol=0)
    assert torch.equal(view[5]["faces"], train.dataset[5]["faces"])


def test_without_a_model_the_clips_carry_what_the_configured_model_reads(synth_root, tmp_path):
    config = tiny(synth_root, tmp_path)
    assert [r.key for r in clip_streams(config)] == ["faces", "audio"]
    assert [r.key for r in clip_streams(tiny(synth_root, tmp_path, "model.modalities=[visual]"))] == ["faces"]
    with pytest.raises(ValueError, match="no stream reader registered for heartbeat"):
        stream_readers(config, {"faces", "heartbeat"})


def test_a_teacher_s_streams_are_cut_as_the_teacher_was_trained(synth_root, tmp_path):
    teacher = tiny(synth_root, tmp_path, "data.audio_seconds=0.5", "model.sample_rate=4000")
    student = adopt_teacher_inputs(tiny(synth_root, tmp_path, "model.modalities=[visual]"), teacher)
    for name in STREAM_CONFIG_KEYS["audio"]:
        section, key = name.split(".")
        assert getattr(getattr(student, section), key) == getattr(getattr(teacher, section), key)
    assert student.model.modalities == ("visual",)  # the student's own model is untouched


class ClockStream:
    """A made-up stream: the seconds at the end of the row's frame, as a (1,) window."""

    key = "clock"

    def prepare(self, dataset) -> None:
        pass

    def read(self, dataset, row: int) -> dict[str, torch.Tensor]:
        return {self.key: torch.tensor([dataset.end_time(row)], dtype=torch.float32)}

    def report(self, datasets) -> dict[str, list[str]]:
        return {"clock_report": [str(len(datasets))]}


class ClockEncoder(nn.Module):
    input_key = "clock"
    out_dim = 4

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, self.out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


@pytest.fixture
def clock_modality():
    register_stream("clock", lambda config: ClockStream())
    register_encoder("clock", lambda config: ClockEncoder())
    yield
    del STREAMS["clock"], STREAM_CONFIG_KEYS["clock"], ENCODERS["clock"]


def test_a_new_modality_is_an_encoder_and_a_stream_reader_registered(clock_modality, synth_root, tmp_path):
    """Registered from outside the library, the new stream reaches the model through the unchanged recipe; its
    windows end at the end of each row's frame (frame / fps, the rate read here with PyAV)."""
    config = tiny(synth_root, tmp_path, "model.modalities=[visual,clock]")
    model = build_model(config.model)
    assert model_input_keys(model) == {"faces", "clock"}
    _, val = training_data(config, model=model)
    assert [r.key for r in val.dataset.streams] == ["faces", "clock"]
    frames = val.manifest.frames
    files = {p.stem: p for p in synth_root.rglob("*") if p.suffix in (".mp4", ".avi")}
    for row in val.dataset.rows[::97]:
        video = str(frames["video"].iat[row]).removesuffix("_left").removesuffix("_right")
        with av.open(str(files[video])) as container:
            fps = float(Fraction(container.streams.video[0].average_rate))
        assert float(val.dataset[int(np.flatnonzero(val.dataset.rows == row)[0])]["clock"]) == pytest.approx(
            frames["frame"].iat[row] / fps, abs=1e-5)

    spec = importlib.util.spec_from_file_location("mtl_teacher", ROOT / "recipes" / "mtl_teacher.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    run = tmp_path / "run"
    assert recipe.main(["--config", str(TINY), f"data.root={synth_root}", f"data.cache_dir={tmp_path / 'cache'}",
                        "model.modalities=[visual,clock]", f"train.out_dir={run}", "train.epochs=1",
                        "train.max_steps=2"]) == 0
    report = json.loads((run / "data_report.json").read_text())
    assert report["clock_report"] == ["2"]  # the stream's own record reaches the run's, for train and val
