"""``abaw-synth``: plan the videos, render them (in parallel), write the organisers' files and a manifest."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import multiprocessing
import os
import shutil
import sys
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from abaw.data.synthetic.files import write_annotations, write_mtl, write_test_lists
from abaw.data.synthetic.media import CODECS
from abaw.data.synthetic.params import SynthParams
from abaw.data.synthetic.plan import VideoPlan, plan_videos
from abaw.data.synthetic.render import PersonLabels, render_video
from abaw.errors import command
from abaw.io import atomic_path, write_text
from abaw.progress import progress_bar

MANIFEST = "synthetic.json"
LATENT_TRUTH = "latent_truth.npz"
FACE_GEOMETRY = "face_geometry.npz"  # per person: <name>.box (n, 4) and <name>.landmarks (n, 5, 2), video pixels
# The default set: many people (what a model must learn to ignore is identity; the real training set has
# hundreds) and videos long enough, at 5 latent correlation times, that a slow drift of light or pose within a
# video cannot pass for the slow labels (at 10 s it did: docs/synthetic.md). 72 x 25 s gives 44 training
# identities and about 48,000 frames, written in about 2 minutes on 2 cores.
DEFAULT_VIDEOS, DEFAULT_SECONDS = 72, 25.0
# Present while abaw-synth writes a folder, removed once the manifest is written last: a folder that holds it
# is an interrupted run's, which --overwrite may replace, and no complete set.
INCOMPLETE = ".abaw-synth-incomplete"


def _prepare(out: Path, overwrite: bool) -> None:
    """Creates ``out``; a non-empty one is replaced only with ``overwrite`` and only if abaw-synth made it."""
    if out.exists() and any(out.iterdir()):
        interrupted = (out / INCOMPLETE).is_file()
        if not overwrite:
            what = "holds an interrupted abaw-synth run" if interrupted else "is not empty"
            raise FileExistsError(f"{out} {what}; pass --overwrite to replace it")
        if not (out / MANIFEST).is_file() and not interrupted:
            raise FileExistsError(f"{out} is not empty and holds no {MANIFEST}: it was not made by abaw-synth, "
                                  "so it is not deleted even with --overwrite")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / INCOMPLETE).touch()


def _finish(out: Path, readme: str, manifest: dict) -> Path:
    """Writes a generated folder's README and manifest, then marks it complete (the counterpart of
    :func:`_prepare`: a folder still marked incomplete is an interrupted run)."""
    write_text(out / "README.md", readme)
    write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    (out / INCOMPLETE).unlink()
    return out


def _render_all(out: Path, plans: list[VideoPlan], seed: int, p: SynthParams, workers: int, progress: bool
                ) -> dict[int, list[PersonLabels]]:
    """Renders every video; with several workers, the longest first. The files do not depend on ``workers``."""
    bar = progress_bar(total=len(plans), desc="abaw-synth", unit="video", enabled=progress)
    results: dict[int, list[PersonLabels]] = {}
    if workers <= 1:
        for plan in plans:
            results[plan.index] = render_video(out, plan, seed, p)
            bar.update()
    else:
        order = sorted(plans, key=lambda v: -v.n_frames * len(v.persons))
        # spawn: a forked child of a process that already runs threads (torch, BLAS) can deadlock.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(render_video, out, plan, seed, p): plan.index for plan in order}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
    bar.close()
    return results


def _video_entry(plan: VideoPlan, labels: list[PersonLabels]) -> dict:
    video_codec, audio_codec = CODECS[Path(plan.file).suffix]
    return {
        "name": plan.name, "file": plan.file, "split": plan.split, "tasks": list(plan.tasks),
        "test_lists": list(plan.test_lists), "fps": plan.fps, "size": list(plan.size), "n_frames": plan.n_frames,
        "sample_rate": plan.sample_rate, "audio_channels": plan.channels,
        "codecs": [video_codec, audio_codec], "persons": list(plan.persons),
        "frames_without_face": {person.name: int((~person.has_face).sum()) for person in labels},
    }


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` (read by ``np.load``) whose bytes depend only on the arrays: fixed entry times, given order."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue(),
                             compress_type=zipfile.ZIP_DEFLATED)


def generate(out: str | os.PathLike, seed: int = 0, videos: int = DEFAULT_VIDEOS, seconds: float = DEFAULT_SECONDS,
             *, overwrite: bool = False, workers: int | None = None, progress: bool = True,
             params: SynthParams | None = None) -> Path:
    """Writes a synthetic Aff-Wild2 in the organisers' on-disk layout under ``out``.

    Args:
        out: output folder; must be empty or absent (see ``overwrite``).
        seed: the same seed and arguments give byte-identical files.
        videos: number of video files (at least 6: 2 validation, 2 test, 2 train).
        seconds: mean video length; each video's length varies by +-25%.
        overwrite: replace a non-empty ``out`` that an earlier run of abaw-synth wrote.
        workers: rendering processes (default: up to 2 CPU cores); the output does not depend on it.
        progress: show a progress bar over videos.
        params: generator parameters (default ``SynthParams()``).

    Returns:
        The output folder.
    """
    out = Path(out)
    p = params or SynthParams()
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    plans = plan_videos(np.random.default_rng([seed, 0]), videos, seconds, p)
    _prepare(out, overwrite)
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    results = _render_all(out, plans, seed, p, workers, progress)

    for plan in plans:
        if plan.split != "test":
            write_annotations(out, plan, results[plan.index], seed, p)
    by_split = {s: [(v, results[v.index]) for v in plans if v.split == s] for s in ("train", "val", "test")}
    mtl_rows = {s: write_mtl(out, s, by_split[s], seed, p) for s in ("train", "val")}
    test_lists = write_test_lists(out, by_split["test"], seed, p)

    manifest = {
        "generator": "abaw.data.synthetic",
        "seed": seed,
        "arguments": {"videos": videos, "seconds": seconds},
        "parameters": dataclasses.asdict(p),
        "mtl_rows": mtl_rows,
        "test_lists": test_lists,
        "videos": [_video_entry(v, results[v.index]) for v in plans],
    }
    # The latent valence / arousal of every annotated person at every frame, for the probes' oracle row
    # (benchmarks/probes.py): what the rater noise and lag leave to any model. Not part of the organisers' layout.
    _write_npz(out / LATENT_TRUTH,
               {person.name: person.latent_va for plan in plans for person in results[plan.index]})
    # Where each face is drawn in its video (NaN while turned away), for checking abaw-faces against the truth.
    _write_npz(out / FACE_GEOMETRY, {f"{person.name}.{part}": getattr(person, f"face_{part}")
                                     for plan in plans for person in results[plan.index]
                                     for part in ("box", "landmarks")})
    return _finish(out, "Synthetic Aff-Wild2 in the ABAW organisers' on-disk layout (not real data; see "
                        "docs/synthetic.md).\n"
                        f"Made with: abaw-synth {out.name} --seed {seed} --videos {videos} --seconds {seconds:g}\n",
                   manifest)


def describe(out: str | os.PathLike) -> str:
    """A one-paragraph summary of a generated folder, from its manifest."""
    m = json.loads((Path(out) / MANIFEST).read_text(encoding="utf-8"))
    vids = m["videos"]
    parts = []
    for split, label in (("train", "train"), ("val", "validation")):
        rows = [v for v in vids if v["split"] == split]
        per_task = ", ".join(f"{t.upper()} {sum(t in v['tasks'] for v in rows)}" for t in ("va", "expr", "au"))
        parts.append(f"{label} {len(rows)} ({per_task}; MTL {m['mtl_rows'][split]} images)")
    tests = [v for v in vids if v["split"] == "test"]
    lists = ", ".join(f"{t.upper()} {len(m['test_lists'][t])}" for t in ("va", "expr", "au"))
    parts.append(f"test {len(tests)} (lists: {lists}; MTL {len(m['test_lists']['mtl'])} videos)")
    frames = sum(v["n_frames"] for v in vids)
    faces = sum(v["n_frames"] * len(v["persons"]) for v in vids)
    missing = sum(sum(v["frames_without_face"].values()) for v in vids)
    fps = "/".join(str(f) for f in sorted({v["fps"] for v in vids}))
    return (f"{len(vids)} videos ({sum(v['file'].startswith('batch1/') for v in vids)} in batch1, "
            f"{sum(v['file'].startswith('batch2/') for v in vids)} in batch2, "
            f"{sum(v['file'].endswith('.avi') for v in vids)} .avi, "
            f"{sum(len(v['persons']) > 1 for v in vids)} with two people): " + "; ".join(parts) + ". "
            f"{frames} video frames at {fps} fps; {faces - missing} face crops for {faces} annotated-person frames "
            f"({100 * missing / max(faces, 1):.1f}% without a face).")


@command("abaw-synth")
def main(argv: list[str] | None = None) -> int:
    from abaw.data.synthetic import biovid, recola  # build on this module, so imported here rather than at the top

    parser = argparse.ArgumentParser(
        prog="abaw-synth",
        description="Write a synthetic Aff-Wild2 (videos, face crops, annotations, test lists) in the ABAW "
                    "organisers' on-disk layout, or with --dataset recola a synthetic RECOLA (video, audio, ECG "
                    "and EDA, ratings, face crops) in the AVEC 2016 layout, or with --dataset biovid a synthetic "
                    "BioVid Heat Pain Part A (videos, biosignals, samples.csv, face crops). Deterministic for a seed.")
    parser.add_argument("out", type=Path, help="output folder (must be empty or absent, see --overwrite)")
    parser.add_argument("--dataset", choices=("affwild2", "recola", "biovid"), default="affwild2",
                        help="which dataset's layout to write (default: affwild2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--videos", type=int, default=None,
                        help=f"number of video files, at least 6 (default: {DEFAULT_VIDEOS}); for recola, "
                             f"recordings per split, at least 2 (default: {recola.DEFAULT_RECORDINGS})")
    parser.add_argument("--seconds", type=float, default=None,
                        help=f"mean video length in seconds; each video's varies by +-25%% "
                             f"(default: {DEFAULT_SECONDS}); for recola +-10%% (default: {recola.DEFAULT_SECONDS})")
    parser.add_argument("--subjects", type=int, default=biovid.DEFAULT_SUBJECTS,
                        help=f"biovid: number of subjects, at least 2 (default: {biovid.DEFAULT_SUBJECTS})")
    parser.add_argument("--per-class", type=int, default=biovid.DEFAULT_PER_CLASS,
                        help=f"biovid: samples per class and subject (default: {biovid.DEFAULT_PER_CLASS})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUT if it is not empty, only if an earlier (or interrupted) abaw-synth wrote "
                             "it (default: off)")
    parser.add_argument("--workers", type=int, default=None,
                        help="rendering processes; the files do not depend on it (default: up to 2)")
    args = parser.parse_args(argv)
    try:
        if args.dataset == "biovid":
            out = biovid.generate_biovid(args.out, args.seed, args.subjects, args.per_class,
                                         overwrite=args.overwrite, workers=args.workers)
        elif args.dataset == "recola":
            out = recola.generate_recola(args.out, args.seed, args.videos or recola.DEFAULT_RECORDINGS,
                                         args.seconds or recola.DEFAULT_SECONDS, overwrite=args.overwrite,
                                         workers=args.workers)
        else:
            out = generate(args.out, args.seed, args.videos or DEFAULT_VIDEOS, args.seconds or DEFAULT_SECONDS,
                           overwrite=args.overwrite, workers=args.workers)
    except (FileExistsError, ValueError) as err:
        print(f"abaw-synth: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out.resolve()}")
    summaries = {"recola": recola.describe_recola, "biovid": biovid.describe_biovid}
    print(summaries.get(args.dataset, describe)(out))
    return 0
