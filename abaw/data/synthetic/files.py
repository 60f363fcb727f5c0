"""The organisers' text files: per-video annotations, MTL files, test release lists and sample files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abaw.data.synthetic.latent import runs_mask
from abaw.data.synthetic.params import SynthParams
from abaw.data.synthetic.plan import VideoPlan
from abaw.data.synthetic.render import PersonLabels
from abaw.io import write_text
from abaw.tasks import (
    ANNOTATION_HEADER, AU_IGNORE, AU_NAMES, CHALLENGE_FOLDERS, EXPR_IGNORE, MTL_FOLDER, MTL_HEADER, SUBMISSION_HEADER,
    TASKS, VA_IGNORE, frame_image_name,
)

ANNOTATIONS_DIR = "7th ABAW Annotations"
SPLIT_DIRS = {"train": "Train_Set", "val": "Validation_Set"}
MTL_FILES = {"train": "training_set_annotations.txt", "val": "validation_set_annotations.txt"}
TEST_DIR = "test_set"
RELEASE_LISTS = {
    "va": "Valence_Arousal_Estimation_Challenge_test_set_release.txt",
    "expr": "Expression_Recognition_Challenge_test_set_release.txt",
    "au": "Action_Unit_Detection_Challenge_test_set_release.txt",
}
SAMPLE_FILES = {
    "va": "CVPR_5th_ABAW_VA_test_set_sample.txt",
    "expr": "CVPR_5th_ABAW_EXPR_test_set_sample.txt",
    "au": "CVPR_5th_ABAW_AU_test_set_sample.txt",
}
MTL_TEST_LIST = "MTL_Challenge_test_set_release.txt"


def va_field(v: float, a: float, ignored: bool) -> str:
    if ignored:
        return f"{VA_IGNORE:g},{VA_IGNORE:g}"  # "-5,-5", as the organisers write it
    return f"{round(v, 3) + 0.0:.3f},{round(a, 3) + 0.0:.3f}"  # + 0.0 turns -0.0 into 0.0


def expr_field(expr: int, ignored: bool) -> str:
    return str(EXPR_IGNORE if ignored else int(expr))


def au_field(aus: np.ndarray, ignored: bool) -> str:
    return ",".join([str(AU_IGNORE)] * len(AU_NAMES) if ignored else (str(int(x)) for x in aus))


def _write_lines(path: Path, lines: list[str]) -> None:
    write_text(path, "".join(line + "\n" for line in lines))


def write_annotations(out: Path, plan: VideoPlan, labels: list[PersonLabels], seed: int, p: SynthParams) -> None:
    """One file per annotated person and task; about half the files have unlabelled runs (-5 / -1), and every
    file of a video planned with ``unlabelled_runs`` has them, so even a tiny set holds them in each split."""
    for k, person in enumerate(labels):
        n = len(person.valence)
        for t, task in enumerate(plan.tasks):
            rng = np.random.default_rng([seed, 2, plan.index, k, t])
            ignored = np.zeros(n, dtype=bool)
            if plan.unlabelled_runs or rng.random() < p.ignore_file_p:
                ignored = runs_mask(rng, n, rng.uniform(*p.ignore_fraction), p.ignore_run, p.no_face_run_max_share)
            if task == "va":
                rows = [va_field(v, a, i) for v, a, i in zip(person.valence, person.arousal, ignored)]
            elif task == "expr":
                rows = [expr_field(e, i) for e, i in zip(person.expression, ignored)]
            else:
                rows = [au_field(aus, i) for aus, i in zip(person.aus, ignored)]
            folder = out / ANNOTATIONS_DIR / CHALLENGE_FOLDERS[task][0] / SPLIT_DIRS[plan.split]
            _write_lines(folder / f"{person.name}.txt", [ANNOTATION_HEADER[task], *rows])


def mtl_frames(plan: VideoPlan, person: PersonLabels, p: SynthParams) -> list[int]:
    """0-based frames of the static MTL images: one per ``mtl_every_s`` seconds, where a face crop exists."""
    step = max(1, round(p.mtl_every_s * plan.fps))
    return [f for f in range(0, len(person.has_face), step) if person.has_face[f]]


def write_mtl(out: Path, split: str, videos: list[tuple[VideoPlan, list[PersonLabels]]], seed: int,
              p: SynthParams) -> int:
    """The MTL annotation file of a split: sampled frames with all three labels, a few absent, a few duplicates."""
    rng = np.random.default_rng([seed, 3, list(MTL_FILES).index(split)])
    rows = []
    for plan, labels in videos:
        for person in labels:
            for f in mtl_frames(plan, person, p):
                missing = rng.random(len(TASKS)) < p.mtl_ignore_p
                rows.append(",".join([
                    f"{person.name}/{frame_image_name(f + 1)}",
                    va_field(person.valence[f], person.arousal[f], missing[0]),
                    expr_field(person.expression[f], missing[1]),
                    au_field(person.aus[f], missing[2]),
                ]))
    duplicates = min(len(rows), int(rng.integers(p.mtl_duplicates[0], p.mtl_duplicates[1] + 1)))
    for source in rng.choice(len(rows), size=duplicates, replace=False):
        rows.insert(int(rng.integers(0, len(rows) + 1)), rows[source])
    _write_lines(out / ANNOTATIONS_DIR / MTL_FOLDER / MTL_FILES[split], [MTL_HEADER, *rows])
    return len(rows)


def release_order(rng: np.random.Generator, names: list[str]) -> list[str]:
    """The organisers' lists are in no particular order: shuffle, and never leave them sorted."""
    order = [names[i] for i in rng.permutation(len(names))]
    if len(order) > 1 and order == sorted(order):
        order = order[1:] + order[:1]
    return order


def write_test_lists(out: Path, tests: list[tuple[VideoPlan, list[PersonLabels]]], seed: int,
                     p: SynthParams) -> dict[str, list[str]]:
    """Release lists and sample files per challenge, and the MTL test image list. Returns the lists."""
    frames = {person.name: (plan, person) for plan, labels in tests for person in labels}
    lists = {}
    for c, task in enumerate(TASKS):
        names = [person for plan, labels in tests if task in plan.test_lists for person in plan.persons]
        lists[task] = release_order(np.random.default_rng([seed, 4, c]), names)
        _write_lines(out / TEST_DIR / RELEASE_LISTS[task], lists[task])
        rows = [f"{name}/{frame_image_name(f)}," for name in lists[task]
                for f in range(1, frames[name][0].n_frames + 1)]
        _write_lines(out / TEST_DIR / SAMPLE_FILES[task], [SUBMISSION_HEADER[task], *rows])
    lists["mtl"] = release_order(np.random.default_rng([seed, 4, len(TASKS)]), list(frames))
    rows = [f"{name}/{frame_image_name(f + 1)}," for name in lists["mtl"] for f in mtl_frames(*frames[name], p)]
    _write_lines(out / TEST_DIR / MTL_TEST_LIST, rows)
    return lists
