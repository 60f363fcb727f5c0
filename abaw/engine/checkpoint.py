"""Run folders: the best model's weights (safetensors), the last full training state (accelerate), and the
small JSON that says where training stands.

    RUN/config.yaml            the resolved config
    RUN/metrics.csv            one row per epoch
    RUN/best/model.safetensors the weights of the best validation epoch; best/metrics.json says which
    RUN/last/                  accelerate state (model, optimizer, RNG) + train_state.json, for resume
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

BEST = "best"
LAST = "last"
WEIGHTS = "model.safetensors"


@dataclass
class TrainState:
    """Where training stands: the next epoch to run, the best score so far and when it was reached, and per
    task its best validation score and the epochs since it improved (for the dynamic task weights)."""

    epoch: int = 0
    best_score: float = float("-inf")
    best_epoch: int = -1
    epochs_without_improvement: int = 0
    history: list[dict] = field(default_factory=list)
    task_best: dict[str, float] = field(default_factory=dict)
    task_stale: dict[str, int] = field(default_factory=dict)

    def update_tasks(self, task_scores: dict[str, float]) -> None:
        """Count, per task, the epochs since its validation score last improved (a first score improves)."""
        for task, score in task_scores.items():
            if score > self.task_best.get(task, float("-inf")):
                self.task_best[task], self.task_stale[task] = score, 0
            else:
                self.task_stale[task] = self.task_stale.get(task, 0) + 1


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def save_best(model: nn.Module, run_dir: Path, metrics: dict) -> None:
    """Save the weights and the validation metrics of a new best epoch."""
    folder = Path(run_dir) / BEST
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = folder / f".{WEIGHTS}.tmp"
    save_file(state, str(tmp))
    os.replace(tmp, folder / WEIGHTS)
    write_json(folder / "metrics.json", metrics)


def load_weights(model: nn.Module, run_dir: str | Path, which: str = BEST) -> nn.Module:
    """Load a run's saved weights into a model built from the run's config (safetensors: no code runs)."""
    path = Path(run_dir) / which / WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {which} checkpoint in {run_dir}")
    model.load_state_dict(load_file(str(path)))
    return model


def save_last(accelerator, run_dir: Path, state: TrainState) -> None:
    """Save the full training state so that a killed run resumes here.

    Written to ``last.partial`` first and swapped in by renames, so a crash never leaves a half-written
    ``last`` that looks whole; ``resume_folder`` falls back to ``last.old`` in the moment between renames.
    """
    run_dir = Path(run_dir)
    partial, last, old = run_dir / f"{LAST}.partial", run_dir / LAST, run_dir / f"{LAST}.old"
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    if accelerator.is_main_process:
        write_json(partial / "train_state.json", asdict(state))
        shutil.rmtree(old, ignore_errors=True)
        if last.exists():
            last.rename(old)
        partial.rename(last)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def resume_folder(run_dir: Path) -> Path | None:
    """The last complete training state of a run, if any."""
    for name in (LAST, f"{LAST}.old"):
        folder = Path(run_dir) / name
        if (folder / "train_state.json").is_file():
            return folder
    return None


def load_train_state(folder: Path) -> TrainState:
    data = json.loads((folder / "train_state.json").read_text())
    return TrainState(**data)

