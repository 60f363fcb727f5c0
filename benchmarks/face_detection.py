"""Throughput of abaw-faces (frames/s against the video's frame rate) and the recall it holds, per detection interval.

    python benchmarks/face_detection.py [--seconds 10] [--every 1 2 3 5] [--threads 2] [--device auto]

The videos are 640x360 at 25 frames/s from ``abaw.faces.known_faces``: the astronaut photograph moved, scaled
and turned through the frame, alone ("one person") and beside her mirror image ("two people", who come within
a few pixels of each other mid-video; the right one is away for a second). For each detection interval k
(full MTCNN every k-th frame, its last stage tracking the faces in between), the whole of ``extract_faces``
is timed: decoding, detection, tracking, alignment, JPEG writing, the report. Decoding alone is timed too
(the ceiling). Recall is at IoU >= 0.5 against the true boxes, with the landmark error and identity swaps
(``abaw.faces.scoring``). The machine's load average is recorded before and after: on a shared machine the
numbers are only as good as the load lets them be. Writes benchmarks/results/face_detection.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import torch

from abaw.faces import MTCNN, TrackConfig, extract_faces, read_report
from abaw.faces.cli import pick_device
from abaw.faces.extract import read_frames
from abaw.faces.known_faces import photo_video
from abaw.faces.scoring import score_report
from abaw.io import write_json

ROOT = Path(__file__).resolve().parents[1]
FPS, SIZE = 25, (640, 360)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def decode_rate(video: Path) -> float:
    started, frames = time.perf_counter(), 0
    for _, batch in read_frames(video, 16):
        frames += len(batch)
    return frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each video (default: 10)")
    parser.add_argument("--every", type=int, nargs="+", default=[1, 2, 3, 5],
                        help="detection intervals to time (default: 1 2 3 5)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default: 1: on a shared 2-core machine two threads were slower)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_faces", help="scratch folder")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "face_detection.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    frames = round(args.seconds * FPS)
    videos = {"one person": args.work / "solo.mp4", "two people": args.work / "duo.mp4"}
    truths = {"one person": photo_video(videos["one person"], frames, two_people=False, fps=FPS, size=SIZE),
              "two people": photo_video(videos["two people"], frames, two_people=True, fps=FPS, size=SIZE,
                                        gap=range(frames // 2, frames // 2 + FPS))}
    detector = MTCNN().to(device)
    load_before, uptime_before = os.getloadavg(), uptime()
    print(uptime_before)
    results = []
    for label, video in videos.items():
        decode = decode_rate(video)
        for every in args.every:
            out = args.work / f"crops_k{every}"
            started = time.perf_counter()
            extract_faces(video, out, detector, track=TrackConfig(detect_every=every), progress=False)
            seconds = time.perf_counter() - started
            truth = truths[label]
            score = score_report(read_report(out / f"{video.stem}.detections.csv"),
                                 {p: b for p, (b, _) in truth.items()}, {p: m for p, (_, m) in truth.items()})
            row = {"video": label, "detect_every": every, "frames": frames, "seconds": round(seconds, 2),
                   "frames_per_s": round(frames / seconds, 1), "real_time_factor": round(frames / seconds / FPS, 2),
                   "decode_frames_per_s": round(decode, 1), "recall": round(score.recall, 4),
                   "false_faces": score.false_faces, "identity_swaps": score.identity_swaps,
                   "landmark_nme": round(score.landmark_nme, 4), "misalignment_nme": round(score.misalignment_nme, 4)}
            print(row, flush=True)
            results.append(row)
    load_after, uptime_after = os.getloadavg(), uptime()
    print(uptime_after)
    write_json(args.out, {
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                    "device": str(device), "torch_threads": args.threads},
        "video": {"width": SIZE[0], "height": SIZE[1], "fps": FPS, "frames": frames},
        "load_average_before": [round(x, 2) for x in load_before], "uptime_before": uptime_before,
        "load_average_after": [round(x, 2) for x in load_after], "uptime_after": uptime_after,
        "results": results,
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
