"""Tasks as data: what a task is, in one registry that the model, the losses, the training loop, the scoring,
``abaw-eval``, the plots and the distillation iterate over.

A :class:`Task` declares its label columns (as the manifest and the annotation files name them), its "no
label" value, its granularity, its head (output width and activation), its supervised and distillation
losses, its metric and headline score. The three ABAW tasks are registered below; adding a task is one
:func:`register_task` call with its loss and metric functions (and their tests): nothing that trains, scores
or distils branches on a task's name.

Batches carry a task's labels under its name and which of them are present under ``<name>_mask``
(:meth:`Task.labelled`); the model outputs the head under its name; a predictions file holds
``output_columns``. The file-format facts of Aff-Wild2 (headers, class order, "no label" markers) stay in
:mod:`abaw.tasks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from abaw import losses, metrics
from abaw.tasks import AU_IGNORE, AU_NAMES, EXPR_CLASSES, EXPR_IGNORE, VA_COLUMNS, VA_IGNORE

FRAME, SAMPLE = "frame", "sample"
GRANULARITIES = (FRAME, SAMPLE)

# What a head's raw output becomes in the model (activation) and in a predictions file (output).
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "none": lambda x: x,
    # tanh in float32: a half-precision tanh rounds moderate inputs to exactly +-1.
    "tanh": lambda x: torch.tanh(x.float()),
}
OUTPUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "value": lambda x: x.float(),
    "softmax": lambda x: F.softmax(x.float(), dim=1),
    "sigmoid": lambda x: torch.sigmoid(x.float()),
}

SupervisedLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]   # (pred, target, mask)
DistillationLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]  # (s, t, rows, T)
Metric = Callable[..., dict[str, Any]]                                                   # (pred, target, **options)
FrameError = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]      # (B, M, ...) -> (B, M)


@dataclass(frozen=True)
class Task:
    """One task: its labels, head, losses and metric.

    Attributes:
        name: the key of its labels in a batch, of its head's output, of its scores (``va``).
        title: how messages and tables name it (``VA``).
        label_columns: the manifest's (and annotation files') columns of its labels, in order: one column
            holding a class index for a head of several classes (:attr:`class_label`), or one per output
            column (a value, or a 0/1, per dimension).
        no_label: the value those columns hold where a row has no label.
        label_values: for a class label, the values of its column that are the task's classes, in class order;
            any other value is "no label" for this task. None: the column holds the class index itself. Two
            tasks can so read one column (BioVid's ``pain`` 0..4: 5-class, and BL1 vs PA4 from 0 and 4).
        label_dtype: numpy dtype of the labels (``float32`` for values, ``int64`` for classes and 0/1).
        output_columns: the columns of its predictions in a predictions file; the head's width is their number.
        granularity: ``"frame"`` (a label per frame of a video: each frame is a clip, its past window) or
            ``"sample"`` (one label for a whole video, e.g. a pain level over a 5.5 s window: each video is one
            clip, whose windows span the video, ``abaw.data.clips.ClipSpec.span``; it is predicted and scored
            once per video). Every row of the video carries the label either way.
        head_activation: what the model applies to the head (``ACTIVATIONS``): ``tanh`` keeps VA in (-1, 1).
        output: what a predictions file holds of the head's output (``OUTPUTS``): the value itself, softmax
            probabilities (rows sum to 1) or sigmoid probabilities.
        value_range: the interval a predictions-file value must lie in.
        supervised_losses: name -> loss(pred, target, mask) over the labelled entries; the first is the default.
        distillation_loss: loss(student, teacher, rows, temperature) over the (B,) ``rows`` chosen.
        metric: metric(pred, target, **options) -> dict, over every row given, "no label" rows left out.
        headline: the key of the metric's result that is the task's score.
        logged: ``metrics.csv`` column (without ``val_``) -> key of the metric's result, for each epoch's row.
        every_column_scored: the metric needs labels in every label column (VA: valence and arousal each).
        per_video_headline: the key of the per-video score, when the metric takes ``videos`` (the AVEC
            convention: the mean over videos of each video's score); None: pooled only.
        frame_error: error(pred (B, M, ...), target, mask) -> (B, M) of the members of a teacher pool against
            each frame's labels (0 where unlabelled), to judge which member is most confident.
        entropy: uncertainty of a prediction (B, M, K) -> (B, M) in [0, 1], from its logits; None: a point
            estimate without one.
        search_thresholds: options of the metric fitted on a split (AU decision thresholds), as
            ``search_thresholds(pred, target) -> {option: value}``; None: nothing to fit.
        describe: the lines of ``abaw-eval``'s table for the task's metric result; None: one line, the headline.
    """

    name: str
    title: str
    label_columns: tuple[str, ...]
    no_label: float
    label_dtype: str
    output_columns: tuple[str, ...]
    supervised_losses: Mapping[str, SupervisedLoss]
    distillation_loss: DistillationLoss
    metric: Metric
    headline: str
    logged: Mapping[str, str]
    granularity: str = FRAME
    label_values: tuple[int, ...] | None = None
    head_activation: str = "none"
    output: str = "value"
    value_range: tuple[float, float] = (-np.inf, np.inf)
    every_column_scored: bool = False
    per_video_headline: str | None = None
    frame_error: FrameError | None = None
    entropy: Callable[[torch.Tensor], torch.Tensor] | None = None
    search_thresholds: Callable[[np.ndarray, np.ndarray], dict[str, Any]] | None = None
    describe: Callable[[dict], list[str]] | None = None

    def __post_init__(self):
        problems = []
        if self.granularity not in GRANULARITIES:
            problems.append(f"granularity {self.granularity!r} not in {GRANULARITIES}")
        if self.head_activation not in ACTIVATIONS:
            problems.append(f"head_activation {self.head_activation!r} not in {tuple(ACTIVATIONS)}")
        if self.output not in OUTPUTS:
            problems.append(f"output {self.output!r} not in {tuple(OUTPUTS)}")
        if not (self.label_columns and self.output_columns and self.supervised_losses):
            problems.append("label columns, output columns and a supervised loss are needed")
        if self.label_values is not None and len(self.label_values) != len(self.output_columns):
            problems.append(f"{len(self.label_values)} label_values for {len(self.output_columns)} classes")
        if problems:
            raise ValueError(f"task {self.name!r}: {'; '.join(problems)}")

    @property
    def width(self) -> int:
        """The head's output width."""
        return len(self.output_columns)

    @property
    def default_loss(self) -> str:
        return next(iter(self.supervised_losses))

    @property
    def class_label(self) -> bool:
        """Whether a row's label is one class index for a head of several classes (EXPR), rather than one
        value per output column (VA, AU, a regression)."""
        return len(self.label_columns) == 1 and self.width > 1

    def targets(self, frames: pd.DataFrame) -> np.ndarray:
        """The labels of every row of a manifest's frames: (N,) class indices for a class label, else (N, K),
        one per label column."""
        missing = [c for c in self.label_columns if c not in frames.columns]
        if missing:
            raise KeyError(f"the manifest has no {self.title} label columns {missing}")
        values = frames[list(self.label_columns)].to_numpy(self.label_dtype)
        if self.label_values is not None:
            values = self.classes_of(values)
        return values[:, 0] if self.class_label else values

    def classes_of(self, values: np.ndarray) -> np.ndarray:
        """A column's values as this task's class indices (:attr:`label_values`), others as :attr:`no_label`."""
        lookup = {value: index for index, value in enumerate(self.label_values)}
        return np.vectorize(lambda v: lookup.get(int(v), self.no_label), otypes=[values.dtype])(values) \
            if values.size else values

    def labelled(self, targets: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Which labels are present: the targets' shape, bool."""
        return targets != self.no_label

    def scorable(self, targets: np.ndarray) -> bool:
        """Whether the metric can score these targets: some label (in every column, if it needs that)."""
        if len(targets) == 0:
            return False
        present = np.asarray(self.labelled(targets)).reshape(len(targets), -1).any(axis=0)
        return bool(present.all() if self.every_column_scored else present.any())

    def table_lines(self, result: Mapping[str, Any]) -> list[str]:
        """The task's lines in ``abaw-eval``'s table."""
        if self.describe is not None:
            return self.describe(result)
        return [f"{self.title:<6}{self.headline:<16}{self.headline_of(result):>8.4f}"]

    def headline_of(self, result: Mapping[str, Any]) -> float:
        """The task's score in a metric result: the per-video one where it was computed, else the pooled one."""
        if self.per_video_headline is not None and self.per_video_headline in result:
            return float(result[self.per_video_headline])
        return float(result[self.headline])


TASK_REGISTRY: dict[str, Task] = {}


def register_task(task: Task, *, replace: bool = False) -> Task:
    """Make ``task`` known to everything that iterates over tasks; returns it."""
    if task.name in TASK_REGISTRY and not replace:
        raise ValueError(f"a task named {task.name!r} is already registered")
    TASK_REGISTRY[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The registered task ``name``; a KeyError that lists the registered ones otherwise."""
    try:
        return TASK_REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; registered: {', '.join(TASK_REGISTRY)}") from None


def tasks_named(names: Iterable[str]) -> tuple[Task, ...]:
    return tuple(get_task(name) for name in names)


def labelled_frames(batch: Mapping[str, torch.Tensor], task: str) -> torch.Tensor:
    """(B,) bool: the frames of a batch that carry a label of ``task`` (any of its columns)."""
    mask = batch[f"{task}_mask"]
    return mask if mask.ndim == 1 else mask.any(dim=1)


def task_losses(outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor], tasks: Iterable[str],
                choices: Mapping[str, str] | None = None) -> dict[str, torch.Tensor]:
    """The supervised loss of each task on a batch, over the entries its mask marks labelled.

    Args:
        choices: task -> the name of the supervised loss to use among the task's (default: its first).
    """
    choices = choices or {}
    result = {}
    for task in tasks_named(tasks):
        loss = task.supervised_losses[choices.get(task.name, task.default_loss)]
        result[task.name] = loss(outputs[task.name], batch[task.name], batch[f"{task.name}_mask"])
    return result


def score_tasks(predictions: Mapping[str, np.ndarray], targets: Mapping[str, np.ndarray],
                videos: np.ndarray | None = None, options: Mapping[str, Mapping[str, Any]] | None = None,
                video_score: str = "pooled") -> dict[str, dict]:
    """The metric of each task over every row given: the one scoring of validation and ``abaw-eval``.

    Args:
        predictions: task -> (N, width) predictions as a predictions file holds them, row for row with
        targets: task -> its labels (:meth:`Task.targets`).
        videos: (N,) the video of each row; needed with ``video_score="per_video"``.
        options: task -> keyword options of its metric (AU ``thresholds``).
        video_score: "pooled" (ABAW: each metric over all rows at once) or "per_video" (also each video on its
            own, averaged over videos, for the tasks whose metric can: AVEC's convention; the pooled score is
            still reported, each labelled, and the per-video one becomes the task's headline).

    Returns:
        task -> its metric result, for the tasks whose targets hold labels it can score; the others are left
        out (the caller says why, if it must).
    """
    if video_score not in ("pooled", "per_video"):
        raise ValueError(f"video_score {video_score!r}: choose pooled or per_video")
    results = {}
    for name, pred in predictions.items():
        task, target = get_task(name), targets[name]
        if not task.scorable(target):
            continue
        kwargs = dict((options or {}).get(name, {}))
        if video_score == "per_video" and task.per_video_headline is not None:
            if videos is None:
                raise ValueError("video_score=per_video needs the video of each row")
            kwargs["videos"] = videos
        results[name] = task.metric(pred, target, **kwargs)
    return results


def headline_scores(results: Mapping[str, Any]) -> dict[str, float]:
    """Each scored task's headline score, from :func:`score_tasks`' results (other keys are passed over)."""
    return {name: get_task(name).headline_of(result) for name, result in results.items() if name in TASK_REGISTRY}


# ---- the three ABAW tasks ---------------------------------------------------------------------------------------

def _describe_va(va: dict) -> list[str]:
    lines = [f"{'VA':<6}{'CCC valence':<16}{va['ccc_valence']:>8.4f}{va['n_valence']:>10}",
             f"{'':<6}{'CCC arousal':<16}{va['ccc_arousal']:>8.4f}{va['n_arousal']:>10}",
             f"{'':<6}{'score':<16}{va['score']:>8.4f}"]
    if "score_per_video" in va:
        lines += [f"{'':<6}{'CCC val./video':<16}{va['ccc_valence_per_video']:>8.4f}{va['n_videos_valence']:>10}",
                  f"{'':<6}{'CCC aro./video':<16}{va['ccc_arousal_per_video']:>8.4f}{va['n_videos_arousal']:>10}",
                  f"{'':<6}{'score / video':<16}{va['score_per_video']:>8.4f}"]
    return lines


def _describe_expr(expr: dict) -> list[str]:
    lines = [f"{'EXPR':<6}{'F1 macro (8)':<16}{expr['f1_macro']:>8.4f}{expr['n_frames']:>10}",
             f"{'':<6}{'accuracy':<16}{expr['accuracy']:>8.4f}"]
    return lines + [f"{'':<8}{name:<14}{f1:>8.4f}" for name, f1 in zip(EXPR_CLASSES, expr["f1_per_class"])]


def _describe_au(au: dict) -> list[str]:
    lines = [f"{'AU':<6}{'F1 mean (12)':<16}{au['f1_mean']:>8.4f}{au['n_frames']:>10}"]
    lines += [f"{'':<8}{name:<8}{f1:>6.4f}  thr {t:.2f}"
              for name, f1, t in zip(AU_NAMES, au["f1_per_au"], au["thresholds"])]
    if "thresholds_source" in au:
        lines.append(f"{'':<8}thresholds {au['thresholds_source']}")
    return lines


register_task(Task(
    name="va", title="VA", label_columns=VA_COLUMNS, no_label=VA_IGNORE, label_dtype="float32",
    output_columns=VA_COLUMNS, head_activation="tanh", output="value", value_range=(-1.0, 1.0),
    supervised_losses={"ccc": losses.ccc_loss, "mse": losses.masked_mse}, distillation_loss=losses.soft_ccc,
    metric=metrics.va_metrics, headline="score", every_column_scored=True, per_video_headline="score_per_video",
    logged={"ccc_valence": "ccc_valence", "ccc_arousal": "ccc_arousal",
            "ccc_valence_per_video": "ccc_valence_per_video", "ccc_arousal_per_video": "ccc_arousal_per_video"},
    frame_error=losses.squared_error_per_frame, describe=_describe_va))

register_task(Task(
    name="expr", title="EXPR", label_columns=("expr",), no_label=EXPR_IGNORE, label_dtype="int64",
    output_columns=EXPR_CLASSES, output="softmax", value_range=(0.0, 1.0),
    supervised_losses={"ce": losses.masked_cross_entropy}, distillation_loss=losses.soft_cross_entropy,
    metric=metrics.expr_metrics, headline="f1_macro", logged={"expr_f1": "f1_macro"},
    frame_error=losses.cross_entropy_per_frame, entropy=losses.softmax_entropy, describe=_describe_expr))

register_task(Task(
    name="au", title="AU", label_columns=AU_NAMES, no_label=AU_IGNORE, label_dtype="int64",
    output_columns=AU_NAMES, output="sigmoid", value_range=(0.0, 1.0),
    supervised_losses={"bce": losses.masked_bce}, distillation_loss=losses.soft_bce,
    metric=metrics.au_metrics, headline="f1_mean", logged={"au_f1": "f1_mean"},
    frame_error=losses.bce_per_frame, entropy=losses.sigmoid_entropy,
    search_thresholds=lambda probs, target: {"thresholds": metrics.search_au_thresholds(probs, target)},
    describe=_describe_au))


# ---- BioVid heat pain: one label per sample (a 5.5 s window) ---------------------------------------------------

PAIN_CLASSES = ("BL1", "PA1", "PA2", "PA3", "PA4")  # baseline, then the four calibrated heat levels, in order
PAIN_IGNORE = -1


def _describe_classes(title: str, classes: tuple[str, ...]) -> Callable[[dict], list[str]]:
    def describe(result: dict) -> list[str]:
        lines = [f"{title:<6}{'accuracy':<16}{result['accuracy']:>8.4f}{result['n_samples']:>10}",
                 f"{'':<6}{'F1 macro':<16}{result['f1_macro']:>8.4f}"]
        if len(classes) > 2:
            lines.append(f"{'':<6}{'MAE (classes)':<16}{result['mae']:>8.4f}")
        return lines + [f"{'':<8}{name:<14}{f1:>8.4f}" for name, f1 in zip(classes, result["f1_per_class"])]
    return describe


def _pain_task(name: str, title: str, classes: tuple[str, ...]) -> Task:
    values = tuple(PAIN_CLASSES.index(c) for c in classes)
    return Task(
        name=name, title=title, label_columns=("pain",), no_label=PAIN_IGNORE, label_dtype="int64",
        label_values=values, output_columns=tuple(f"{name}_{c}" for c in classes), granularity=SAMPLE,
        output="softmax", value_range=(0.0, 1.0),
        supervised_losses={"ce": losses.masked_cross_entropy}, distillation_loss=losses.soft_cross_entropy,
        metric=lambda pred, target: metrics.class_metrics(pred, target, len(classes), PAIN_IGNORE),
        headline="accuracy", logged={f"{name}_acc": "accuracy", f"{name}_f1": "f1_macro", f"{name}_mae": "mae"},
        frame_error=losses.cross_entropy_per_frame, entropy=losses.softmax_entropy,
        describe=_describe_classes(title, classes))


# 5-class BL1/PA1-PA4: ordinal, so its mean absolute error in classes is reported beside accuracy and macro F1.
register_task(_pain_task("pain", "PAIN", PAIN_CLASSES))
# BL1 vs PA4, the most reported BioVid task: the same column, PA1-PA3 samples unlabelled for it.
register_task(_pain_task("pain_binary", "PAIN2", ("BL1", "PA4")))
