"""The physiology stream (ECG, EDA) and its encoder, on the hand-written RECOLA tree of tests/recola_trees.py."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from abaw.config import ConfigError, load_config
from abaw.data.physio import PhysioStore, PhysioStream, physio_window, resample
from abaw.data.streams import STREAMS, stream_readers
from abaw.datasets.recola import discover
from abaw.models.factory import ModelConfig, build_model
from tests.recola_trees import physio_values, write_recola_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_recola_tree(tmp_path_factory.mktemp("recola_physio"))


class RecordingsOnly:
    """The part of a ClipDataset a stream reader asks for: recordings, their files, a row's end time."""

    def __init__(self, layout, names, fps=25.0):
        self.layout, self.names, self.fps = layout, names, fps

    def video_names(self):
        return list(self.names)

    def stream_file(self, stream, video):
        return self.layout.stream_file(stream, self.names[video])

    def video_of(self, row):
        return row // 1000

    def end_time(self, row):
        return (row % 1000) / self.fps


def test_resample_keeps_a_slow_signal():
    t = np.arange(1000) / 250
    signal = np.stack([np.sin(2 * np.pi * 1.2 * t), np.cos(2 * np.pi * 0.3 * t)])
    out = resample(signal, 250.0, 100)
    t_new = np.arange(out.shape[1]) / 100
    expected = np.stack([np.sin(2 * np.pi * 1.2 * t_new), np.cos(2 * np.pi * 0.3 * t_new)])
    assert out.shape == (2, 400)
    np.testing.assert_allclose(out[:, 20:-20], expected[:, 20:-20], atol=0.02)  # away from the edges


def test_window_is_the_past_with_zeros_outside():
    signals = np.arange(20, dtype=np.float32).reshape(2, 10)
    np.testing.assert_array_equal(physio_window(signals, 10, 0.3, 0.5), [[0, 0, 0, 1, 2], [0, 0, 10, 11, 12]])
    np.testing.assert_array_equal(physio_window(signals, 10, 1.2, 0.4)[0], [8, 9, 0, 0])


def test_stream_reads_the_filtered_file_standardised_and_ends_at_the_row(tree, tmp_path):
    layout = discover(tree)
    stream = PhysioStream(PhysioStore(tmp_path, rate=50), seconds=0.4)
    dataset = RecordingsOnly(layout, ["train_1", "dev_2"])
    stream.prepare(dataset)
    window = stream.read(dataset, 1000 + 30)["physio"]  # dev_2, frame 30 ends at 1.2 s
    assert window.shape == (2, 20) and window.dtype == torch.float32
    t_all = np.arange(int(45 / 25 * 50)) / 50  # dev_2 lasts 1.8 s
    ecg, eda = physio_values(t_all, offset=10.0)
    expected = np.stack([(ecg - ecg.mean()) / ecg.std(), (eda - eda.mean()) / eda.std()])[:, 40:60]
    np.testing.assert_allclose(window.numpy()[:, 2:-2], expected[:, 2:-2], atol=0.05)


def test_missing_physio_file_reads_zeros_and_warns(tree, tmp_path, caplog):
    layout = discover(tree)
    del layout.physio["dev_1"]
    stream = PhysioStream(PhysioStore(tmp_path, rate=50), seconds=1.0)
    dataset = RecordingsOnly(layout, ["dev_1", "dev_2"])
    with caplog.at_level(logging.WARNING):
        stream.prepare(dataset)
    assert "no physiology file (ECG, EDA) for 1 of 2 recordings (dev_1)" in caplog.text
    assert stream.store.missing == {"dev_1"}
    assert not stream.read(dataset, 20)["physio"].any()


def test_physio_is_a_registered_stream_read_from_the_config():
    config = load_config(None, ["model.physio_rate=64", "data.physio_seconds=2.5"])
    (reader,) = stream_readers(config, ["physio"])
    assert "physio" in STREAMS and reader.key == "physio"
    assert reader.store.rate == 64 and reader.seconds == 2.5


@pytest.mark.parametrize("modalities", [("visual", "audio"), ("visual", "physio"), ("visual", "audio", "physio")])
@pytest.mark.parametrize("fusion", ["concat", "jca"])
def test_teacher_of_any_modalities_without_recipe_change(modalities, fusion):
    config = load_config(None, [f"model.modalities=[{','.join(modalities)}]", f"model.fusion={fusion}",
                                "model.backbone=test_byobnet", "model.image_size=32", "model.temporal_dim=8",
                                "model.audio_dim=8", "model.soundnet_width=2", "model.sample_rate=8000",
                                "model.physio_dim=8", "model.physio_width=2", "model.fusion_dims=[8]",
                                "model.attention_width=8"])
    model = build_model(config.model).eval()
    batch = {"faces": torch.randint(0, 255, (2, 2, 3, 32, 32), dtype=torch.uint8),
             "audio": torch.randn(2, 8000), "physio": torch.randn(2, 2, 300)}
    out = model(batch)
    assert set(model.input_keys.values()) == {"faces", *(m for m in modalities if m != "visual")}
    assert out["va"].shape == (2, 2) and torch.isfinite(out["embedding"]).all()
    if "physio" in modalities:
        assert out["physio"].shape == (2, 8)


def test_physio_encoder_any_length_and_bad_shape():
    model = build_model(ModelConfig(backbone="test_byobnet", image_size=32, temporal_dim=8, fusion_dims=(8,),
                                    modalities=("physio",), physio_dim=8, physio_width=2)).eval()
    encoder = model.encoders["physio"]
    for samples in (1, 17, 1000):
        assert encoder(torch.randn(3, 2, samples)).shape == (3, 8)
    with pytest.raises(ValueError, match="physio must be"):
        encoder(torch.randn(3, 100))


def test_physio_settings_are_checked_when_read():
    with pytest.raises(ConfigError, match="physio_rate"):
        load_config(None, ["model.physio_rate=0"])
    with pytest.raises(ConfigError, match="label_shift_s"):
        load_config(None, ["data.label_shift_s=-1"])
