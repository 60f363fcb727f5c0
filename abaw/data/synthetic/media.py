"""Writing a video file with its audio through PyAV, byte-identically for identical input.

Determinism: the muxer and encoders get the ``bitexact`` flag (no library version strings or timestamps in the
file) and every encoder runs on one thread (x264's multi-threaded rate control depends on thread timing).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from abaw.data.synthetic.params import SynthParams

# container suffix -> (video encoder, audio encoder)
CODECS = {".mp4": ("libx264", "aac"), ".avi": ("mpeg4", "libmp3lame")}


class AVWriter:
    """Writes frames one by one and interleaves the (precomputed) audio as it goes."""

    def __init__(self, path: Path, fps: int, size: tuple[int, int], audio: np.ndarray, sample_rate: int,
                 p: SynthParams):
        video_codec, audio_codec = CODECS[path.suffix]
        bitexact = av.codec.context.Flags.bitexact
        self.container = av.open(str(path), "w", options={"fflags": "+bitexact"})
        self.video = self.container.add_stream(video_codec, rate=fps)
        self.video.pix_fmt = "yuv420p"
        self.video.width, self.video.height = size
        self.video.thread_count = 1
        self.video.codec_context.flags |= bitexact
        if video_codec == "libx264":
            self.video.options = {"preset": p.x264_preset, "crf": str(p.x264_crf)}
        else:
            self.video.bit_rate = p.mpeg4_bit_rate
            self.video.codec_context.max_b_frames = 0  # no packed B-frames: every reader counts frames alike
        self.layout = "mono" if len(audio) == 1 else "stereo"
        self.audio_stream = self.container.add_stream(audio_codec, rate=sample_rate, layout=self.layout)
        self.audio_stream.format = "fltp"
        self.audio_stream.codec_context.flags |= bitexact
        self.fps, self.sample_rate = fps, sample_rate
        self.audio = np.ascontiguousarray(audio, dtype=np.float32)
        self.frames = 0
        self.audio_done = 0

    def add(self, image: Image.Image) -> None:
        frame = av.VideoFrame.from_image(image)
        frame.pts, frame.time_base = self.frames, Fraction(1, self.fps)
        self.container.mux(self.video.encode(frame))
        self.frames += 1
        self._audio_until(round(self.frames / self.fps * self.sample_rate))

    def _audio_until(self, stop: int, flush: bool = False) -> None:
        size = self.audio_stream.codec_context.frame_size or 1024
        stop = min(stop, self.audio.shape[1])
        while self.audio_done + size <= stop or (flush and self.audio_done < stop):
            chunk = self.audio[:, self.audio_done : self.audio_done + size]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=self.layout)
            frame.sample_rate, frame.pts = self.sample_rate, self.audio_done
            frame.time_base = Fraction(1, self.sample_rate)
            self.container.mux(self.audio_stream.encode(frame))
            self.audio_done += chunk.shape[1]

    def close(self) -> None:
        self.container.mux(self.video.encode(None))
        self._audio_until(self.audio.shape[1], flush=True)
        self.container.mux(self.audio_stream.encode(None))
        self.container.close()
