"""Audio decoded once per video, aligned to the frames; clips of past faces and past seconds of audio."""

import logging
from fractions import Fraction

import av
import numpy as np
import pytest

from abaw.data.audio import AudioError, AudioStore, audio_window, decode_audio
from abaw.data.clips import ClipDataset, ClipSpec
from abaw.data.streams import AudioStream, FaceStream
from abaw.data.layout import discover
from abaw.data.manifest import build_manifest
from abaw.data.video import count_frames, probe
from trees import write_tree

BURST_AT = 1.0  # seconds: a 1 kHz tone starts here, silence before


def encode_video(path, fps=25, seconds=3.0, audio_rate=44100, with_audio=True, codec="libx264"):
    """A small real video file whose audio is silent until BURST_AT, then a loud tone."""
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=Fraction(fps))
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = None
        if with_audio:
            audio = container.add_stream("aac", rate=audio_rate, layout="stereo")
        n_frames = int(round(seconds * fps))
        for i in range(n_frames):
            image = np.full((48, 64, 3), (i * 7) % 256, np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode(None))
        if audio is not None:
            t = np.arange(int(seconds * audio_rate)) / audio_rate
            wave = np.where(t >= BURST_AT, 0.5 * np.sin(2 * np.pi * 1000 * t), 0.0).astype(np.float32)
            chunk = 1024
            for start in range(0, len(wave), chunk):
                piece = np.stack([wave[start:start + chunk]] * 2)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(piece), format="fltp", layout="stereo")
                frame.sample_rate = audio_rate
                frame.pts = start
                container.mux(audio.encode(frame))
            container.mux(audio.encode(None))
    return n_frames


def onset(wave, rate):
    """First sample where the 10 ms energy exceeds a quarter of the tone's."""
    energy = np.convolve(wave.astype(np.float64) ** 2, np.ones(rate // 100) / (rate // 100), mode="same")
    return int(np.flatnonzero(energy > 0.25 * energy.max())[0])


@pytest.mark.parametrize("audio_rate", [44100, 48000])
def test_audio_is_aligned_to_the_first_video_frame(tmp_path, audio_rate):
    path = tmp_path / "1-25-64x48.mp4"
    encode_video(path, audio_rate=audio_rate)
    wave = decode_audio(path, sample_rate=16000)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - 3 * 16000) < 16000 * 0.05
    # The burst must start within 10 ms of BURST_AT (AAC priming and resampling delay included).
    assert abs(onset(wave, 16000) - BURST_AT * 16000) <= 160


def test_store_decodes_once_and_reuses_the_cache(tmp_path, monkeypatch):
    path = tmp_path / "v.mp4"
    encode_video(path)
    calls = []
    import abaw.data.audio as audio_module

    real = audio_module.decode_audio
    monkeypatch.setattr(audio_module, "decode_audio", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = AudioStore(cache_dir=tmp_path / "cache").waveform(path)
    second = AudioStore(cache_dir=tmp_path / "cache").waveform(path)  # a new process would do the same
    assert len(calls) == 1
    np.testing.assert_array_equal(first, second)
    assert isinstance(second, np.memmap)


def test_video_without_audio_gets_logged_silence_or_an_error(tmp_path, caplog):
    path = tmp_path / "mute.mp4"
    encode_video(path, with_audio=False)
    store = AudioStore(cache_dir=tmp_path / "cache")
    with caplog.at_level(logging.WARNING):
        wave = store.waveform(path)
    assert len(wave) == 0 and store.missing == {path}
    assert "has no audio stream: using silence" in caplog.text
    assert audio_window(wave, 16000, end_time=1.0, seconds=0.5).tolist() == [0.0] * 8000
    with pytest.raises(AudioError, match="mute.mp4: .*no audio stream"):
        AudioStore(cache_dir=tmp_path / "cache2", on_missing="error").waveform(path)


def test_audio_window_ends_at_the_given_time_and_pads_with_silence():
    wave = np.arange(1, 101, dtype=np.float32)  # sample i holds i + 1
    np.testing.assert_array_equal(audio_window(wave, 10, end_time=5.0, seconds=2.0), np.arange(31, 51))
    np.testing.assert_array_equal(audio_window(wave, 10, end_time=1.0, seconds=2.0),
                                  np.r_[np.zeros(10), np.arange(1, 11)])
    np.testing.assert_array_equal(audio_window(wave, 10, end_time=11.0, seconds=2.0),
                                  np.r_[np.arange(91, 101), np.zeros(10)])


def test_probe_and_count_frames(tmp_path):
    path = tmp_path / "v.mp4"
    n = encode_video(path, fps=30, seconds=2.0)
    info = probe(path)
    assert info.fps == pytest.approx(30) and info.has_audio and info.audio_rate == 44100
    assert count_frames(path) == n


def test_clip_dataset_windows_faces_and_audio(tmp_path):
    root = write_tree(tmp_path, 8)
    for stem, folder in (("1-30-640x360", "batch1"), ("video2", "batch1")):
        encode_video(root / folder / f"{stem}.mp4", fps=30, seconds=1.0)
    layout = discover(root)
    manifest = build_manifest(layout, "train")
    spec = ClipSpec(frames=3, seconds=0.2)
    streams = (FaceStream(), AudioStream(AudioStore(tmp_path / "cache", sample_rate=8000), seconds=0.5))
    clips = ClipDataset(manifest, layout, spec, streams=streams)
    assert len(clips) == len(manifest)
    # Window offsets at 30 fps over 0.2 s: 6, 3, 0 frames before the target.
    row = int(np.flatnonzero((manifest.frames["video"] == "1-30-640x360") & (manifest.frames["frame"] == 8))[0])
    assert clips.window_frames(row).tolist() == [2, 5, 8]
    item = clips[row]
    assert item["faces"].shape == (3, 3, 112, 112) and item["faces"].dtype.__str__() == "torch.uint8"
    # The crops encode their frame number as grey level; frame 2 has no crop and shows frame 3's.
    levels = item["faces"].float().mean(dim=(1, 2, 3)).round().tolist()
    assert levels == pytest.approx([60, 100, 160], abs=2)
    assert item["audio"].shape == (4000,)
    assert item["expr_mask"].item() and item["va_mask"].all() and item["au_mask"].all()
    first = clips[int(np.flatnonzero(manifest.frames["video"] == "1-30-640x360")[0])]
    assert clips.window_frames(0).tolist() == [1, 1, 1]
    # Frames 4 and 5 of that video are -5 / -1 in the tree: masks say so.
    ignored = clips[row - 8 + 4]
    assert not ignored["va_mask"].any() and not ignored["expr_mask"] and not ignored["au_mask"].any()
    assert first["row"].item() == 0


def test_third_edition_test_videos_are_counted_from_their_files(tmp_path, caplog):
    """The 3rd edition's release lists name videos only: their frame counts come from the video files."""
    root = write_tree(tmp_path, 3)
    counts = {"video9": encode_video(root / "batch2" / "video9.mp4", fps=25, seconds=1.2),
              "7-25-640x360": encode_video(root / "batch2" / "7-25-640x360.mp4", fps=25, seconds=0.8)}
    with caplog.at_level(logging.WARNING):
        manifest = build_manifest(discover(root), "test", tasks=("va", "expr"))
    assert manifest.videos["n_frames"].to_dict() == counts
    assert "no sample file lists its frames" in caplog.text
