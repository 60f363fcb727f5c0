"""abaw-synth --dataset recola: the AVEC 2016 layout, deterministic, read back by the RECOLA reader."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from abaw.data.audio import AudioStore
from abaw.data.synthetic import main as synth_main
from abaw.datasets import dataset_for
from abaw.datasets.recola import build_manifest, combine_raters, discover
from abaw.datasets.recola_files import read_arff, read_individual_ratings, read_physio, read_wav

@pytest.fixture(scope="module")
def recola(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "recola"
    assert synth_main(["--dataset", "recola", str(out), "--videos", "2", "--seconds", "2", "--workers", "1"]) == 0
    return out


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_avec_2016_layout_with_crops(recola):
    for name in ("train_1", "train_2", "dev_1", "dev_2"):
        assert (recola / "recordings_video" / f"{name}.mp4").is_file()
        assert (recola / "recordings_audio" / f"{name}.wav").is_file()
        assert (recola / "recordings_physio" / f"{name}.csv").is_file()
        for dim in ("valence", "arousal"):
            assert (recola / "ratings_gold_standard" / dim / f"{name}.arff").is_file()
            assert (recola / "ratings_individual" / dim / f"{name}.csv").is_file()
        assert any((recola / "cropped_aligned" / name).glob("*.jpg"))
    assert dataset_for(recola, "recola").detect(recola)


def test_deterministic_for_a_seed(recola, tmp_path):
    again = tmp_path / "recola"  # the same name: README.md quotes it
    assert synth_main(["--dataset", "recola", str(again), "--videos", "2", "--seconds", "2", "--workers", "2"]) == 0
    assert _digests(again) == _digests(recola)


def test_gold_standard_is_the_raters_combined(recola):
    for dim in ("valence", "arousal"):
        gold = read_arff(recola / "ratings_gold_standard" / dim / "dev_1.arff")
        raters = read_individual_ratings(recola / "ratings_individual" / dim / "dev_1.csv")
        assert raters.values.shape[1] == 6
        np.testing.assert_allclose(gold.times, raters.times)
        np.testing.assert_allclose(gold.values, combine_raters(raters.values), atol=2e-5)


def test_streams_read_back_at_their_rates(recola):
    layout = discover(recola)
    manifest = build_manifest(layout, "train")
    seconds = {n: manifest.videos.at[n, "n_frames"] / manifest.videos.at[n, "fps"] for n in manifest.videos.index}
    assert sorted(manifest.videos["fps"]) == [25, 30]
    for name, length in seconds.items():
        signals, rate = read_physio(layout.stream_file("physio", name))
        assert rate == pytest.approx(250) and signals.shape[1] / rate == pytest.approx(length, abs=0.01)
        wave, sample_rate = read_wav(layout.stream_file("audio", name))
        decoded = np.asarray(AudioStore(recola / ".cache", sample_rate=sample_rate).waveform(
            layout.stream_file("audio", name)))
        np.testing.assert_allclose(decoded[: len(wave)], wave, atol=1e-4)  # the .wav, through the audio stream
    faces = manifest.frames.groupby("video", observed=True)["has_face"].sum()
    crops = {n: len(list((recola / "cropped_aligned" / n).glob("*.jpg"))) for n in manifest.videos.index}
    assert faces.to_dict() == crops
