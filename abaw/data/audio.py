"""Audio: decoded once per video file with PyAV, resampled to mono, cached, and cut into past windows.

Two people in one video (``video2_left`` / ``video2_right``) share the file, so the cache is keyed by the video
file, not by the annotation name. Sample 0 of a cached waveform is the time of the video's first frame.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np

from abaw.data.cache import atomic_save_npy, default_cache_dir, file_key
from abaw.data.video import VideoError, probe
from abaw.errors import AbawError

log = logging.getLogger(__name__)

MISSING_AUDIO_MODES = ("silence", "error")


class AudioError(AbawError, RuntimeError):
    """A video whose audio cannot be decoded, or that has none when silence is not allowed."""


def decode_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode a video file's first audio stream to mono float32 at ``sample_rate`` (the mean of its channels),
    aligned to the video.

    Sample 0 is the time of the first video frame: audio that starts later is padded with silence in front,
    audio that starts earlier (encoder priming, edit lists) is cut.

    Raises:
        AudioError: no audio stream; a stream that cannot be decoded; or a file that ends before the frames
            its header declares (a truncated copy), whose lost audio would otherwise be heard as silence.
    """
    path = Path(path)
    try:
        try:
            video_start = probe(path).start
        except VideoError:
            video_start = 0.0  # no video stream: a sound file (RECOLA's .wav), whose first sample is time 0
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            # The video packets are read anyway (they are interleaved with the audio); counting them shows a
            # truncated file, which decoders end early without an error.
            delivered = {s: 0 for s in (stream, *container.streams.video[:1])}
            # Resampled with its channels kept, then averaged here: FFmpeg's own down-mix to mono adds the
            # channels with gains above 1/n (a stereo signal comes out 1.4 times, a 5.1 one 3.4 times as loud
            # as the same signal in mono), so one voice would be heard at a level that depends on the file.
            resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=sample_rate)
            chunks, first_time = [], None
            for packet in container.demux(*delivered):
                # Empty packets with a time are frames too (an AVI's dropped frames); the flush packet has none.
                delivered[packet.stream] += packet.size > 0 or packet.dts is not None
                if packet.stream is not stream:
                    continue
                for frame in packet.decode():  # the last, empty packet flushes the decoder
                    if first_time is None and frame.pts is not None:
                        first_time = float(frame.pts * frame.time_base)
                    chunks.extend(out.to_ndarray().mean(axis=0) for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray().mean(axis=0) for out in resampler.resample(None))
            _check_complete(path, delivered)
    except (av.error.FFmpegError, VideoError) as error:
        raise AudioError(f"{path}: cannot decode audio: {error}") from None
    wave = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    shift = round(((first_time or 0.0) - video_start) * sample_rate)
    if shift > 0:
        wave = np.concatenate([np.zeros(shift, np.float32), wave])
    elif shift < 0:
        wave = wave[-shift:]
    return wave


def _check_complete(path: Path, delivered: dict) -> None:
    """Raise if a stream ended well before the frame count the file's header declares (0: not declared).

    A shortfall of up to 1% (at least 2 frames) is tolerated: containers' declared counts can be off by one.
    An AVI declares the length of PCM audio in samples, not in packets, so such a stream is not counted (the
    video stream it is interleaved with still is).
    """
    for stream, count in delivered.items():
        if stream.type == "audio" and stream.codec_context.name.startswith("pcm_"):
            continue
        declared = int(stream.frames)
        if declared and count < declared - max(2, declared // 100):
            raise AudioError(f"{path}: its {stream.type} stream ends after {count} of the {declared} frames its "
                             f"header declares; the file looks truncated: copy it again")


class AudioStore:
    """Waveforms of video files, decoded on first use and cached as ``.npy`` files read back memory-mapped.

    Args:
        cache_dir: where to keep the decoded waveforms (default: ``abaw.data.cache.default_cache_dir()/audio``).
        sample_rate: the rate every waveform is resampled to.
        on_missing: a video without an audio stream gets "silence" (a logged warning, counted in
            ``missing``) or raises ("error").
    """

    def __init__(self, cache_dir: Path | None = None, sample_rate: int = 16000, on_missing: str = "silence"):
        if on_missing not in MISSING_AUDIO_MODES:
            raise ValueError(f"on_missing must be one of {MISSING_AUDIO_MODES}, got {on_missing!r}")
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir() / "audio"
        self.sample_rate = sample_rate
        self.on_missing = on_missing
        self.missing: set[Path] = set()
        self.short: dict[Path, tuple[float, float]] = {}  # video file -> seconds of audio, seconds of video
        self._open: dict[Path, np.ndarray] = {}

    def __getstate__(self) -> dict:
        # DataLoader workers started by spawn get a copy: send them paths, not the memory-mapped arrays.
        return {**self.__dict__, "_open": {}}

    def waveform(self, video: Path) -> np.ndarray:
        """The whole aligned waveform of a video file (memory-mapped; zeros of length 0 for missing audio)."""
        video = Path(video)
        if video in self._open:
            return self._open[video]
        cached = self.cache_dir / f"{video.stem}-{file_key(video, self.sample_rate)}.npy"
        if not cached.exists():
            try:
                atomic_save_npy(cached, decode_audio(video, self.sample_rate))
            except AudioError:
                if self.on_missing == "error" or probe(video).has_audio:
                    raise
                log.warning("%s has no audio stream: using silence (on_missing='silence')", video)
                self.missing.add(video)
                self._open[video] = np.zeros(0, np.float32)
                return self._open[video]
        self._open[video] = np.load(cached, mmap_mode="r")
        return self._open[video]


SHORT_AUDIO_TOLERANCE = 0.5  # seconds an audio track may end before its video without a warning


def check_audio_length(store: AudioStore, video: Path, video_seconds: float) -> None:
    """Warn, and count in ``store.short``, when a video's audio track ends more than
    :data:`SHORT_AUDIO_TOLERANCE` before its last frame: the clips past its end hear silence (a fallback).

    Encoders end the audio within a frame or two of the video; more than half a second short is another copy's
    audio, or a track cut while it was extracted.
    """
    if video in store.missing:
        return  # no audio track at all: reported as such
    audio_seconds = len(store.waveform(video)) / store.sample_rate
    if video_seconds - audio_seconds > SHORT_AUDIO_TOLERANCE:
        if video not in store.short:
            log.warning("%s: its audio track lasts %.2f s but its video %.2f s; clips past the end of the track "
                        "hear silence", video, audio_seconds, video_seconds)
        store.short[video] = (round(audio_seconds, 3), round(video_seconds, 3))


def audio_window(wave: np.ndarray, sample_rate: int, end_time: float, seconds: float) -> np.ndarray:
    """The ``seconds`` of audio that end at ``end_time`` (seconds from the first video frame).

    Time before the start of the file, or past the end of a shorter audio track, is silence, so every window
    has exactly ``round(seconds * sample_rate)`` samples.
    """
    n = int(round(seconds * sample_rate))
    end = int(round(end_time * sample_rate))
    start = end - n
    out = np.zeros(n, np.float32)
    lo, hi = max(start, 0), min(end, len(wave))
    if hi > lo:
        out[lo - start: hi - start] = wave[lo:hi]
    return out
