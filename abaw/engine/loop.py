"""The training loop, shared by teacher, visual-only model and student, on accelerate.

Each epoch: train on the epoch's clips, predict the whole validation split (gathered across processes, the
padding duplicates of distributed sampling dropped), score it with the ABAW metrics, log a row (``metrics.csv``,
redrawn as ``curves.png``, and TensorBoard with ``train.log_with=tensorboard``), keep the best weights, save the
full state for resume, and stop early when the score stops improving.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader

from abaw.config import ExperimentConfig, TrainConfig, save_config, to_dict
from abaw.data.manifest import Manifest
from abaw.datasets import DATASETS
from abaw.engine.checkpoint import TrainState, load_train_state, resume_folder, save_best, save_last
from abaw.engine.data import DATA_REPORT, data_report
from abaw.engine.run_folder import own_run_folder
from abaw.io import atomic_write, write_json
from abaw.plots import write_training_curves
from abaw.progress import progress_bar
from abaw.engine.objectives import task_weights
from abaw.task_registry import OUTPUTS, TASK_REGISTRY, get_task, headline_scores, score_tasks

log = logging.getLogger(__name__)

LOG_EVERY = 10  # steps between progress-bar loss updates
TRACKER_FOLDER = "tensorboard"  # RUN/tensorboard/ holds the TensorBoard event files (train.log_with)


def fit(model: nn.Module, objective, train_loader: DataLoader, val_loader: DataLoader, val_manifest: Manifest,
        config: ExperimentConfig, accelerator: Accelerator) -> TrainState:
    """Train ``model`` with ``objective`` and validate every epoch; resumes from ``RUN/last`` if present.

    ``RUN/data_report.json`` records what the data lacked (:func:`abaw.engine.data.data_report`). The run owns
    its folder while it trains (:func:`abaw.engine.run_folder.own_run_folder`).

    Returns:
        The final training state (best score and epoch, per-epoch history).
    """
    with own_run_folder(config, accelerator):
        return _fit(model, objective, train_loader, val_loader, val_manifest, config, accelerator)


def _fit(model: nn.Module, objective, train_loader: DataLoader, val_loader: DataLoader, val_manifest: Manifest,
         config: ExperimentConfig, accelerator: Accelerator) -> TrainState:
    run_dir = Path(config.train.out_dir)
    if accelerator.is_main_process:
        save_config(config, run_dir / "config.yaml")
        write_json(run_dir / DATA_REPORT, data_report(train_loader.dataset, val_loader.dataset))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay)
    # Defined in single-process steps, before prepare: the prepared scheduler steps once per process each step.
    scheduler = lr_schedule(optimizer, config.train, steps_per_epoch=len(train_loader))
    model, optimizer, train_loader, val_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, val_loader, scheduler)
    objective.to(accelerator.device)

    if config.train.log_with != "none":
        accelerator.init_trackers(TRACKER_FOLDER, config=tracker_config(config))
    state = TrainState()
    folder = resume_folder(run_dir)
    if folder is not None:
        accelerator.load_state(str(folder))
        state = load_train_state(folder)
        accelerator.print(f"resumed {run_dir} at epoch {state.epoch} (best {state.best_score:.4f} "
                          f"at epoch {state.best_epoch})")
    tasks = config.data.tasks
    for epoch in range(state.epoch, config.train.epochs):
        if config.train.early_stop and state.epochs_without_improvement >= config.train.early_stop:
            break
        started = time.perf_counter()
        objective.task_weights = task_weights({t: state.task_stale.get(t, 0) for t in tasks},
                                              config.loss.gamma_rate)
        losses = train_epoch(model, objective, train_loader, optimizer, scheduler, config, accelerator, epoch)
        scores = validate(model, val_loader, val_manifest, tasks, accelerator, video_score_of(val_manifest))
        row = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in losses.items()},
               **flatten(scores), "seconds": round(time.perf_counter() - started, 2)}
        if config.loss.gamma_rate:
            row |= {f"gamma_{t}": round(w, 4) for t, w in objective.task_weights.items()}
        state.history.append(row)
        state.epoch = epoch + 1
        state.update_tasks(headline_scores(scores))  # each task's, for its weight gamma
        if scores["score"] > state.best_score:
            state.best_score, state.best_epoch, state.epochs_without_improvement = scores["score"], epoch + 1, 0
            if accelerator.is_main_process:
                save_best(accelerator.unwrap_model(model), run_dir, {"epoch": epoch + 1, **scores})
        else:
            state.epochs_without_improvement += 1
        if accelerator.is_main_process:
            write_csv(run_dir / "metrics.csv", state.history)
            write_training_curves(state.history, run_dir / "curves.png")
        if config.train.log_with != "none":
            accelerator.log({k: v for k, v in row.items() if isinstance(v, (int, float)) and k != "epoch"},
                            step=epoch + 1)
        save_last(accelerator, run_dir, state)
        accelerator.print(f"epoch {epoch + 1}/{config.train.epochs}: loss {losses['loss']:.4f}  "
                          f"val score {scores['score']:.4f}  ({row['seconds']:.0f} s)")
    if accelerator.is_main_process:
        write_json(run_dir / "train_state.json", asdict(state))
    if config.train.log_with != "none":
        accelerator.end_training()
    return state


def tracker_config(config: ExperimentConfig) -> dict[str, int | float | str | bool]:
    """The resolved config as the flat ``section.key`` scalars that TensorBoard's hyperparameter view takes."""
    return {f"{section}.{key}": value if isinstance(value, (int, float, str, bool)) else str(value)
            for section, fields in to_dict(config).items() if isinstance(fields, dict)
            for key, value in fields.items()}


def epoch_steps(batches: int, train: TrainConfig) -> int:
    """Optimizer steps per epoch: the loader's batches, at most ``train.max_steps`` when that is set."""
    return min(batches, train.max_steps) if train.max_steps else batches


def lr_schedule(optimizer: torch.optim.Optimizer, train: TrainConfig,
                steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``train.warmup_epochs``, then a constant rate or a cosine decay to 0 at the last step.

    Stepped once per optimizer step; with ``train.max_steps`` an epoch is at most that many steps. The schedule's
    name was checked when the config was read (:data:`abaw.config.SCHEDULES`).
    """
    steps_per_epoch = epoch_steps(steps_per_epoch, train)
    total = max(1, steps_per_epoch * train.epochs)
    warmup = round(train.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if train.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_epoch(model: nn.Module, objective, loader: DataLoader, optimizer, scheduler, config: ExperimentConfig,
                accelerator: Accelerator, epoch: int) -> dict[str, float]:
    """One pass over the epoch's clips; returns the mean of each loss part."""
    model.train()
    loader.set_epoch(epoch)
    # Loss parts are summed on the device and read every LOG_EVERY steps (progress bar, NaN check) and at
    # the end: a float() or an isfinite() per step would make every step wait for the GPU.
    sums: dict[str, torch.Tensor] = {}
    steps = 0
    steps_per_epoch = epoch_steps(len(loader), config.train)
    bar = progress_bar(loader, desc=f"epoch {epoch + 1}", unit="batch", leave=False,
                       enabled=accelerator.is_local_main_process)
    for batch in bar:
        objective.progress = (epoch * steps_per_epoch + steps) / max(1, config.train.epochs * steps_per_epoch)
        with accelerator.autocast():
            result = objective(model, batch)
        accelerator.backward(result["loss"])
        if config.train.grad_clip > 0:
            accelerator.clip_grad_norm_(model.parameters(), config.train.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        for key, value in result.items():
            if key != "outputs":
                sums[key] = sums.get(key, 0.0) + value.detach().double()
        steps += 1
        if steps % LOG_EVERY == 0:
            _check_finite(sums, epoch, steps)
            bar.set_postfix(loss=f"{float(sums['loss']) / steps:.4f}")
        if config.train.max_steps and steps >= config.train.max_steps:
            break
    _check_finite(sums, epoch, steps)
    # Every process reports the mean over all processes' steps.
    keys = sorted(sums)
    local = torch.stack([sums[k].to(accelerator.device) for k in keys]
                        + [torch.tensor(float(steps), device=accelerator.device, dtype=torch.float64)])
    totals = accelerator.reduce(local, reduction="sum")
    totals = totals.tolist()
    return {k: totals[i] / max(totals[-1], 1) for i, k in enumerate(keys)}


def _check_finite(sums: dict[str, torch.Tensor], epoch: int, steps: int) -> None:
    """A NaN or infinite loss carries into the running sums; stop before any checkpoint takes it in."""
    if sums and not torch.isfinite(sums["loss"]):
        parts = {k: float(v) for k, v in sums.items()}
        raise FloatingPointError(f"epoch {epoch + 1}: a loss became NaN or infinite by step {steps}; summed "
                                 f"parts: {parts}")


@torch.no_grad()
def predict_rows(model: nn.Module, loader: DataLoader, accelerator: Accelerator,
                 desc: str = "predicting") -> dict[str, np.ndarray]:
    """Outputs for every clip of a (prepared) loader, gathered from all processes in dataset order.

    Returns:
        ``row`` (manifest rows) and each task the model predicts, as a predictions file holds it
        (:func:`task_predictions`): ``va`` (N, 2), ``expr`` (N, 8) probabilities, ``au`` (N, 12) probabilities.
    """
    model.eval()
    parts: dict[str, list[np.ndarray]] = {"row": []}
    for batch in progress_bar(loader, desc=desc, unit="batch", leave=False, enabled=accelerator.is_local_main_process):
        with accelerator.autocast():
            outputs = model(batch)
        gathered = accelerator.gather_for_metrics({"row": batch["row"], **task_predictions(outputs)})
        for key, value in gathered.items():
            parts.setdefault(key, []).append(value.cpu().numpy())
    return {key: np.concatenate(values) for key, values in parts.items()}


def task_predictions(outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's task outputs as a predictions file holds them, each through its task's ``output``
    (``va`` as is, ``expr`` softmax and ``au`` sigmoid probabilities), all float32."""
    return {name: OUTPUTS[task.output](outputs[name]) for name, task in TASK_REGISTRY.items() if name in outputs}


def validate(model: nn.Module, loader: DataLoader, manifest: Manifest, tasks: tuple[str, ...],
             accelerator: Accelerator, video_score: str = "pooled") -> dict:
    """The metrics of the model's predictions over the whole validation split (:func:`score_outputs`)."""
    outputs = predict_rows(model, loader, accelerator, desc="validating")
    return score_outputs(outputs, manifest, tasks, video_score)


def video_score_of(manifest: Manifest) -> str:
    """How the dataset of a manifest's frames scores a split (its registered ``video_score``): "pooled" (ABAW)
    or "per_video" (AVEC: each recording scored alone and averaged; the pooled score is reported too). Frames
    of several datasets with different conventions are pooled."""
    if "dataset" not in manifest.frames:
        return "pooled"
    conventions = {DATASETS[name].video_score for name in manifest.frames["dataset"].unique()}
    return conventions.pop() if len(conventions) == 1 else "pooled"


def score_outputs(outputs: dict[str, np.ndarray], manifest: Manifest, tasks: tuple[str, ...],
                  video_score: str = "pooled") -> dict:
    """Each task's metrics of row-indexed outputs against the manifest's labels (tasks without a label are
    skipped), by :func:`abaw.task_registry.score_tasks`, and ``score``: the sum of the task scores (VA: mean
    CCC; EXPR: macro F1; AU: mean F1 at 0.5), the MTL challenge's P when all three tasks are present."""
    rows = outputs["row"]
    frames = manifest.frames.iloc[rows]
    scores: dict = score_tasks({task: outputs[task] for task in tasks},
                               {task: get_task(task).targets(frames) for task in tasks},
                               videos=frames["video"].to_numpy(), video_score=video_score)
    scores["score"] = sum(headline_scores(scores).values())
    return scores


def flatten(scores: dict) -> dict[str, float]:
    """The numbers of a validation that each task logs (``Task.logged``), and the score, for one CSV row."""
    row = {}
    for name, result in scores.items():
        if name in TASK_REGISTRY:
            row |= {f"val_{column}": result[key] for column, key in get_task(name).logged.items() if key in result}
    row["val_score"] = scores["score"]
    return {k: round(float(v), 6) if isinstance(v, float) and math.isfinite(v) else v for k, v in row.items()}


def write_csv(path: Path, rows: list[dict]) -> None:
    """Write the metrics CSV, one row per epoch, afresh from the training state's history (atomically).

    Rewritten rather than appended: a run killed after writing a row but before saving its state repeats that
    epoch when it resumes, and must not log it twice.
    """
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with atomic_write(path, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
