"""Videos of a real face at known places, for checking and timing the face detector (tests, benchmarks).

A photograph that ships with scikit-image (the astronaut portrait, ``skimage.data.astronaut()``; scikit-image
is in the ``test`` extra) is moved, scaled and turned through a generated video, alone or beside its mirror
image (two people, left and right, who come within a few pixels of each other mid-video). Its 5 landmarks and
face box were marked by hand on the photograph, independently of any detector, so every frame's true face box
and landmarks are known exactly.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from abaw.faces.align import apply

# Marked by hand on skimage.data.astronaut() (512x512), pixels: pupils, nose tip, mouth corners; the face box
# runs from cheek to cheek and from the hairline to the chin.
ASTRONAUT_LANDMARKS = np.array([[203.8, 101.7], [245.8, 103.7], [224.2, 127.0], [203.3, 140.8], [244.2, 142.2]])
ASTRONAUT_FACE_BOX = np.array([181.0, 75.0, 264.0, 177.0])
PATCH = (140, 20, 310, 230)  # the part of the photograph moved through the video: head, hair, some background

Truth = dict[str, tuple[np.ndarray, np.ndarray]]  # person -> boxes (n, 4), landmarks (n, 5, 2); NaN when absent


def _astronaut() -> Image.Image:
    try:
        from skimage import data
    except ImportError as error:
        raise ImportError("known-face videos need scikit-image (pip install -e '.[test]')") from error
    return Image.fromarray(data.astronaut())


def photo_video(path: str | Path, frames: int, two_people: bool, fps: int = 25, size: tuple[int, int] = (640, 360),
                gap: range | tuple = ()) -> Truth:
    """Write an H.264 video of the moving astronaut (and her mirror image on the right); return the true faces.

    Args:
        path: the ``.mp4`` to write; its stem names the people (``NAME``, or ``NAME_left`` / ``NAME_right``).
        frames: its length.
        two_people: add the mirror image on the right.
        fps: its frame rate.
        size: width, height.
        gap: 0-based frames where the right-hand person is not shown.

    Returns:
        Person name -> (boxes (frames, 4), landmarks (frames, 5, 2)) in video pixels, NaN where not shown.
    """
    path = Path(path)
    photo = _astronaut().crop(PATCH)
    points = ASTRONAUT_LANDMARKS - PATCH[:2]
    x1, y1, x2, y2 = ASTRONAUT_FACE_BOX - np.tile(PATCH[:2], 2)
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
    flip = lambda p: np.array([photo.width, 0]) + np.array([-1, 1]) * p  # noqa: E731
    people = {"left": (photo, points, corners)}
    if two_people:  # in the mirror image the image-left eye is the other eye: the landmark order swaps sides
        people["right"] = (photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT), flip(points[[1, 0, 2, 4, 3]]),
                           flip(corners))
    rng = np.random.default_rng(7)
    background = np.clip(rng.normal(0, 6, (size[1], size[0], 3)) + np.linspace(60, 200, size[0])[None, :, None],
                         0, 255).astype(np.uint8)
    names = {side: f"{path.stem}_{side}" if two_people else path.stem for side in people}
    truth = {names[side]: (np.full((frames, 4), np.nan), np.full((frames, 5, 2), np.nan)) for side in people}
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
    stream.options = {"crf": "18", "preset": "veryfast"}
    for t in range(frames):
        canvas = Image.fromarray(background)
        phase = 2 * np.pi * t / frames
        for k, (side, (image, marks, box_corners)) in enumerate(people.items()):
            if side == "right" and t in gap:
                continue
            base = 0.27 if side == "left" else 0.73
            toward = (1 if side == "left" else -1) * 0.09 * (1 - np.cos(phase)) / 2
            centre = np.array([(base + toward) * size[0], size[1] * (0.48 + 0.05 * np.sin(2 * phase + k))])
            scale = (0.9 if two_people else 1.2) + 0.2 * np.sin(phase + k)
            angle = np.deg2rad(8 * np.sin(1.5 * phase + k))
            linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            forward = np.hstack([linear, (centre - linear @ np.array([image.width / 2, image.height / 2]))[:, None]])
            inverse = tuple(np.linalg.inv(np.vstack([forward, [0, 0, 1]]))[:2].reshape(-1))
            mask = Image.new("L", image.size, 255).transform(size, Image.AFFINE, inverse)
            canvas.paste(image.transform(size, Image.AFFINE, inverse, resample=Image.BILINEAR), (0, 0), mask)
            face = apply(forward, box_corners)
            truth[names[side]][0][t] = [*face.min(0), *face.max(0)]
            truth[names[side]][1][t] = apply(forward, marks)
        frame = av.VideoFrame.from_image(canvas)
        frame.pts, frame.time_base = t, Fraction(1, fps)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    return truth
