"""Showing a video's predictions: a PNG over time, and the video with the predictions drawn beside the face."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from abaw.errors import AbawError
from abaw.faces.extract import read_report
from abaw.io import atomic_path
from abaw.tasks import AU_NAMES, EXPR_CLASSES

AU_ACTIVE = 0.5  # an action unit is drawn as active at this probability or more
EXPR_COLOURS = ["#9e9e9e", "#d62728", "#8c564b", "#9467bd", "#2ca02c", "#1f77b4", "#ff7f0e", "#e377c2"]
EXPR_COLOURS_RGB = [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in EXPR_COLOURS]
PERSON_COLOURS = [(255, 200, 0), (0, 200, 255), (255, 80, 160), (120, 255, 120)]
PANEL_WIDTH = 280


def read_person_predictions(path: Path) -> dict[str, np.ndarray]:
    """A predictions file (docs/design.md's format) as arrays: ``frame``, and ``va`` (n, 2), ``expr`` (n, 8),
    ``au`` (n, 12) for the tasks whose columns it has."""
    table = pd.read_csv(path)
    if "frame" not in table.columns:
        raise AbawError(f"{path}: no 'frame' column; not a predictions file")
    data = {"frame": table["frame"].to_numpy()}
    for task, columns in (("va", ["valence", "arousal"]), ("expr", list(EXPR_CLASSES)), ("au", list(AU_NAMES))):
        if all(c in table.columns for c in columns):
            data[task] = table[columns].to_numpy(dtype=np.float64)
    return data


def plot_predictions(predictions: dict[str, dict[str, np.ndarray]], fps: float, path: Path, title: str = "") -> Path:
    """Valence and arousal over time, the most likely expression as a coloured band, and the active AUs (each
    AU a row, dark where its probability is at least 0.5): one block of rows per person."""
    people = list(predictions)
    rows = [("va", 3.0), ("expr", 0.7), ("au", 2.4)]
    figure = Figure(figsize=(12, sum(h for _, h in rows) * len(people) + 0.6), dpi=100)
    axes = figure.subplots(len(rows) * len(people), 1, sharex=True,
                           gridspec_kw={"height_ratios": [h for _, h in rows] * len(people)})
    axes = np.atleast_1d(axes)
    for p, person in enumerate(people):
        data = predictions[person]
        seconds = (data["frame"] - 1) / fps
        va_axis, expr_axis, au_axis = axes[3 * p : 3 * p + 3]
        if "va" in data:
            va_axis.plot(seconds, data["va"][:, 0], color="#1f77b4", label="valence")
            va_axis.plot(seconds, data["va"][:, 1], color="#d62728", label="arousal")
            va_axis.legend(loc="upper right", fontsize=8)
        va_axis.axhline(0, color="black", linewidth=0.5)
        va_axis.set_ylim(-1.05, 1.05)
        va_axis.set_ylabel("valence /\narousal")
        va_axis.set_title(person, fontsize=10, loc="left")
        extent = (seconds[0], seconds[-1] + 1 / fps)
        if "expr" in data:
            expr_axis.imshow(data["expr"].argmax(1)[None], aspect="auto", interpolation="nearest",
                             cmap=ListedColormap(EXPR_COLOURS), vmin=-0.5, vmax=len(EXPR_CLASSES) - 0.5,
                             extent=(*extent, 0, 1))
            shown = sorted(set(data["expr"].argmax(1)))
            handles = [expr_axis.bar(0, 0, color=EXPR_COLOURS[k], label=EXPR_CLASSES[k]) for k in shown]
            expr_axis.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
        expr_axis.set_yticks([])
        expr_axis.set_ylabel("expression", rotation=0, ha="right", va="center")
        if "au" in data:
            au_axis.imshow((data["au"] >= AU_ACTIVE).T, aspect="auto", interpolation="nearest", cmap="Greys",
                           vmin=0, vmax=1, extent=(*extent, len(AU_NAMES) - 0.5, -0.5))
            au_axis.set_yticks(range(len(AU_NAMES)), AU_NAMES, fontsize=7)
        au_axis.set_ylabel(f"AUs (p >= {AU_ACTIVE:g})")
    axes[-1].set_xlabel("time (s)")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: one fixed size
        return ImageFont.load_default()


def _panel(draw: ImageDraw.ImageDraw, x0: int, y0: int, person: str, colour, data: dict, row: int | None,
           font, small) -> int:
    """One person's predictions at one frame, drawn from (x0, y0); returns the y below it."""
    draw.text((x0, y0), person, fill=colour, font=font)
    y = y0 + 22
    if row is None:
        draw.text((x0, y), "(frame not predicted)", fill=(200, 200, 200), font=small)
        return y + 20
    if "va" in data:
        for label, value in zip(("valence", "arousal"), data["va"][row]):
            draw.text((x0, y), f"{label} {value:+.2f}", fill=(255, 255, 255), font=small)
            mid, half = x0 + 190, 60
            draw.rectangle([mid - half, y + 3, mid + half, y + 13], outline=(120, 120, 120))
            end = mid + half * float(np.clip(value, -1, 1))
            draw.rectangle([min(mid, end), y + 4, max(mid, end), y + 12], fill=colour)
            y += 20
    if "expr" in data:
        k = int(data["expr"][row].argmax())
        draw.text((x0, y), f"{EXPR_CLASSES[k]} ({data['expr'][row, k]:.2f})", fill=EXPR_COLOURS_RGB[k], font=font)
        y += 24
    if "au" in data:
        active = [au for au, p in zip(AU_NAMES, data["au"][row]) if p >= AU_ACTIVE]
        text = " ".join(active) if active else "no AU active"
        for start in range(0, len(text), 30):
            draw.text((x0, y), text[start : start + 30], fill=(230, 230, 230), font=small)
            y += 16
    return y + 12



def render_video(video: Path, predictions: dict[str, dict[str, np.ndarray]], report: Path, path: Path) -> Path:
    """The video with each person's face box and, in a panel on its right, their predictions at every frame."""
    rows = read_report(report)
    boxes: dict[int, list[tuple[str, tuple[float, ...]]]] = {}
    for r in rows:
        boxes.setdefault(r["frame"], []).append((r["person"], (r["x1"], r["y1"], r["x2"], r["y2"])))
    people = list(predictions)
    colours = {p: PERSON_COLOURS[k % len(PERSON_COLOURS)] for k, p in enumerate(people)}
    row_of = {p: {int(f): k for k, f in enumerate(predictions[p]["frame"])} for p in people}
    font, small = _font(18), _font(14)
    with av.open(str(video)) as source, atomic_path(path) as tmp:
        stream = source.streams.video[0]
        rate = stream.average_rate or Fraction(25)
        width, height = stream.codec_context.width, stream.codec_context.height
        out_width, out_height = (width + PANEL_WIDTH + 1) // 2 * 2, (height + 1) // 2 * 2
        with av.open(str(tmp), "w", format="mp4") as sink:
            encoded = sink.add_stream("libx264", rate=rate)
            encoded.width, encoded.height, encoded.pix_fmt = out_width, out_height, "yuv420p"
            encoded.options = {"crf": "23", "preset": "veryfast"}
            for number, frame in enumerate(source.decode(stream), start=1):
                canvas = Image.new("RGB", (out_width, out_height), (24, 24, 24))
                canvas.paste(frame.to_image(), (0, 0))
                draw = ImageDraw.Draw(canvas)
                for person, box in boxes.get(number, []):
                    draw.rectangle(box, outline=colours.get(person, (255, 255, 255)), width=2)
                y = 8
                for person in people:
                    y = _panel(draw, width + 10, y, person, colours[person], predictions[person],
                               row_of[person].get(number), font, small)
                draw.text((width + 10, out_height - 22), f"frame {number}", fill=(160, 160, 160), font=small)
                out = av.VideoFrame.from_image(canvas)
                out.pts, out.time_base = number - 1, 1 / Fraction(rate)
                for packet in encoded.encode(out):
                    sink.mux(packet)
            for packet in encoded.encode(None):
                sink.mux(packet)
    return path
