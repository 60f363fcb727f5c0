"""``abaw-eval --plots DIR``: what the scores hide, as PNG files.

    va_<video>.png       predicted and annotated valence and arousal over the frames of a validation video
                         (the ``VA_VIDEOS`` videos with the most labelled frames)
    expr_confusion.png   the expression confusion matrix, each row (annotated class) normalised to 1
    au_f1.png            the F1 of each action unit at its threshold, with the mean

and, for every training run, ``RUN/curves.png`` (:func:`write_training_curves`): each part of the training loss
and each validation metric per epoch.

Figures are drawn with matplotlib's object API (no pyplot: no global state, no display needed) at fixed
sizes, and written atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from abaw import metrics
from abaw.data.manifest import Manifest
from abaw.io import atomic_path
from abaw.prediction_files import prediction_files, read_predictions, task_values
from abaw.task_registry import get_task
from abaw.tasks import AU_NAMES, EXPR_CLASSES

VA_VIDEOS = 3
DPI = 100
SIZES = {"va": (10, 5), "expr": (7, 6), "au": (9, 4), "curves": (12, 4.5)}  # inches; times DPI gives the PNG's pixels


def write_plots(pred_dir: Path, manifest: Manifest, results: dict, out_dir: Path) -> list[Path]:
    """Draw the plots of the tasks that ``results`` (from :func:`abaw.evaluate.evaluate`) scored and that have
    plots (:data:`TASK_PLOTS`).

    Args:
        pred_dir: the predictions directory that was scored.
        manifest: the split's frames and labels that it was scored against.
        results: the scores; the confusion matrix and per-AU F1s are drawn from them.
        out_dir: the folder to write the PNG files into (created if needed).

    Returns:
        The files written.
    """
    out_dir = Path(out_dir)
    written = []
    for task, result in results.items():
        if task in TASK_PLOTS:
            for name, figure in TASK_PLOTS[task](pred_dir, manifest, result):
                written.append(_save(figure, out_dir / name))
    return written


def _va_plots(pred_dir: Path, manifest: Manifest, result: dict) -> list[tuple[str, Figure]]:
    files = prediction_files(pred_dir)
    return [(f"va_{video}.png", plot_va(video, manifest, files[video])) for video in va_videos(manifest, VA_VIDEOS)]


def _expr_plots(pred_dir: Path, manifest: Manifest, result: dict) -> list[tuple[str, Figure]]:
    return [("expr_confusion.png", plot_confusion(np.asarray(result["confusion"])))]


def _au_plots(pred_dir: Path, manifest: Manifest, result: dict) -> list[tuple[str, Figure]]:
    return [("au_f1.png", plot_au_f1(result))]


def va_videos(manifest: Manifest, count: int) -> list[str]:
    """The ``count`` videos with the most frames labelled for both valence and arousal (ties by name)."""
    va = get_task("va")
    labelled = va.labelled(va.targets(manifest.frames)).all(axis=1)
    per_video = manifest.frames.loc[labelled, "video"].value_counts()
    per_video = per_video[per_video > 0]
    return sorted(per_video.index, key=lambda video: (-per_video[video], video))[:count]


def plot_va(video: str, manifest: Manifest, pred_file: Path) -> Figure:
    """Valence and arousal of one video over its frames: the annotation (gaps where unlabelled), the
    prediction, and their CCC on this video alone."""
    rows = np.flatnonzero(manifest.frames["video"].to_numpy() == video)
    frames = manifest.frames["frame"].to_numpy()[rows]
    table = read_predictions(pred_file)
    position = np.searchsorted(table["frame"].to_numpy(), frames)
    predicted = task_values(table, "va")[position]
    va = get_task("va")
    truth = va.targets(manifest.frames.iloc[rows]).astype(np.float64)
    truth[~va.labelled(truth)] = np.nan
    figure = Figure(figsize=SIZES["va"], dpi=DPI, layout="constrained")
    axes = figure.subplots(2, 1, sharex=True)
    for k, (ax, name) in enumerate(zip(axes, ("valence", "arousal"))):
        ax.plot(frames, truth[:, k], color="black", linewidth=1.5, label="annotation")
        ax.plot(frames, predicted[:, k], color="tab:orange", linewidth=1.0, label="prediction")
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel(name)
        labelled = ~np.isnan(truth[:, k])
        if labelled.sum() > 1:
            ax.set_title(f"{name}: CCC {metrics.ccc(predicted[labelled, k], truth[labelled, k]):.3f} on this video",
                         fontsize=9, loc="left")
        ax.axhline(0, color="grey", linewidth=0.5)
    axes[0].legend(loc="upper right")
    figure.suptitle(f"{video}: valence and arousal")
    axes[1].set_xlabel("frame")
    return figure


def plot_confusion(confusion: np.ndarray) -> Figure:
    """The 8 x 8 expression confusion matrix (rows: annotated class; columns: predicted), each row normalised,
    with its share and count in each cell."""
    totals = confusion.sum(axis=1, keepdims=True)
    share = confusion / np.maximum(totals, 1)
    figure = Figure(figsize=SIZES["expr"], dpi=DPI, layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=ax, label="share of the annotated class")
    n = len(EXPR_CLASSES)
    ax.set_xticks(range(n), EXPR_CLASSES, rotation=45, ha="right")
    ax.set_yticks(range(n), [f"{name} ({int(t)})" for name, t in zip(EXPR_CLASSES, totals[:, 0])])
    for i in range(n):
        for j in range(n):
            if confusion[i, j]:
                ax.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("annotated (frames)")
    ax.set_title("expression confusion matrix")
    return figure


def plot_au_f1(au: dict) -> Figure:
    """One bar per action unit: its F1 at its threshold; the dashed line is the mean F1 (the AU score)."""
    f1 = np.asarray(au["f1_per_au"])
    figure = Figure(figsize=SIZES["au"], dpi=DPI, layout="constrained")
    ax = figure.subplots()
    bars = ax.bar(AU_NAMES, f1, color="tab:blue")
    ax.bar_label(bars, [f"thr {t:.2f}" for t in au["thresholds"]], fontsize=7)
    ax.axhline(au["f1_mean"], color="black", linestyle="--", linewidth=1, label=f"mean F1 {au['f1_mean']:.3f}")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.set_title("F1 per action unit")
    ax.legend(loc="upper right")
    return figure


# Task name -> its plots: (predictions directory, manifest, the task's metric result) -> [(file name, figure)].
# A task without an entry is scored without plots.
TASK_PLOTS: dict[str, Callable[[Path, Manifest, dict], list[tuple[str, Figure]]]] = {
    "va": _va_plots, "expr": _expr_plots, "au": _au_plots}


def write_training_curves(history: list[dict], path: Path) -> Path:
    """``curves.png`` of a run: the training loss and each of its parts (left; log scale, as the parts differ
    by orders of magnitude) and the validation metrics (right), per epoch, from ``metrics.csv``'s rows."""
    epochs = [row["epoch"] for row in history]
    figure = Figure(figsize=SIZES["curves"], dpi=DPI, layout="constrained")
    losses, scores = figure.subplots(1, 2)
    for key in dict.fromkeys(k for row in history for k in row):
        values = np.array([row.get(key, np.nan) for row in history], dtype=float)
        if key.startswith("train_") and np.all(values[np.isfinite(values)] > 0):
            losses.plot(epochs, values, marker="o", lw=2.5 if key == "train_loss" else 1.2,
                        label=key.removeprefix("train_"))
        elif key.startswith("val_"):
            scores.plot(epochs, values, marker="o", lw=2.5 if key == "val_score" else 1.2,
                        label=key.removeprefix("val_"))
    losses.set(title="training loss (mean over the epoch's steps)", xlabel="epoch", yscale="log")
    scores.set(title="validation (pooled over the split)", xlabel="epoch")
    scores.axhline(0, color="grey", lw=0.5)
    for axes in (losses, scores):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return _save(figure, path)


def _save(figure: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path
