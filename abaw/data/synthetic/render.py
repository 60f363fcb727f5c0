"""Rendering one video: its people's latents, face crops, frames and soundtrack, written to disk."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from abaw.data.synthetic.face import FaceRenderer, FaceState, random_identity
from abaw.data.synthetic.geometry import face_in_frame, face_points, to_crop, to_frame
from abaw.data.synthetic.latent import affect, control_length, frame_indices, lighting, nuisance, rated, runs_mask
from abaw.data.synthetic.media import AVWriter
from abaw.data.synthetic.params import SynthParams
from abaw.data.synthetic.plan import VideoPlan
from abaw.data.synthetic.scene import Scene, face_sprite
from abaw.data.synthetic.voice import soundtrack
from abaw.tasks import frame_image_name

BATCH = 32  # frames rendered at once: big enough to amortise numpy's per-call cost, small enough for the cache


@dataclass
class PersonLabels:
    """One annotated person's latent truth at every frame of the video (index 0 = frame 1)."""

    name: str
    valence: np.ndarray  # (n,) the raters' gold standard, as annotated
    arousal: np.ndarray  # (n,)
    expression: np.ndarray  # (n,) 0..7
    aus: np.ndarray  # (n, 12) 0/1
    has_face: np.ndarray  # (n,) bool: a crop exists
    latent_va: np.ndarray  # (n, 2) the latent valence and arousal the face and voice show; the labels above are
    # the raters' gold standard of it
    face_box: np.ndarray  # (n, 4) x1, y1, x2, y2 of the drawn face in the video frame, NaN while turned away
    face_landmarks: np.ndarray  # (n, 5, 2) its eyes, nose and mouth corners there (abaw.data.synthetic.geometry)


def render_video(out: str | Path, plan: VideoPlan, seed: int, p: SynthParams) -> list[PersonLabels]:
    """Writes ``plan``'s video file and face crops under ``out``; returns each person's per-frame truth.

    Everything random comes from one generator seeded by (seed, video index): the result does not depend on
    which process renders the video or in which order.
    """
    out = Path(out)
    rng = np.random.default_rng([seed, 1, plan.index])
    n, fps, hz = plan.n_frames, plan.fps, p.control_hz
    n_ctrl = control_length(n, fps, hz)
    at = frame_indices(n, fps, hz)

    identities = [random_identity(rng) for _ in plan.persons]
    affects = [affect(rng, n_ctrl, p) for _ in plan.persons]
    nuisances = [nuisance(rng, aff.arousal, p) for aff in affects]
    light = lighting(rng, n_ctrl, p)
    has_face = [~runs_mask(rng, n, rng.uniform(*p.no_face_fraction), p.no_face_run, p.no_face_run_max_share)
                for _ in plan.persons]
    if plan.faceless_start:
        for mask in has_face:
            mask[: int(rng.integers(p.first_frames_without_face[0], p.first_frames_without_face[1] + 1))] = False
    noise_std = rng.uniform(*p.pixel_noise_std)
    quality = int(rng.integers(p.jpeg_quality[0], p.jpeg_quality[1] + 1))

    n_samples = round(n / fps * plan.sample_rate)
    f0s = [rng.uniform(*p.f0_base_hz[rng.integers(len(p.f0_base_hz))]) for _ in plan.persons]
    audio = soundtrack(rng, [a.arousal for a in affects], f0s, plan.sample_rate, n_samples, plan.channels, p)

    scene = Scene(rng, *plan.size, identities)
    renderer = FaceRenderer(p)
    crop_dirs = [out / "cropped_aligned" / person for person in plan.persons]
    for d in crop_dirs:
        d.mkdir(parents=True, exist_ok=True)
    (out / plan.file).parent.mkdir(parents=True, exist_ok=True)
    writer = AVWriter(out / plan.file, fps, plan.size, audio, plan.sample_rate, p)
    # Where each face is drawn, for checking face detectors: computed beside the drawing, never changing it.
    boxes = [np.full((n, 4), np.nan, np.float32) for _ in plan.persons]
    landmarks = [np.full((n, 5, 2), np.nan, np.float32) for _ in plan.persons]
    hold = p.hold_frames
    for start in range(0, n, BATCH * hold):
        frames = np.arange(start, min(n, start + BATCH * hold))
        # Each frame shows the picture of the first frame of its run of `hold` (itself when hold is 1).
        pictures, shown = np.unique(frames - frames % hold, return_inverse=True)
        idx = at[pictures]
        sprites = []  # per person, the face sprite of each picture
        for who, (ident, aff, nui, faces, crop_dir) in enumerate(zip(identities, affects, nuisances, has_face,
                                                                   crop_dirs)):
            state = FaceState(aff.valence[idx], aff.arousal[idx], aff.aus[idx], nui.blink[idx], nui.gaze[idx],
                              nui.crop_jitter[idx], light[idx])
            rgb, coverage = renderer.render(ident, state, rng, noise_std)
            written: dict[int, Path] = {}  # picture -> its JPEG, which the run's later crops link to
            for j, frame in enumerate(frames):
                if faces[frame]:
                    path = crop_dir / frame_image_name(frame + 1)
                    if shown[j] in written:
                        os.link(written[shown[j]], path)
                    else:
                        Image.fromarray(rgb[shown[j]]).save(path, "JPEG", quality=quality)
                        written[shown[j]] = path
            sprites.append([face_sprite(rgb[k], coverage[k]) for k in range(len(pictures))])
            in_crop = to_crop(face_points(ident, aff.valence[idx], aff.aus[idx], p), nui.crop_jitter[idx])
            box, marks = face_in_frame(to_frame(in_crop[shown], scene.anchors[who], scene.face_px, plan.size[0],
                                                nui.head[idx[shown]]))
            seen = faces[frames]
            boxes[who][frames[seen]], landmarks[who][frames[seen]] = box[seen], marks[seen]
        last, image = None, None
        for j, frame in enumerate(frames):
            visible = tuple(bool(faces[frame]) for faces in has_face)
            if (shown[j], visible) != last:  # a held picture is composed once
                k = idx[shown[j]]
                heads = [(person_sprites[shown[j]] if seen else None, nui.head[k])
                         for person_sprites, seen, nui in zip(sprites, visible, nuisances)]
                last, image = (shown[j], visible), scene.frame(float(light[k, 0]), heads)
            writer.add(image)
    writer.close()

    labels = []
    raters = np.random.default_rng([seed, 5, plan.index])  # its own stream: labels do not depend on rendering
    for person, aff, faces, box, marks in zip(plan.persons, affects, has_face, boxes, landmarks):
        gold_valence, gold_arousal = rated(raters, aff.valence, p), rated(raters, aff.arousal, p)
        labels.append(PersonLabels(person, gold_valence[at], gold_arousal[at], aff.expression[at], aff.aus[at], faces,
                                   np.column_stack([aff.valence[at], aff.arousal[at]]).astype(np.float32), box, marks))
    return labels
