"""Run folders: the best model's weights (safetensors), the last full training state (accelerate), and the
small JSON that says where training stands.

    RUN/config.yaml            the resolved config
    RUN/metrics.csv            one row per epoch
    RUN/best/model.safetensors the weights of the best validation epoch; best/metrics.json says which
    RUN/last/                  accelerate state (model, optimizer, RNG) + train_state.json, for resume

``best/`` and ``last/`` are written beside their place (``*.partial``) and swapped in as whole folders
(:func:`abaw.io.replace_folder`). Nothing here runs code from a file: weights are safetensors, and accelerate
(1.x) reads the optimizer, scheduler and RNG states with ``torch.load(weights_only=True)``, allowing numpy
arrays and dtypes but no other object. accelerate skips the RNG states silently if that load fails;
``tests/test_resume.py`` would see the resumed run diverge.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from abaw.errors import AbawError
from abaw.io import complete_folder, replace_folder, write_json

BEST = "best"
LAST = "last"
WEIGHTS = "model.safetensors"
PARTIAL = ".partial"  # suffix of a folder being written


class CheckpointError(AbawError):
    """Saved weights that do not fit the model their run's config builds."""


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


def save_best(model: nn.Module, run_dir: Path, metrics: dict) -> None:
    """Save the weights and the validation metrics of a new best epoch.

    Both go to ``best.partial`` and replace ``best`` as a whole, so the weights and ``metrics.json`` always
    describe the same epoch.
    """
    partial, best = Path(run_dir) / f"{BEST}{PARTIAL}", Path(run_dir) / BEST
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(partial / WEIGHTS))
    write_json(partial / "metrics.json", metrics)
    replace_folder(partial, best)


def load_weights(model: nn.Module, run_dir: str | Path, which: str = BEST,
                 new_modules: tuple[str, ...] = ()) -> nn.Module:
    """Load a run's saved weights into a model built from the run's config (safetensors: no code runs).

    Args:
        new_modules: submodules of ``model`` that the run did not have (e.g. ``("pool",)`` when a teacher
            grows a teacher pool); they keep their initialisation. Every other weight must be in the file.
    """
    path = weights_path(run_dir, which)
    try:
        result = model.load_state_dict(read_safetensors(path), strict=not new_modules)
    except RuntimeError as error:  # a tensor of another shape: the weights of another architecture
        raise CheckpointError(f"{path} does not fit the model its run's config.yaml builds: "
                              f"{' '.join(str(error).split())[:300]}") from None
    missing = [k for k in result.missing_keys if not k.startswith(tuple(f"{m}." for m in new_modules))]
    if missing or result.unexpected_keys:
        raise CheckpointError(f"{path} does not fit the model its run's config.yaml builds: missing "
                              f"{missing[:5]}, unexpected {result.unexpected_keys[:5]}")
    return model


def weights_path(run_dir: str | Path, which: str = BEST) -> Path:
    """The weights file of a run's ``best`` or ``last`` checkpoint; an error naming it when there is none."""
    folder = complete_folder(Path(run_dir) / which)
    path = (folder or Path(run_dir) / which) / WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {which} checkpoint in {run_dir}")
    return path


def read_safetensors(path: str | Path) -> dict:
    """The tensors of a safetensors file; a file that is cut short, empty or not safetensors is an error naming
    it."""
    try:
        return load_file(str(path))
    except SafetensorError as error:
        raise CheckpointError(f"{path}: cannot read the weights ({error}); the file is truncated or not a "
                              f"safetensors file: copy it again, or train the run again") from None


def save_last(accelerator, run_dir: Path, state: TrainState) -> None:
    """Save the full training state so that a killed run resumes here.

    Every process writes its part (its RNG state) into ``last.partial``; the main process then adds
    ``train_state.json`` and swaps the folder in whole (:func:`abaw.io.replace_folder`), so a crash never
    leaves a half-written ``last`` that looks whole.
    """
    run_dir = Path(run_dir)
    partial = run_dir / f"{LAST}{PARTIAL}"
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(partial / "train_state.json", asdict(state))
        replace_folder(partial, run_dir / LAST)
    accelerator.wait_for_everyone()


def resume_folder(run_dir: Path) -> Path | None:
    """The last complete training state of a run, if any."""
    folder = complete_folder(Path(run_dir) / LAST)
    return folder if folder is not None and (folder / "train_state.json").is_file() else None


def load_train_state(folder: Path) -> TrainState:
    data = json.loads((folder / "train_state.json").read_text())
    return TrainState(**data)

