"""The three ABAW tasks and their file-format facts, in one place.

Every header, class order and "no label" value that the organisers' files use lives here, so that readers,
writers, metrics and the synthetic generator cannot drift apart. Explained in ``docs/abaw-format.md``.
"""

from __future__ import annotations

TASKS: tuple[str, ...] = ("va", "expr", "au")

VA_COLUMNS: tuple[str, ...] = ("valence", "arousal")
EXPR_CLASSES: tuple[str, ...] = (
    "Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other",
)
AU_NAMES: tuple[str, ...] = (
    "AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24", "AU25", "AU26",
)

# Annotation-file headers, exactly as the organisers write them (one line, comma separated).
ANNOTATION_HEADER: dict[str, str] = {
    "va": ",".join(VA_COLUMNS),
    "expr": ",".join(EXPR_CLASSES),
    "au": ",".join(AU_NAMES),
}
MTL_HEADER = "image,valence,arousal,expression,aus"

# "No label" markers: -5 for valence/arousal, -1 for an expression or an AU.
VA_IGNORE = -5.0
EXPR_IGNORE = -1
AU_IGNORE = -1

# Folder names of each challenge inside the annotations root; the EXPR one was renamed in the 6th edition.
CHALLENGE_FOLDERS: dict[str, tuple[str, ...]] = {
    "va": ("VA_Estimation_Challenge",),
    "expr": ("EXPR_Recognition_Challenge", "EXPR_Classification_Challenge"),
    "au": ("AU_Detection_Challenge",),
}
MTL_FOLDER = "MTL_Challenge"

# Columns of a predictions file (docs/design.md): one row per frame, 1-based frame, probabilities for EXPR and AU.
PREDICTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "va": VA_COLUMNS,
    "expr": EXPR_CLASSES,
    "au": AU_NAMES,
}

# Headers of the 5th-and-later single-file submissions and of the MTL submission.
SUBMISSION_HEADER: dict[str, str] = {
    "va": "image_location," + ANNOTATION_HEADER["va"],
    "expr": "image_location," + ANNOTATION_HEADER["expr"],
    "au": "image_location," + ANNOTATION_HEADER["au"],
    "mtl": MTL_HEADER,
}

FACE_CROP_SIZE = 112  # the organisers' cropped_aligned images are 112x112x3


def frame_image_name(frame: int) -> str:
    """File name of a 1-based frame's face crop: ``00001.jpg``."""
    return f"{frame:05d}.jpg"


def source_video_name(annotation_name: str) -> str:
    """The video file stem behind an annotation name: ``video2_left`` -> ``video2``.

    Two people in one video get ``_left`` / ``_right`` annotation files and crop folders that share the video.
    """
    for suffix in ("_left", "_right"):
        if annotation_name.endswith(suffix):
            return annotation_name[: -len(suffix)]
    return annotation_name
