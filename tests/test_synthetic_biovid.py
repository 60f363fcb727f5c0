"""abaw-synth --dataset biovid: the unpacked BioVid layout and file formats, determinism, and the cues."""

import csv
import filecmp
import json
import re

import av
import numpy as np
import pytest
from PIL import Image

from abaw.data.physio_features import feature_names, physio_features
from abaw.data.synthetic import biovid
from abaw.data.synthetic.generate import main
from abaw.datasets.biovid import discover

SUBJECTS, PER_CLASS = 2, 1


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("biovid") / "set"
    assert main([str(out), "--dataset", "biovid", "--subjects", str(SUBJECTS), "--per-class", str(PER_CLASS),
                 "--workers", "1"]) == 0
    return out


def _samples(root):
    with open(root / "samples.csv", newline="") as f:
        return list(csv.reader(f, delimiter="\t"))


def test_samples_csv(tiny):
    header, *rows = _samples(tiny)
    assert header == ["subject_id", "subject_name", "class_id", "class_name", "sample_id", "sample_name"]
    assert len(rows) == SUBJECTS * 5 * PER_CLASS
    assert [int(r[4]) for r in rows] == list(range(len(rows)))
    for subject_id, subject, class_id, class_name, _, sample in rows:
        assert re.fullmatch(r"\d{6}_[wm]_\d{2}", subject)
        assert ["BL1", "PA1", "PA2", "PA3", "PA4"][int(class_id)] == class_name
        assert re.fullmatch(rf"{subject}-{class_name}-\d{{3}}", sample)
    assert len({r[1] for r in rows}) == SUBJECTS and {r[0] for r in rows} == {"0", "1"}
    assert sorted(r[2] for r in rows) == sorted(["0", "1", "2", "3", "4"] * SUBJECTS * PER_CLASS)


def test_videos_crops_and_biosignals(tiny):
    _, *rows = _samples(tiny)
    for _, subject, _, _, _, sample in rows:
        with av.open(str(tiny / "video" / subject / f"{sample}.mp4")) as container:
            stream = container.streams.video[0]
            assert stream.average_rate == 25 and not container.streams.audio
            assert sum(1 for _ in container.decode(video=0)) == 138
        crops = sorted((tiny / "cropped_aligned" / sample).iterdir())
        assert [c.name for c in crops] == [f"{k:05d}.jpg" for k in range(1, 139)]
        with Image.open(crops[0]) as image:
            assert image.size == (112, 112)
        for variant in ("biosignals_filtered", "biosignals_raw"):
            lines = (tiny / variant / subject / f"{sample}_bio.csv").read_text().splitlines()
            assert lines[0] == "time\tgsr\tecg\temg_trapezius"
            table = np.array([[float(v) for v in line.split("\t")] for line in lines[1:]])
            assert table.shape == (2816, 4)  # 5.5 s at 512 Hz
            # Microseconds: public code divides by 1000 to get milliseconds.
            assert table[0, 0] == 0 and table[-1, 0] == round(2815 * 1e6 / 512)
            assert np.allclose(np.diff(table[:, 0]), 1e6 / 512, atol=1)
            assert 1.0 < table[:, 1].min()  # skin conductance in uS, above the tonic minimum of 2 less drift
    truth = json.loads((tiny / "synthetic.json").read_text())["samples"]
    assert len(truth) == len(rows)
    assert all(s["face_intensity"] == 0 and s["scr_amplitude"] == 0 for s in truth if s["class_id"] == 0)


def test_read_back_by_the_biovid_reader(tiny):
    layout = discover(tiny)
    _, *rows = _samples(tiny)
    assert list(layout.samples) == [r[5] for r in rows]
    for _, subject, class_id, class_name, _, sample in rows:
        read = layout.samples[sample]
        assert (read.subject, read.class_name, read.pain) == (subject, class_name, int(class_id))
    assert layout.physio_channels == biovid.CHANNELS
    signals, rate = layout.read_physio(layout.biosignals[rows[0][5]])
    assert signals.shape == (3, 2816) and rate == pytest.approx(512, rel=1e-6)


def test_deterministic_for_a_seed_and_any_worker_count(tiny, tmp_path):
    again = biovid.generate_biovid(tmp_path / "again", 0, SUBJECTS, PER_CLASS, workers=2, progress=False)
    files = sorted(p.relative_to(tiny) for p in tiny.rglob("*") if p.is_file() and p.name != "README.md")
    assert len(files) > 1400
    assert all(filecmp.cmp(tiny / f, again / f, shallow=False) for f in files)
    plan = biovid.plan_subjects(np.random.default_rng([1, 20]), SUBJECTS, PER_CLASS)
    assert {s.name for s in plan} != {p.name for p in (tiny / "video").iterdir()}


def _mean_feature(class_id: int, feature: str, draws: int = 150) -> float:
    """The mean of one standard feature of the filtered biosignals over many samples of one class."""
    p = biovid.BiovidSynthParams()
    names = feature_names(biovid.CHANNELS)
    values = []
    for k in range(draws):
        rng = np.random.default_rng([7, class_id, k])
        subject = {"gsr_level": rng.uniform(2, 15), "scr_gain": rng.lognormal(0, p.scr_subject_sigma),
                   "heart_rate": rng.uniform(55, 85), "ecg_gain": 1.0, "emg_rms": 5.0}
        filtered, _, _ = biovid.biosignals(rng, class_id, 10, subject, p)
        values.append(physio_features(filtered, p.physio_rate, biovid.CHANNELS)[names.index(feature)])
    return float(np.mean(values))


def test_skin_conductance_response_grows_with_the_class():
    amplitude = [_mean_feature(c, "gsr_scr_amplitude") for c in (0, 2, 4)]
    assert amplitude[0] < amplitude[1] < amplitude[2]
    # BL1 shows only spontaneous responses; PA4's evoked one (0.5 uS times the subject's gain) dominates them.
    assert amplitude[2] > 2 * amplitude[0]


def test_pain_face_starts_after_its_latency_and_grows_with_the_class():
    p = biovid.BiovidSynthParams(spontaneous_au_p=0.0)
    plateau = []
    for class_id in range(5):
        faces = [biovid.pain_face(np.random.default_rng([3, class_id, k]), class_id, 1.0, p)[0] for k in range(100)]
        assert all(np.all(f[: int(p.face_latency_s[0] * p.fps)] == 0) for f in faces)
        plateau.append(np.mean([f[75].max() for f in faces]))
    assert plateau[0] == 0 and all(a < b for a, b in zip(plateau, plateau[1:]))


def test_too_few_subjects_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path / "x"), "--dataset", "biovid", "--subjects", "1"]) == 2
    assert "at least 2 subjects" in capsys.readouterr().err
