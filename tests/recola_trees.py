"""A tiny RECOLA tree in the AVEC 2016 layout, written by hand (PyAV, ``wave``, plain text), independently of
the reader in ``abaw.datasets.recola``.

Every gold-standard value is a function of the recording, the dimension and the ARFF row (``gold_value``), so
a test can say which row a manifest label came from. Videos run at 25 and 30 fps; one ARFF ends before its
video does; one recording's crops miss a few frames.
"""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

# name -> (fps, video frames, gold-standard rows, frames without a crop)
RECORDINGS = {
    "train_1": (25, 50, 50, ()),
    "train_2": (30, 60, 50, (3, 4)),
    "dev_1": (30, 57, 40, ()),  # its ratings end at 1.56 s, before its video (1.87 s)
    "dev_2": (25, 45, 45, (1,)),
}
RATERS = ("FM1", "FM2", "FF1")
PHYSIO_RATE = 250  # Hz, written in the time column only
AUDIO_RATE = 8000
DIMENSIONS = ("valence", "arousal")


def gold_value(name: str, dimension: str, row: int) -> float:
    """Distinct per recording, dimension and row, so a misaligned label shows."""
    code = list(RECORDINGS).index(name) + 1
    sign = 1 if dimension == "valence" else -1
    return round(sign * (0.1 * code + 0.001 * row), 6)


def expected_row(frame: int, fps: int, n_rows: int, shift_rows: int = 0) -> int | None:
    """The ARFF row of a 1-based video frame, in exact arithmetic: the row nearest the frame's time
    (frame - 1) / fps on the 40 ms grid, a time exactly between two rows taking the earlier one; plus the shift;
    None past the last row."""
    position = Fraction(frame - 1, fps) / Fraction(1, 25)
    row = -((-(2 * position - 1)) // 2)  # ceil(position - 1/2): a tie goes down
    row = int(row) + shift_rows
    return row if 0 <= row < n_rows else None


def write_recola_tree(root: Path, physio_filtered: bool = True) -> Path:
    root = Path(root)
    for name, (fps, frames, rows, faceless) in RECORDINGS.items():
        _video(root / "recordings_video" / f"{name}.mp4", fps, frames, name)
        seconds = frames / fps
        _wav(root / "recordings_audio" / f"{name}.wav", seconds, 200 + 100 * list(RECORDINGS).index(name))
        _physio(root / "recordings_physio" / f"{name}.csv", seconds, offset=0.0)
        if physio_filtered:
            _physio(root / "recordings_physio" / "filtered" / f"{name}.csv", seconds, offset=10.0)
        for dim in DIMENSIONS:
            gold = root / "ratings_gold_standard" / dim / f"{name}.arff"
            gold.parent.mkdir(parents=True, exist_ok=True)
            lines = ["@relation GoldStandard", "", "@attribute Instance_name string",
                     "@attribute frameTime numeric", "@attribute GoldStandard numeric", "", "@data"]
            lines += [f"{name},{j * 0.04:.2f},{gold_value(name, dim, j)}" for j in range(rows)]
            gold.write_text("\n".join(lines) + "\n")
            individual = root / "ratings_individual" / dim / f"{name}.csv"
            individual.parent.mkdir(parents=True, exist_ok=True)
            table = [";".join(["time", *RATERS])]
            table += [";".join([f"{j * 0.04:.2f}", *(f"{gold_value(name, dim, j) + 0.01 * (k - 1):.6f}"
                                                      for k in range(len(RATERS)))]) for j in range(rows)]
            individual.write_text("\n".join(table) + "\n")
        crops = root / "cropped_aligned" / name
        crops.mkdir(parents=True, exist_ok=True)
        for frame in range(1, frames + 1):
            if frame not in faceless:
                Image.new("RGB", (112, 112), (frame % 256, 80, 120)).save(crops / f"{frame:05d}.jpg")
    return root


def _video(path: Path, fps: int, frames: int, name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for k in range(frames):
            image = np.full((32, 32, 3), (k * 4) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _wav(path: Path, seconds: float, hz: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    pcm = (0.3 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(AUDIO_RATE)
        f.writeframes(pcm.tobytes())


def physio_values(t: np.ndarray, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """(ECG, EDA) at times ``t``: ECG a 1.2 Hz sine, EDA a ramp plus ``offset`` (raw 0, filtered 10)."""
    return np.sin(2 * np.pi * 1.2 * t), offset + t


def _physio(path: Path, seconds: float, offset: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * PHYSIO_RATE)) / PHYSIO_RATE
    ecg, eda = physio_values(t, offset)
    lines = ["time;EDA;ECG"] + [f"{a:.4f};{b:.6f};{c:.6f}" for a, b, c in zip(t, eda, ecg)]
    path.write_text("\n".join(lines) + "\n")
