"""Facts about a video file, read with PyAV: frame rate, frame count, audio stream."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from abaw.errors import AbawError

# Aff-Wild2 names often carry the frame rate and size: "1-30-1280x720", "3-25-1920x1080".
_NAME_RE = re.compile(r"^\d+-(?P<fps>\d+)-(?P<width>\d+)x(?P<height>\d+)")


class VideoError(AbawError, RuntimeError):
    """A video file that cannot be opened or lacks what is needed from it."""


@dataclass(frozen=True)
class VideoInfo:
    """What the toolkit needs to know of a video file.

    Attributes:
        path: the file.
        fps: frames per second of the video stream (its average rate).
        start: time of the first video frame, seconds (audio is aligned to it).
        has_audio: whether the file holds an audio stream.
        audio_rate: the audio stream's sample rate (0 without audio).
        frames: the video frames its header declares (0 where the container does not say, e.g. Matroska).
    """

    path: Path
    fps: float
    start: float
    has_audio: bool
    audio_rate: int
    frames: int = 0


def probe(path: str | Path) -> VideoInfo:
    """Open a video's container (no decoding) and read its frame rate and streams."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            video = container.streams.video[0]
            rate = video.average_rate or video.base_rate or video.guessed_rate
            if not rate:
                raise VideoError(f"{path}: the video stream has no frame rate")
            start = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
            audio = container.streams.audio[0] if container.streams.audio else None
            return VideoInfo(path=path, fps=float(Fraction(rate)), start=start, has_audio=audio is not None,
                             audio_rate=int(audio.rate) if audio is not None else 0, frames=int(video.frames))
    except av.error.FFmpegError as error:
        raise VideoError(f"{path}: cannot open the video file (truncated, or not a video?): {error}") from None


def count_frames(path: str | Path) -> int:
    """Count the video frames by demuxing every packet (no decoding; exact where metadata is not).

    Used only for test videos that no organisers' file describes: everywhere else the count comes from the
    annotation or sample files.
    """
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return sum(1 for packet in container.demux(stream) if packet.size > 0)
    except (av.error.FFmpegError, IndexError) as error:
        raise VideoError(f"{path}: cannot count frames: {error}") from None


def fps_from_name(name: str) -> float | None:
    """The frame rate written in an Aff-Wild2 video name ("3-25-640x360" -> 25.0), or None."""
    match = _NAME_RE.match(name)
    return float(match["fps"]) if match else None
