"""Physiology of any dataset: the channels a layout reads, selected and checked against the model's; the standard
features stream and its encoder; teachers over either, with every fusion and with the teacher pool."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from abaw.config import ConfigError, load_config
from abaw.data.physio import PhysioChannelError, PhysioFeatureStream, PhysioStore, PhysioStream, physio_window
from abaw.data.physio_features import feature_names, physio_features
from abaw.data.streams import stream_readers
from abaw.datasets.recola import RecolaLayout
from abaw.datasets.recola_files import read_physio
from abaw.engine.setup import adopt_teacher_inputs
from abaw.models.factory import build_model
from abaw.models.physio import PhysioEncoder, PhysioFeatureEncoder

RATE = 50  # the files' rate and the store's: no resampling, so a window is the file's own samples
CHANNELS = ("gsr", "ecg", "emg_trapezius")


class ThreeChannelLayout:
    """A dataset layout whose physiology files are plain tables of three channels (gsr, ecg, emg_trapezius)."""

    physio_channels = CHANNELS

    def __init__(self, root: Path, files: dict[str, Path]):
        self.root, self.files = root, files

    def read_physio(self, path: Path) -> tuple[np.ndarray, float]:
        return np.loadtxt(path, delimiter=",", dtype=np.float32).T.copy(), float(RATE)

    def stream_file(self, stream: str, name: str) -> Path | None:
        assert stream == "physio"
        return self.files.get(name)


class Recordings:
    """The part of a ClipDataset a stream reader asks for: a layout, recordings, their files, a row's end time
    (row = recording * 1000 + frame, 25 fps)."""

    def __init__(self, layout, names):
        self.layout, self.names = layout, names

    def video_names(self):
        return list(self.names)

    def stream_file(self, stream, video):
        return self.layout.stream_file(stream, self.names[video])

    def video_of(self, row):
        return row // 1000

    def end_time(self, row):
        return (row % 1000) / 25


def signals_of(seed: int, samples: int = 300) -> np.ndarray:
    """(3, samples): a slow skin-conductance rise, a 1.2 Hz pulse train, noise-like EMG; distinct per channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / RATE
    gsr = 2.0 + 0.3 * t + 0.05 * rng.standard_normal(samples)
    ecg = np.where((t * 1.2) % 1 < 0.04, 1.0, 0.0) + 0.02 * rng.standard_normal(samples)
    emg = 0.2 * rng.standard_normal(samples) * (1 + t / t[-1])
    return np.stack([gsr, ecg, emg]).astype(np.float32)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("three_channels")
    truth, files = {}, {}
    for seed, name in enumerate(("s1", "s2")):
        truth[name] = signals_of(seed)
        files[name] = root / f"{name}.csv"
        np.savetxt(files[name], truth[name].T, delimiter=",", fmt="%.6f")
    truth = {name: np.loadtxt(path, delimiter=",", dtype=np.float32).T for name, path in files.items()}
    return ThreeChannelLayout(root, files), truth


def test_recola_layout_reads_ecg_and_eda_as_before(tmp_path):
    path = tmp_path / "train_1.csv"
    path.write_text("time,EDA,ECG\n0.0,1.5,10\n0.5,1.6,11\n1.0,1.7,12\n")
    signals, rate = RecolaLayout(root=tmp_path).read_physio(path)
    assert RecolaLayout.physio_channels == ("ECG", "EDA") and rate == 2.0
    np.testing.assert_allclose(signals, [[10, 11, 12], [1.5, 1.6, 1.7]], rtol=1e-6)
    np.testing.assert_array_equal(signals, read_physio(path)[0])


def test_a_selection_reads_those_channels_in_that_order(tree, tmp_path):
    layout, truth = tree
    stream = PhysioStream(PhysioStore(tmp_path, rate=RATE, standardise=False), seconds=2.0,
                          channels=("emg_trapezius", "gsr"))
    dataset = Recordings(layout, ["s1", "s2"])
    stream.prepare(dataset)
    window = stream.read(dataset, 1000 + 100)["physio"]  # s2, frame 100 ends at 4 s: samples 100..199
    assert window.shape == (2, 100) and window.dtype == torch.float32
    np.testing.assert_allclose(window.numpy(), truth["s2"][[2, 0], 100:200], atol=1e-5)
    whole = PhysioStream(PhysioStore(tmp_path, rate=RATE, standardise=False), seconds=2.0)
    assert whole.channels_of(layout) == CHANNELS
    np.testing.assert_allclose(whole.read(dataset, 100)["physio"].numpy(), truth["s1"][:, 100:200], atol=1e-5)


def test_a_standardised_selection_is_standardised_per_channel(tree, tmp_path):
    layout, truth = tree
    stream = PhysioStream(PhysioStore(tmp_path, rate=RATE), seconds=6.0, channels=("ecg",))
    window = stream.read(Recordings(layout, ["s1"]), 150)["physio"].numpy()  # 6 s ending at 6 s: the whole file
    ecg = truth["s1"][1]
    np.testing.assert_allclose(window[0], (ecg - ecg.mean()) / ecg.std(), atol=1e-4)


def test_a_channel_the_dataset_lacks_names_the_root_and_its_channels(tree, tmp_path):
    layout, _ = tree
    stream = PhysioStream(PhysioStore(tmp_path, rate=RATE), seconds=1.0, channels=("gsr", "ECG"))
    with pytest.raises(PhysioChannelError, match=rf"{layout.root}: .*ECG.*they have gsr, ecg, emg_trapezius"):
        stream.prepare(Recordings(layout, ["s1"]))


def test_channels_other_than_the_models_stop_at_set_up(tree):
    layout, _ = tree
    config = load_config(None, [f"data.cache_dir={layout.root}/cache", "data.physio_channels=[gsr,ecg]"])
    (reader,) = stream_readers(config, ["physio"])  # the model's default: RECOLA's ECG, EDA
    with pytest.raises(PhysioChannelError, match=r"reads the channels gsr, ecg, but the model was built for ECG, "
                                                 r"EDA \(model.physio_channels\)"):
        reader.prepare(Recordings(layout, ["s1"]))
    config = load_config(None, [f"data.cache_dir={layout.root}/cache", "model.physio_channels=[gsr,ecg]"])
    (reader,) = stream_readers(config, ["physio"])  # data.physio_channels empty: all three of the layout's
    with pytest.raises(PhysioChannelError, match="gsr, ecg, emg_trapezius, but the model was built for gsr, ecg"):
        reader.prepare(Recordings(layout, ["s1"]))


def test_feature_stream_is_the_features_of_the_physio_window(tree, tmp_path):
    layout, truth = tree
    config = load_config(None, [f"data.cache_dir={tmp_path}", "data.physio_seconds=4", f"model.physio_rate={RATE}",
                                "data.physio_standardise=false", "model.physio_channels=[ecg,gsr]",
                                "data.physio_channels=[ecg,gsr]"])
    (reader,) = stream_readers(config, ["physio_features"])
    assert isinstance(reader, PhysioFeatureStream) and reader.key == "physio_features"
    dataset = Recordings(layout, ["s1", "s2"])
    reader.prepare(dataset)
    for row in (1000 + 150, 60):  # s2 to its end; s1 before 4 s have passed (zeros first)
        features = reader.read(dataset, row)["physio_features"]
        raw = truth[dataset.names[row // 1000]][[1, 0]]
        expected = physio_features(physio_window(raw, RATE, (row % 1000) / 25, 4.0), RATE, ("ecg", "gsr"))
        assert features.dtype == torch.float32 and features.shape == (len(feature_names(("ecg", "gsr"))),)
        np.testing.assert_allclose(features.numpy(), expected, rtol=1e-4, atol=1e-4)
    assert features.numpy()[feature_names(("ecg", "gsr")).index("gsr_level")] == pytest.approx(0.0)  # zeros first
    hr = reader.read(dataset, 150)["physio_features"].numpy()[0]
    assert hr == pytest.approx(72, abs=4)  # the 1.2 Hz pulse train


def test_a_student_adopts_its_teachers_physiology_window():
    teacher = load_config(None, ["model.physio_channels=[gsr,ecg]", "data.physio_channels=[gsr,ecg]",
                                 "data.physio_standardise=false", "data.physio_seconds=5.5"])
    student = adopt_teacher_inputs(load_config(None, []), teacher)
    assert student.model.physio_channels == ("gsr", "ecg") and student.data.physio_channels == ("gsr", "ecg")
    assert student.data.physio_standardise is False and student.data.physio_seconds == 5.5


def test_physiology_channel_settings_are_checked_when_read():
    with pytest.raises(ConfigError, match="model.physio_channels"):
        load_config(None, ["model.physio_channels=[]"])
    with pytest.raises(ConfigError, match="data.physio_channels"):
        load_config(None, ["data.physio_channels=[gsr,gsr]"])
    with pytest.raises(ConfigError, match="no standard features for physiology channel 'resp'"):
        load_config(None, ["model.modalities=[visual,physio_features]", "model.physio_channels=[gsr,resp]"])


def test_three_channel_cnn():
    encoder = PhysioEncoder(out_dim=6, width=2, in_channels=3).eval()
    assert encoder(torch.randn(2, 3, 250)).shape == (2, 6)
    assert encoder(torch.randn(2, 3, 250), sequence=True).shape == (2, 16, 6)
    with pytest.raises(RuntimeError):
        encoder(torch.randn(2, 2, 250))


def test_feature_encoder_standardises_its_input():
    encoder = PhysioFeatureEncoder(in_features=4, out_dim=6)
    features = torch.randn(64, 4) * torch.tensor([100.0, 1.0, 0.1, 5.0]) + torch.tensor([70.0, 2.0, 0.0, -3.0])
    normalised = encoder.norm(features)  # training mode: the batch's statistics
    torch.testing.assert_close(normalised.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(normalised.std(0, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)
    assert encoder(features).shape == (64, 6) and encoder(features, sequence=True).shape == (64, 1, 6)
    with pytest.raises(ValueError, match=r"physio_features must be \(B, 4\)"):
        encoder(torch.randn(2, 5))


TINY = ["model.backbone=test_byobnet", "model.image_size=32", "model.temporal_dim=8", "model.physio_dim=8",
        "model.physio_width=2", "model.fusion_dims=[8]", "model.attention_width=8", "model.dropout=0",
        "model.pool_adapter_dim=4", "model.physio_channels=[gsr,ecg,emg_trapezius]", "model.tasks=[va]",
        "data.tasks=[va]"]


@pytest.mark.parametrize("physio", ["physio", "physio_features"])
@pytest.mark.parametrize("fusion", ["concat", "jca", "transformer"])
def test_teacher_with_either_physiology_encoder_any_fusion_and_the_pool(physio, fusion):
    torch.manual_seed(0)
    config = load_config(None, [*TINY, f"model.modalities=[visual,{physio}]", f"model.fusion={fusion}"])
    model = build_model(config.model)
    n_features = len(feature_names(CHANNELS))
    assert model.input_keys == {"visual": "faces", physio: physio}
    batch = {"faces": torch.randint(0, 255, (3, 2, 3, 32, 32), dtype=torch.uint8),
             "physio": torch.randn(3, 3, 200), "physio_features": torch.randn(3, n_features)}
    out = model(batch)
    assert out["va"].shape == (3, 2) and out[physio].shape == (3, 8)
    assert out["pool_embedding"].shape == (3, 3, 8) and torch.isfinite(out["pool_embedding"]).all()
    (out["va"].sum() + out["pool_va"].sum()).backward()
    encoder = model.encoders[physio]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in encoder.parameters())
    model.eval()
    with torch.no_grad():
        assert torch.isfinite(model(batch)["embedding"]).all()


def test_recola_config_default_builds_the_two_channel_cnn():
    recola = [setting for setting in TINY if not setting.startswith("model.physio_channels")]
    config = load_config(None, [*recola, "model.modalities=[visual,physio]"])
    assert config.model.physio_channels == ("ECG", "EDA") and config.data.physio_channels == ()
    assert build_model(config.model).encoders["physio"].norm.num_features == 2
