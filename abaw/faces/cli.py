"""``abaw-faces``: aligned face crops, in the organisers' ``cropped_aligned`` layout, for any videos.

    abaw-faces VIDEO_OR_FOLDER ... --out ROOT/cropped_aligned [--detect-every K] [--size 112] [--margin 0]

A folder stands for every video file under it (``.mp4``, ``.avi`` ...; the ``--out`` folder itself is not
searched), so ``abaw-faces ROOT --out ROOT/cropped_aligned`` prepares a data root that has videos and no crops.
Videos already done (their ``.detections.csv`` exists) are skipped, so an interrupted run is resumed by running
the same command again. A video that cannot be read is named and skipped, and the command exits with status 1
once the others are done. What is written: :mod:`abaw.faces.extract`; the detector and its numbers: docs/faces.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from abaw.data.layout import VIDEO_EXTENSIONS
from abaw.errors import AbawError, command
from abaw.faces.detector import MTCNN, DetectorConfig
from abaw.faces.extract import CropConfig, extract_faces
from abaw.faces.track import TrackConfig
from abaw.progress import progress_bar


def find_videos(inputs: list[Path], out: Path) -> dict[str, Path]:
    """Name -> file of every video given or found under a given folder; two files of one name are an error."""
    videos: dict[str, Path] = {}
    out = out.resolve()
    for item in inputs:
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
                           and out not in p.resolve().parents)
            if not files:
                raise AbawError(f"{item}: no video file ({', '.join(sorted(VIDEO_EXTENSIONS))}) in this folder")
        elif item.is_file():
            files = [item]
        else:
            raise AbawError(f"{item}: no such file or folder")
        for file in files:
            if file.stem in videos and videos[file.stem].resolve() != file.resolve():
                raise AbawError(f"two videos would write the crops of {file.stem}: {videos[file.stem]} and {file}")
            videos[file.stem] = file
    return videos


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AbawError(f"--device {name}: no CUDA device is available")
    return torch.device(name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abaw-faces",
        description="Detect, track and align the faces of videos into 1-based 112x112 crops in the organisers' "
                    "cropped_aligned layout, with a <video>.detections.csv report per video. Resumable.")
    parser.add_argument("inputs", type=Path, nargs="+", help="video files, or folders searched for video files")
    parser.add_argument("--out", type=Path, required=True, help="the crops' root, e.g. ROOT/cropped_aligned (required)")
    parser.add_argument("--detect-every", type=int, default=TrackConfig.detect_every,
                        help="run the full detector on every K-th frame, and on every frame where someone may be "
                             "missing, and track the faces in between; 1 detects on every frame "
                             f"(default: {TrackConfig.detect_every})")
    parser.add_argument("--min-face", type=int, default=DetectorConfig.min_face,
                        help=f"smallest face to find, in pixels of the video (default: {DetectorConfig.min_face})")
    parser.add_argument("--size", type=int, default=CropConfig.size,
                        help=f"side of the aligned crops, pixels (default: {CropConfig.size})")
    parser.add_argument("--margin", type=float, default=CropConfig.margin,
                        help="extra context around the face on each side, as a share of the canonical face "
                             f"(default: {CropConfig.margin})")
    parser.add_argument("--batch-size", type=int, default=16, help="frames detected at once (default: 16)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto: a GPU when there is one "
                                                         "(default: auto)")
    return parser


@command("abaw-faces")
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for flag, value, least in (("--detect-every", args.detect_every, 1), ("--min-face", args.min_face, 12),
                               ("--size", args.size, 16), ("--batch-size", args.batch_size, 1)):
        if value < least:
            build_parser().error(f"{flag} must be {least} or more, found {value}")
    if args.margin < 0:
        build_parser().error(f"--margin must be 0 or more, found {args.margin}")
    videos = find_videos(args.inputs, args.out)
    detector = MTCNN(DetectorConfig(min_face=args.min_face)).to(pick_device(args.device))
    track = TrackConfig(detect_every=args.detect_every)
    crop = CropConfig(size=args.size, margin=args.margin)
    bar = progress_bar(list(videos.items()), desc="abaw-faces", unit="video")
    failed = []
    for name, path in bar:
        try:
            summary = extract_faces(path, args.out, detector, name=name, track=track, crop=crop,
                                    batch_size=args.batch_size)
        except AbawError as error:  # one unreadable file does not stop the others; the command fails at the end
            bar.write(f"abaw-faces: {error}", file=sys.stderr)
            failed.append(name)
            continue
        bar.write(summary.line())
    done = len(videos) - len(failed)
    print(f"wrote the face crops of {done} video(s) to {args.out}")
    if failed:
        raise AbawError(f"{len(failed)} of {len(videos)} videos failed (their errors are above): {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
