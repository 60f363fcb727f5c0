"""The models: output contract, teacher vs student, causality of the LSTM, gradients, the log-mel features
(against a numpy reference), local weights, the size/cost report, and adding a modality."""

import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from abaw.models import ModelConfig, MultitaskModel, build_model, format_report, model_report, register_encoder
from abaw.models import factory, report
from abaw.models.audio import LogMelEncoder, mel_filterbank
from abaw.models.visual import TEMPORAL_BUILDERS

SR = 8000
TINY = ModelConfig(backbone="test_byobnet", image_size=32, temporal_dim=32, audio_dim=24, sample_rate=SR,
                   soundnet_width=4, fusion_dims=(48, 40))
STUDENT = replace(TINY, modalities=("visual",))
TEACHER_KEYS = {"va", "expr", "au", "embedding", "visual", "audio"}


def make_batch(batch: int = 3, frames: int = 3, size: int = 32, seconds: float = 1.0, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "faces": torch.randint(0, 256, (batch, frames, 3, size, size), dtype=torch.uint8, generator=g),
        "audio": 0.1 * torch.randn(batch, int(seconds * SR), generator=g),
        "va": torch.zeros(batch, 2),  # labels ride along in real batches; the model ignores them
        "expr": torch.zeros(batch, dtype=torch.long),
    }


def build(config: ModelConfig, seed: int = 0) -> MultitaskModel:
    torch.manual_seed(seed)
    return build_model(config)


def check_outputs(out: dict, keys: set, batch: int, embedding_dim: int) -> None:
    assert set(out) == keys
    expected = {"va": 2, "expr": 8, "au": 12, "embedding": embedding_dim, "visual": TINY.temporal_dim,
                "audio": TINY.audio_dim}
    for key, value in out.items():
        assert value.shape == (batch, expected[key]), key
        assert value.dtype == torch.float32, key
        assert torch.isfinite(value).all(), key
    assert (out["va"].abs() < 1).all()


@pytest.mark.parametrize("autocast", [False, True])
@pytest.mark.parametrize("audio_encoder", ["soundnet", "logmel"])
def test_teacher_and_student_outputs(autocast, audio_encoder):
    config = replace(TINY, audio_encoder=audio_encoder)
    teacher, student = build(config), build(replace(config, modalities=("visual",)))
    batch = make_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out_t, out_s = teacher(batch), student(batch)
    check_outputs(out_t, TEACHER_KEYS, 3, 40)
    check_outputs(out_s, TEACHER_KEYS - {"audio"}, 3, 40)
    # Configured alike, the student's embedding has the teacher's width: cosine / OT losses need no projection.
    assert teacher.embedding_dim == student.embedding_dim == 40
    assert teacher.modalities == ("visual", "audio") and student.modalities == ("visual",)


def test_faces_are_resized_and_normalised_inside():
    model = build(replace(TINY, image_size=24, temporal="mean")).eval()
    visual = model.encoders["visual"]
    faces = make_batch(size=40)["faces"]
    x = visual.prepare(faces)
    assert x.shape == (9, 3, 24, 24)
    assert model(make_batch(size=40))["visual"].shape == (3, 256)  # "mean" keeps the backbone's width
    # At the model's size no resize happens: exactly (x / 255 - mean) / std with the backbone's statistics.
    faces = make_batch(size=24)["faces"]
    mean = torch.tensor(visual.backbone.pretrained_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(visual.backbone.pretrained_cfg["std"]).view(1, 3, 1, 1)
    torch.testing.assert_close(visual.prepare(faces), (faces.flatten(0, 1).float() / 255 - mean) / std)


def test_student_holds_no_audio_and_ignores_it():
    student = build(STUDENT).eval()
    assert not [name for name, _ in student.named_parameters() if "audio" in name.lower()]
    assert not [name for name, _ in student.named_modules() if "audio" in name.lower()]
    batch = make_batch()
    with torch.no_grad():
        without = student({"faces": batch["faces"]})
        with_audio = student(batch)
        other_audio = student({**batch, "audio": torch.randn_like(batch["audio"])})
    for key in without:
        assert torch.equal(without[key], with_audio[key]) and torch.equal(without[key], other_audio[key])


def test_teacher_output_depends_on_audio():
    teacher = build(TINY).eval()
    batch = make_batch()
    with torch.no_grad():
        a = teacher(batch)
        b = teacher({**batch, "audio": torch.randn_like(batch["audio"])})
    assert torch.equal(a["visual"], b["visual"])
    assert not torch.allclose(a["audio"], b["audio"])
    assert not torch.allclose(a["va"], b["va"])
    with pytest.raises(KeyError, match="audio"):
        teacher({"faces": batch["faces"]})


def test_lstm_takes_the_last_step():
    model = build(STUDENT).eval()
    visual = model.encoders["visual"]
    batch = make_batch()
    changed = batch["faces"].clone()
    changed[:, -1] = 255 - changed[:, -1]
    with torch.no_grad():
        a, b = model(batch), model({"faces": changed})
        per_frame = visual.backbone(visual.prepare(batch["faces"])).view(3, 3, -1)
        sequence, _ = visual.temporal.lstm(per_frame)
    assert not torch.allclose(a["visual"], b["visual"])
    assert not torch.allclose(a["va"], b["va"])
    torch.testing.assert_close(a["visual"], sequence[:, -1])


def test_gradients_reach_every_part():
    model = build(TINY).train()
    out = model(make_batch())
    g = torch.Generator().manual_seed(1)
    loss = sum((value * torch.randn(value.shape, generator=g)).sum() for value in out.values())
    loss.backward()
    named = dict(model.named_parameters())
    backbone = [n for n in named if n.startswith("encoders.visual.backbone.")]
    for name in (backbone[0], backbone[-1], "encoders.visual.temporal.lstm.weight_ih_l0",
                 "encoders.visual.temporal.lstm.weight_hh_l0", "encoders.audio.convs.0.weight",
                 "encoders.audio.proj.weight", "fusion.mlp.0.weight", "heads.va.weight", "heads.expr.weight",
                 "heads.au.weight"):
        grad = named[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


# --- log-mel features, against a plain numpy reference ------------------------------------------------------

def np_mel_filterbank(n_fft: int, n_mels: int, sr: int) -> np.ndarray:
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    edges = 700 * (10 ** (np.linspace(mel(0), mel(sr / 2), n_mels + 2) / 2595) - 1)
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, centre, hi = edges[m:m + 3]
        for k, f in enumerate(freqs):
            if lo < f <= centre:
                fb[m, k] = (f - lo) / (centre - lo)
            elif centre < f < hi:
                fb[m, k] = (hi - f) / (hi - centre)
    return fb


def np_log_mel(x: np.ndarray, win: int, hop: int, n_fft: int, fb: np.ndarray) -> np.ndarray:
    window = np.zeros(n_fft)
    left = (n_fft - win) // 2
    window[left:left + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
    padded = np.pad(x, n_fft // 2)
    frames = np.stack([padded[t * hop:t * hop + n_fft] * window for t in range(1 + len(x) // hop)])
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
    return np.log(power @ fb.T + 1e-6).T


def test_mel_filterbank_matches_numpy_and_covers_the_spectrum():
    sr, n_fft, n_mels = 16000, 1024, 64
    fb = mel_filterbank(n_fft, n_mels, sr).numpy()
    ref = np_mel_filterbank(n_fft, n_mels, sr)
    np.testing.assert_allclose(fb, ref, atol=1e-6)
    assert (fb.sum(axis=1) > 0).all() and fb.max() <= 1
    # Between the first and the last centre, neighbouring triangles share every bin: weights sum to 1.
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    centres = 700 * (10 ** (np.linspace(mel(0), mel(sr / 2), n_mels + 2)[1:-1] / 2595) - 1)
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    inside = (freqs >= centres[0]) & (freqs <= centres[-1])
    np.testing.assert_allclose(fb[:, inside].sum(axis=0), 1.0, atol=1e-5)


def test_log_mel_matches_numpy_reference():
    encoder = LogMelEncoder(sample_rate=16000, out_dim=8, channels=(4,))
    assert (encoder.win_length, encoder.hop_length, encoder.n_fft) == (400, 160, 1024)
    x = np.random.default_rng(0).normal(scale=0.1, size=8000)
    ours = encoder.log_mel(torch.from_numpy(x).float()[None])[0].numpy()
    ref = np_log_mel(x, 400, 160, 1024, np_mel_filterbank(1024, 64, 16000))
    assert ours.shape == ref.shape == (64, 51)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


@pytest.mark.parametrize("freq", [440.0, 1000.0, 3000.0])
def test_pure_tone_peaks_in_its_mel_band(freq):
    sr, n_mels = 16000, 64
    encoder = LogMelEncoder(sample_rate=sr, out_dim=8, n_mels=n_mels, channels=(4,))
    t = np.arange(sr) / sr
    tone = torch.from_numpy(0.5 * np.sin(2 * np.pi * freq * t)).float()[None]
    energy = encoder.log_mel(tone)[0, :, 5:-5].mean(dim=1)
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    centres = np.linspace(mel(0), mel(sr / 2), n_mels + 2)[1:-1]
    assert int(energy.argmax()) == int(np.argmin(np.abs(centres - mel(freq))))


def test_audio_encoders_take_short_and_long_waveforms():
    for encoder_name in ("soundnet", "logmel"):
        model = build(replace(TINY, audio_encoder=encoder_name)).eval()
        for seconds in (0.5, 2.3):
            with torch.no_grad():
                out = model(make_batch(batch=2, seconds=seconds))
            assert out["audio"].shape == (2, TINY.audio_dim) and torch.isfinite(out["audio"]).all()


# --- local weights ---------------------------------------------------------------------------------------

class _Payload:
    """An arbitrary object: unpickling it would run code of the file's choosing."""


def backbone_state(model: MultitaskModel) -> dict:
    return model.encoders["visual"].backbone.state_dict()


def test_local_safetensors_weights_load_into_the_backbone(tmp_path, caplog):
    source = build(STUDENT, seed=0)
    path = tmp_path / "backbone.safetensors"
    state = {k: v.contiguous() for k, v in backbone_state(source).items()}
    save_file({**state, "extra.weight": torch.zeros(2)}, str(path))
    assert not all(torch.equal(v, backbone_state(build(STUDENT, seed=1))[k]) for k, v in state.items())
    with caplog.at_level(logging.INFO, logger="abaw.models.visual"):
        loaded = build(replace(STUDENT, weights=str(path)), seed=1)
    for key, value in backbone_state(loaded).items():
        assert torch.equal(value, state[key]), key
    assert "extra.weight" in caplog.text  # the unexpected key is reported


def test_local_state_dict_file_loads_and_pickled_objects_are_refused(tmp_path):
    source = build(STUDENT, seed=0)
    good = tmp_path / "backbone.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in backbone_state(source).items()}}, good)
    loaded = build(replace(STUDENT, weights=str(good)), seed=1)
    for key, value in backbone_state(loaded).items():
        assert torch.equal(value, backbone_state(source)[key]), key

    bad = tmp_path / "pickled.pth"
    torch.save({**backbone_state(source), "payload": _Payload()}, bad)
    with pytest.raises(ValueError, match="refusing"):
        build(replace(STUDENT, weights=str(bad)))

    foreign = tmp_path / "foreign.safetensors"
    save_file({"something.else": torch.zeros(3)}, str(foreign))
    with pytest.raises(ValueError, match="none of its"):
        build(replace(STUDENT, weights=str(foreign)))


# --- size and cost -------------------------------------------------------------------------------------------

def test_report_counts_macs_of_a_linear_layer():
    layer = nn.Linear(7, 5)
    result = model_report(layer, torch.randn(4, 7))
    assert result["macs"]["total"] == 7 * 5  # one sample: in * out multiply-accumulates
    assert result["params"]["total"] == 7 * 5 + 5


def test_report_teacher_vs_student():
    teacher, student = build(TINY).train(), build(STUDENT)
    batch = make_batch()
    reports = {"teacher": model_report(teacher, batch), "student": model_report(student, batch)}
    assert teacher.training  # its mode is restored
    for name, model in (("teacher", teacher), ("student", student)):
        params, macs = reports[name]["params"], reports[name]["macs"]
        assert params["total"] == sum(p.numel() for p in model.parameters())
        assert params["total"] == sum(v for k, v in params.items() if k != "total")
        assert params["heads"] == sum(p.numel() for p in model.heads.parameters())
        assert macs["total"] >= sum(v for k, v in macs.items() if k != "total") > 0
        assert macs["heads"] == 40 * (2 + 8 + 12)
    assert set(reports["teacher"]["params"]) == {"total", "visual", "audio", "fusion", "heads"}
    assert "audio" not in reports["student"]["params"]
    t, s = reports["teacher"], reports["student"]
    assert t["params"]["total"] > s["params"]["total"] and t["macs"]["total"] > s["macs"]["total"]
    assert t["macs"]["visual"] == s["macs"]["visual"] > 0
    # One sample whatever the batch size.
    assert model_report(student, make_batch(batch=1))["macs"] == s["macs"]
    table = format_report(reports)
    assert table.splitlines()[0].split()[:3] == ["model", "params", "MACs"]
    assert table.splitlines()[-1].startswith("student") and " - " in table.splitlines()[-1]


def test_report_command(capsys):
    assert report.main(["--backbone", "test_resnet", "--image-size", "32", "--frames", "2",
                        "--audio-seconds", "0.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("test_resnet at 32 px, 2 frames")
    assert [line.split()[0] for line in lines[-2:]] == ["teacher", "student"]


# --- modalities --------------------------------------------------------------------------------------------

class RespirationEncoder(nn.Module):
    """A stand-in for a new modality's encoder (a respiration belt): (B, C, N) signals -> (B, 16)."""

    input_key = "respiration"

    def __init__(self, channels: int = 2):
        super().__init__()
        self.proj = nn.Linear(2 * channels, 16)
        self.out_dim = 16

    def forward(self, signals: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.cat([signals.mean(-1), signals.std(-1)], dim=-1))


@pytest.fixture
def respiration():
    register_encoder("respiration", lambda config: RespirationEncoder())
    yield
    factory.ENCODERS.pop("respiration")


def test_an_extra_modality_plugs_in(respiration):
    model = build(replace(TINY, modalities=("visual", "audio", "respiration"))).eval()
    batch = {**make_batch(), "respiration": torch.randn(3, 2, 100)}
    with torch.no_grad():
        out = model(batch)
        other = model({**batch, "respiration": 3 * torch.randn(3, 2, 100)})
    check_outputs({k: v for k, v in out.items() if k != "respiration"}, TEACHER_KEYS, 3, 40)
    assert out["respiration"].shape == (3, 16)
    assert not torch.allclose(out["va"], other["va"])
    with pytest.raises(ValueError, match="already registered"):
        register_encoder("respiration", lambda config: RespirationEncoder())


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="no encoder registered"):
        build_model(replace(TINY, modalities=("visual", "smell")))
    with pytest.raises(ValueError, match="distinct"):
        build_model(replace(TINY, modalities=("visual", "visual")))
    with pytest.raises(ValueError, match="fusion"):
        build_model(replace(TINY, fusion="sum"))
    with pytest.raises(ValueError, match="temporal"):
        build_model(replace(TINY, temporal="transformer"))
    with pytest.raises(ValueError, match="audio encoder"):
        build_model(replace(TINY, audio_encoder="wav2vec"))


@pytest.mark.parametrize("temporal, cell", [("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)])
def test_recurrent_temporal_models_return_the_last_step_of_their_cell(temporal, cell):
    """model.temporal=gru (the PKD paper's) and lstm: the encoder's window summary is the last step of a plain
    torch recurrent cell with the same weights, and the LSTM keeps its checkpoint keys (temporal.lstm.*)."""
    torch.manual_seed(0)
    temporal_model = TEMPORAL_BUILDERS[temporal](10, 7)
    reference = cell(10, 7, batch_first=True)
    reference.load_state_dict({k.split(".", 1)[1]: v for k, v in temporal_model.state_dict().items()})
    features = torch.randn(3, 5, 10)
    expected = reference(features)[0][:, -1]
    torch.testing.assert_close(temporal_model(features), expected)
    assert all(k.startswith(f"{temporal}.") for k in temporal_model.state_dict())
    # The last step depends on every earlier face (a recurrence, not the last frame alone).
    changed = features.clone()
    changed[:, 0] += 1.0
    assert not torch.allclose(temporal_model(changed), temporal_model(features))
