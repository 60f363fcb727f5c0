"""``abaw-predict RUN --video FILE [--out DIR] [--render]``: a trained run's predictions for any video file.

The video is made into a small data root of its own, so that it goes through exactly the path a test video
of Aff-Wild2 goes through (windows, retention of the last face, the file's own audio for a teacher):

    DIR/cropped_aligned/       the faces, by abaw-faces (resumable; its <video>.detections.csv beside them)
    DIR/source/                a link to the video and, for each task, a test sample file listing every frame of
                               each of its people (the frame count read from the file by demuxing it)
    DIR/<person>.csv           one row per frame of the video, in the predictions format (``<video>``, or
                               ``<video>_left`` / ``<video>_right`` for two people)
    DIR/<video>.png            valence and arousal over time, the expression and the active action units
    DIR/<video>.mp4            with --render: the video with the predictions drawn beside the face

Frames where no face was found are predicted from the last face seen, as for the challenge's test videos.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from abaw.data.video import count_frames, probe
from abaw.errors import AbawError
from abaw.faces.cli import pick_device
from abaw.faces.detector import MTCNN
from abaw.faces.extract import extract_faces, report_path
from abaw.faces.render import plot_predictions, read_person_predictions, render_video
from abaw.faces.track import TrackConfig
from abaw.io import write_text
from abaw.tasks import frame_image_name

SOURCE = "source"
CROPS = "cropped_aligned"
TASK_LISTS = {"va": "va_test_set_sample.txt", "expr": "expr_test_set_sample.txt", "au": "au_test_set_sample.txt"}


def default_out(video: Path) -> Path:
    return video.with_name(f"{video.stem}_predictions")


def predict_video(run_dir: Path, video: Path, out: Path | None, *, render: bool = False, checkpoint: str = "best",
                  batch_size: int = 64, detect_every: int = TrackConfig.detect_every, device: str = "auto"
                  ) -> list[Path]:
    """Faces, predictions, plot (and rendering) of one video file; returns the files written.

    Args:
        run_dir: a run folder written by a recipe (its config.yaml and weights).
        video: the video file.
        out: the folder to write (default: ``<video stem>_predictions`` beside the video).
        render: also write the video with the predictions drawn beside the face.
        checkpoint: "best" or "last" weights.
        batch_size: frames per forward pass of the model.
        detect_every: abaw-faces' detection interval.
        device: where the face detector runs.
    """
    from abaw.predict import main as predict_main  # abaw.predict dispatches --video here

    video, run_dir = Path(video), Path(run_dir)
    if not video.is_file():
        raise AbawError(f"{video}: no such video file")
    out = Path(out) if out is not None else default_out(video)
    name = video.stem
    detector = MTCNN().to(pick_device(device))
    print(extract_faces(video, out / CROPS, detector, name=name, track=TrackConfig(detect_every=detect_every)).line())
    people = _people(out / CROPS, name)
    if not people:
        raise AbawError(f"{video}: no face was found in any frame, so there is nothing to predict from "
                        f"(see {report_path(out / CROPS, name)})")
    source = out / SOURCE
    source.mkdir(parents=True, exist_ok=True)
    link = source / video.name
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(video.resolve(), link)
    frames = count_frames(video)
    rows = "".join(f"{person}/{frame_image_name(frame)},\n" for person in people for frame in range(1, frames + 1))
    for filename in TASK_LISTS.values():
        write_text(source / filename, "image_location\n" + rows)
    status = predict_main([str(run_dir), "--data-root", str(out), "--split", "test", "--out", str(out),
                           "--checkpoint", checkpoint, "--batch-size", str(batch_size), "--num-workers", "0"])
    if status != 0:
        raise AbawError(f"abaw-predict could not predict {video} (its message is above)")
    predictions = {person: read_person_predictions(out / f"{person}.csv") for person in people}
    fps = probe(video).fps
    written = [out / f"{person}.csv" for person in people]
    written.append(plot_predictions(predictions, fps, out / f"{name}.png", title=f"{name} ({run_dir.name})"))
    if render:
        written.append(render_video(video, predictions, report_path(out / CROPS, name), out / f"{name}.mp4"))
    return written


def _people(crops: Path, name: str) -> list[str]:
    candidates = [name, f"{name}_left", f"{name}_right"]
    return [p for p in candidates if (crops / p).is_dir()] + sorted(
        p.name for p in crops.glob(f"{name}_[0-9]*") if p.is_dir())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """abaw-predict's options for a single video file."""
    parser.add_argument("--video", type=Path, default=None,
                        help="predict this video file instead of a data root's split: its faces are found and "
                             "aligned by abaw-faces, every frame gets a row, and a PNG plot is drawn; --data-root "
                             "and --split are then not needed (default: off, a data root's split is predicted)")
    parser.add_argument("--render", action="store_true",
                        help="with --video: also write <video>.mp4, the video with the predictions drawn beside "
                             "the face (default: off)")


def run_from_args(args: argparse.Namespace) -> int:
    written = predict_video(args.run_dir, args.video, args.out, render=args.render, checkpoint=args.checkpoint,
                            batch_size=args.batch_size)
    for path in written:
        print(f"wrote {path}")
    return 0
